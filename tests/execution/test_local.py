from __future__ import annotations

import pytest
from test_executors import work as _work  # one per-case function for both files

from lesiontrials.execution import run_cases


@pytest.mark.parametrize("workers", [1, 2])
def test_outcomes_in_item_order_with_reasons(workers):
    items = ["a", "bad", "b", "boom", "done-already", "c"]
    outcomes = run_cases(_work, items, keys=items, workers=workers, show_progress=False)
    assert [o.key for o in outcomes] == items
    assert [o.status for o in outcomes] == ["done", "failed", "done", "failed", "skipped", "done"]
    assert "masks/x.nii.gz" in outcomes[1].reason and "Fix:" in outcomes[1].reason
    assert outcomes[3].reason.startswith("unexpected error: RuntimeError")


def test_results_do_not_depend_on_worker_count():
    items = [f"case-{i}" for i in range(8)]
    one = run_cases(_work, items, keys=items, workers=1, show_progress=False)
    two = run_cases(_work, items, keys=items, workers=2, show_progress=False)
    assert [o.result for o in one] == [o.result for o in two]


def test_progress_piped_to_a_file_keeps_each_line_whole(tmp_path):
    """The command line's progress reporter (library calls print only through one), printed
    to a file (not a terminal), is not laid out for 80 columns: a long stage name, the
    executor and the counts stay on one line, and the executor's "[in-process]" is not
    eaten as rich markup."""
    import subprocess
    import sys

    stage = "render a_stage_name_long_enough_to_overflow_eighty_columns_on_its_own_xxxxxxxx"
    script = ("from lesiontrials.cli.console import RichReporter\n"
              "from lesiontrials.execution.local import run_cases\n"
              f"run_cases(abs, [1, -2, 3], keys=['a', 'b', 'c'], description={stage!r}, "
              "reporter=RichReporter())\n")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("COLUMNS", "LINES")}
    log = tmp_path / "out.log"
    with log.open("w") as out:
        subprocess.run([sys.executable, "-c", script], stdout=out, stderr=subprocess.STDOUT,
                       env=env, check=True)
    lines = log.read_text().splitlines()
    bar = [line for line in lines if "━" in line]
    assert bar and all(f"{stage} [in-process]" in line and "3/3" in line for line in bar), lines
    (summary,) = [line for line in lines if " done, " in line]
    assert summary.startswith(f"{stage} [in-process]: 3 done, 0 failed") and "CPU" in summary
