"""The command line's rich consoles: a terminal keeps rich's layout; piped or redirected
output (a log file, CI) is never wrapped or cut (:mod:`lesiontrials.execution.console`,
shared with the library's progress displays)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console

from lesiontrials.execution.console import PLAIN_WIDTH, model_label, output_console

__all__ = ["PLAIN_WIDTH", "RichReporter", "make_console", "model_label", "print_headlines", "stage"]


def make_console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that never wraps or cuts when not a terminal."""
    return output_console(stderr=stderr)


def stage(console: Console, title: str) -> None:
    """A stage heading: a rule on a terminal, a short plain line in a log."""
    if console.is_terminal:
        from rich.rule import Rule

        console.print(Rule(title))
    else:
        console.print(f"== {title} ==", markup=False, highlight=False)


def print_headlines(console: Console, report_html: str | object) -> None:
    """The report's headline accuracies (from its summary.json) and where to go next."""
    import json
    from pathlib import Path

    path = Path(str(report_html))
    summary = path.parent / "summary.json"
    lines = json.loads(summary.read_text()).get("headlines", []) if summary.is_file() else []
    for line in lines:
        console.print(line.replace("**", ""), markup=False, highlight=False)
    console.print(f"report: {path} (Markdown: {path.with_suffix('.md')})", markup=False,
                  highlight=False)


class RichReporter:
    """The command line's progress reporter: a rich bar per task and plain summary lines,
    on a :func:`make_console` console (so piped output is never wrapped or cut).

    Library calls report to it only when the CLI passes it
    (:class:`~lesiontrials.execution.progress.ProgressReporter`).
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or make_console()
        self._bar: object | None = None
        self._open = 0

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """A rich progress bar for ``total`` items; yields its ``advance(n)``. Tasks open at
        the same time share one live display (rich allows only one)."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if self._bar is None:
            self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 TimeRemainingColumn(), console=self.console)
            self._bar.start()
        bar: Progress = self._bar  # type: ignore[assignment]
        self._open += 1
        try:
            from rich.markup import escape  # "[local]" is text, not a style tag

            task_id = bar.add_task(escape(description), total=total)
            yield lambda n: bar.advance(task_id, n)
        finally:
            self._open -= 1
            if self._open == 0:
                bar.stop()
                self._bar = None

    def message(self, text: str) -> None:
        """One plain line (no markup, no highlighting)."""
        self.console.print(text, markup=False, highlight=False)
