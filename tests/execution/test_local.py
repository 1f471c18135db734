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
