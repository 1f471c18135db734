"""Lobe capacity at planning: a donor too large for its planned lobe is moved (seeded,
recorded) to a lobe or host that holds it, instead of failing at insertion as ``no_fit``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lesiontrials import anatomy
from lesiontrials.io import Volume, VolumeKind, write_volume
from lesiontrials.trials import PlanContext, parse_spec, plan_spec
from lesiontrials.trials.capacity import lobe_capacity_mm

SPACING = (1.5, 1.5, 2.0)


def _lobes(side_mm: dict[str, float]) -> np.ndarray:
    """A 240 × 240 × 240 mm label map with one cubic lobe per entry (cube side in mm)."""
    shape = tuple(int(240 / s) for s in SPACING)
    labels = np.zeros(shape, dtype=np.uint8)
    for k, (lobe, side) in enumerate(side_mm.items()):
        centre = np.array([40.0 + 40.0 * (k % 5), 60.0 + 100.0 * (k // 5 % 2), 120.0])
        lo = [round((c - side / 2) / s) for c, s in zip(centre, SPACING, strict=True)]
        hi = [round((c + side / 2) / s) for c, s in zip(centre, SPACING, strict=True)]
        labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = anatomy.parse_lobe(lobe).label_id
    return labels


def test_the_capacity_is_a_ball_the_lobe_surely_holds():
    sides = {"RUL": 36.0, "RML": 18.0, "RLL": 30.0, "LUL": 24.0, "LLL": 12.0}
    capacity = lobe_capacity_mm(_lobes(sides), SPACING)
    assert set(capacity) == {anatomy.parse_lobe(k).value for k in sides}
    for lobe, side in sides.items():
        held = capacity[anatomy.parse_lobe(lobe).value]
        assert side - 8.0 <= held <= side  # conservative, within the sampling's bound


@pytest.fixture(scope="module")
def small_world(plan_ctx, tmp_path_factory) -> PlanContext:
    """The planning context's donors with two phantom-like hosts: one whose lobes all hold
    ≤ 20 mm, one whose lobes hold ~40 mm."""
    root = tmp_path_factory.mktemp("capacity-world")
    rows = []
    all_lobes = [lobe.name for lobe in anatomy.Lobe]
    for ct_id, side in (("SMALL", 22.0), ("LARGE", 46.0)):
        rel = f"masks/PH/refined_seg/{ct_id}_seg.nii.gz"
        affine = np.diag([*SPACING, 1.0])
        write_volume(root / rel, Volume(_lobes(dict.fromkeys(all_lobes, side)), affine),
                     kind=VolumeKind.LABELS)
        rows.append({"host_dataset": "PH", "host_ct_id": ct_id, "host_patient_id": f"P-{ct_id}",
                     "host_seg_path": rel, "host_ct_path": "", "age": 60.0, "sex": "F",
                     "smoking_status": "former", "pack_years": 30.0})
    return PlanContext(plan_ctx.index, pd.DataFrame(rows), data_root=root)


def _spec():
    return parse_spec({"name": "big", "n_cases": 16, "hosts": {"include": ["PH"]},
                       "appearance": "render every donor as a 30 mm solid nodule",
                       "scaling": {"bounds": [0.25, 4.0]}})


def _fits(ctx: PlanContext, manifest: pd.DataFrame) -> np.ndarray:
    rows = manifest[~manifest["nodule_free"]]
    host_row = {c: i for i, c in enumerate(ctx.host_array("host_ct_id"))}
    return np.array([ctx.lobe_capacity(host_row[h])[lobe] >= d for h, lobe, d in zip(
        rows["host_ct_id"], rows["target_lobe"], rows["planned_diameter_mm"], strict=True)])


def test_a_donor_too_large_for_its_lobe_is_moved_to_a_host_that_holds_it(small_world):
    unchecked = PlanContext(small_world.index, small_world.hosts)  # no data root: as before
    before = plan_spec(unchecked, _spec()).manifest
    assert (before["host_ct_id"] == "SMALL").any()
    assert not _fits(small_world, before).all()  # insertion would fail these as no_fit

    plan = plan_spec(small_world, _spec())
    manifest = plan.manifest
    assert _fits(small_world, manifest).all()
    assert (manifest.loc[~manifest["nodule_free"], "host_ct_id"] == "LARGE").all()
    moved = [w for c in plan.info["cohorts"] for w in c["warnings"]
             if w.startswith("lobe_capacity:")]
    assert len(moved) == int((before.loc[~before["nodule_free"], "host_ct_id"]
                              == "SMALL").sum())
    assert all("PH/SMALL" in w and "PH/LARGE" in w for w in moved)
    again = plan_spec(small_world, _spec()).manifest  # seeded: the same moves
    pd.testing.assert_frame_equal(manifest, again)
    # a case that needed no move keeps its plan
    kept = before["host_ct_id"] == "LARGE"
    pd.testing.assert_frame_equal(before[kept], manifest[kept])


def test_a_nodule_no_host_holds_stays_and_is_recorded(small_world):
    spec = parse_spec({"name": "huge", "n_cases": 4, "hosts": {"include": ["PH"]},
                       "appearance": "render every donor as a 60 mm solid nodule",
                       "scaling": {"bounds": [0.25, 5.0]}})
    plan = plan_spec(small_world, spec)
    warnings = [w for c in plan.info["cohorts"] for w in c["warnings"]]
    kept = [w for w in warnings if "no eligible host has a lobe that holds it" in w]
    assert len(kept) == int((~plan.manifest["nodule_free"]).sum()) > 0
