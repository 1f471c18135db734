"""Library calls print nothing; progress goes only to a reporter the caller passes, and the
command line's reporter never wraps its lines when piped."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

from lesiontrials.execution import (
    InProcessExecutor,
    LocalPoolExecutor,
    run_cases,
    use_reporter,
)


def _double(x: int) -> int:
    return 2 * x


class Recorder:
    """A reporter that remembers what it was told."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, int]] = []
        self.advanced = 0
        self.messages: list[str] = []

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        self.tasks.append((description, total))

        def advance(n: int) -> None:
            self.advanced += n

        yield advance

    def message(self, text: str) -> None:
        self.messages.append(text)


def test_run_cases_prints_nothing_without_a_reporter(capfd):
    for executor in (InProcessExecutor(), LocalPoolExecutor(workers=2)):
        outcomes = run_cases(_double, [1, 2, 3], keys=["a", "b", "c"], executor=executor,
                             description="double")
        assert [o.result for o in outcomes] == [2, 4, 6]
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_passed_or_active_reporter_gets_the_task_advances_and_summary(capfd):
    passed, active = Recorder(), Recorder()
    run_cases(_double, [1, 2, 3], keys=["a", "b", "c"], description="double",
              reporter=passed)
    assert passed.tasks == [("double [in-process]", 3)] and passed.advanced == 3
    assert len(passed.messages) == 1 and passed.messages[0].startswith(
        "double [in-process]: 3 done, 0 failed, 0 skipped of 3")
    with use_reporter(active):
        run_cases(_double, [1], keys=["a"], description="inner")
        with use_reporter(None):  # a library call inside a CLI block stays silent
            run_cases(_double, [1], keys=["b"], description="silenced")
        run_cases(_double, [1], keys=["c"], description="hidden", show_progress=False)
    assert [t[0] for t in active.tasks] == ["inner [in-process]"]
    assert capfd.readouterr().out == ""


def test_the_cli_reporter_keeps_long_lines_whole_when_piped():
    description = "a stage with a long description " * 4
    code = ("from lesiontrials.cli.console import RichReporter\n"
            "from lesiontrials.execution import run_cases\n"
            f"run_cases(abs, [-1, -2], keys=['a', 'b'], description={description!r}, "
            "reporter=RichReporter())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    summary = [line for line in done.stdout.splitlines() if "2 done" in line]
    assert len(summary) == 1 and summary[0].startswith(description), done.stdout
    assert len(summary[0]) > 80  # longer than rich's width off a terminal, yet one line
