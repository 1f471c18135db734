"""The calibration bench runs and prints the keys a script reads (smoke test)."""

from __future__ import annotations

import importlib.util
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
    assert records[0]["judged_by_coverage_accuracy_cases12_acc97"] == "window_mean"
    assert records[0]["judged_by_coverage_accuracy_cases12_acc70"] == "pointwise"
    assert records[0]["judged_by_coverage_accuracy_crossed_acc97"] == "pointwise"
    assert "parametric-bootstrap bias" in records[0]["decomposition_interval"]
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


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_stat_calibration", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cells_whose_band_no_interval_can_reach_are_judged_by_the_window_mean():
    """36 independent items at accuracy 0.97: every non-randomised interval covers one of
    P(errors ≤ k) = 0.907, 0.978, … — none in [0.93, 0.97]; 45 items can (0.954)."""
    bench = _bench_module()
    inside, straddle = bench.pointwise_attainable(36, 0.97)
    assert not inside and straddle == [0.9072, 0.9778]
    assert not bench.pointwise_attainable(15, 0.97)[0]
    assert bench.pointwise_attainable(45, 0.97)[0]
    assert bench.pointwise_attainable(36, 0.70)[0]
    rule = bench._judging_rule("coverage_accuracy_cases12_acc97", 36, 0.97)
    assert rule["judged_by_coverage_accuracy_cases12_acc97"] == "window_mean"
