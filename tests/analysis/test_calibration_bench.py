"""The calibration bench runs and prints the keys a script reads (smoke test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_stat_calibration.py"


@pytest.mark.slow
def test_bench_prints_one_json_object_per_design_with_the_named_keys():
    done = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, check=True, timeout=900)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["design"] for r in records] == ["demo", "paper"]
    for record in records:
        assert 0.0 <= record["null_wrong_verdict_rate_zero_shares"] <= 1.0
        assert 0.0 <= record["null_wrong_verdict_rate_equal_shares"] <= 1.0
        assert any(k.startswith("coverage_accuracy_") for k in record)
        assert all(isinstance(v, (int, float)) for k, v in record.items()
                   if k.startswith(("null_wrong_verdict_rate_", "power_paper_", "coverage_")))
        assert record["variance_ratio_donor_share_equal_shares"] > 0.0
        assert record["variance_ratio_host_share_donor_driven"] > 0.0
    assert "power_paper_donor_driven" in records[1]
    assert not any(k.startswith("power_paper_") for k in records[0])


def test_window_part_lists_coverage_per_true_accuracy():
    """``--part window``: the accuracy-0.97 cells' coverage at each true accuracy of the
    window, for the design interval and the independent-items Wilson reference."""
    done = subprocess.run([sys.executable, str(BENCH), "--design", "demo", "--part", "window",
                           "--accuracy-sims", "5", "--accuracy-replicates", "50"],
                          capture_output=True, text=True, check=True, timeout=300)
    record = json.loads(done.stdout.splitlines()[0])
    truths = record["window_truths"]
    assert truths[0] < 0.97 < truths[-1]
    for cell in ("cases12", "crossed"):
        per_truth = record[f"window_coverage_accuracy_{cell}"]
        assert len(per_truth) == len(truths) and all(0.0 <= v <= 1.0 for v in per_truth)
        assert record[f"window_mean_coverage_accuracy_{cell}"] == pytest.approx(
            sum(per_truth) / len(per_truth), abs=1e-4)
    assert not any(k.startswith("coverage_") for k in record)
