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
    assert "power_paper_donor_driven" in records[1]
    assert not any(k.startswith("power_paper_") for k in records[0])
