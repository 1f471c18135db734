"""The analytic renderer against the three real chest CTs of the embedded world (issue 6):
HU histogram intersection > 0.80 inside the body and inside the lungs."""

from __future__ import annotations

from pathlib import Path

import pytest

from lesiontrials.paths import DataRoot
from lesiontrials.render.fidelity.real_fidelity import real_host_fidelity
from lesiontrials.settings import load_settings


@pytest.mark.slow  # builds the three real hosts (≈ 20 s) and renders each twice
def test_real_hosts_rendered_within_the_fidelity_target(tmp_path: Path) -> None:
    from lesiontrials.world.hosts import build_real_hosts
    from lesiontrials.world.packaged import PackagedDataError

    root = DataRoot(tmp_path / "root")
    try:
        build_real_hosts(root, cache_dir=load_settings().cache_dir)
    except PackagedDataError as exc:
        pytest.skip(f"packaged real CTs not available: {exc}")
    rows = real_host_fidelity(root, seeds=(0, 1))
    assert {row["host"] for row in rows} == {"REALCT_lung1", "REALCT_lung2", "REALCT_chest1"}
    for row in rows:
        # chest1 (contrast-enhanced, 1.5 mm slices) measures -793 HU: enhanced small vessels
        assert row["host_facts"]["lung_density_hu"] < -780.0
        assert row["body"] > 0.80 and row["lungs"] > 0.80, row
