"""Repeat scans: a round-1 case re-inserts its prior's nodule at the same world-mm centre,
grown by the planned factor, and records prior/current sizes (insert.json ``growth``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import World, row, write_manifest
from lesiontrials.insert import insert_trial
from lesiontrials.io import parse_record, read_json, read_volume
from lesiontrials.paths import Workspace
from lesiontrials.records.insert import InsertRecord
from lesiontrials.scoring.questions.truth import case_from_insert
from lesiontrials.testing import assert_same_outputs

YEAR_DAYS = 365.25


def _rows(factor: float, *, prior_fails: bool = False) -> list[dict]:
    first = row("t1-00000", round=0, scale=1.0)
    if prior_fails:
        first.update(target_lobe="left_lung_lower_lobe", host_seg_path="masks/PH/refined_seg/"
                     "NOLOBES_seg.nii.gz", host_ct_id="NOLOBES")
    d0 = first["planned_diameter_mm"]
    repeat = row("t1-00001", round=1, placement="repeat", scale=factor,
                 planned_diameter_mm=d0 * factor, prior_case_uid="t1-00000",
                 interval_days=YEAR_DAYS, growth_model="malignant_solid", vdt_days=200.0,
                 growth_factor=factor, host_seg_path=first["host_seg_path"],
                 host_ct_id=first["host_ct_id"])
    return [first, repeat]


def _record(ws: Workspace, uid: str) -> InsertRecord:
    path = ws.case_dir("t1", uid) / "insert.json"
    return parse_record(read_json(path), InsertRecord, where=path)


@pytest.mark.parametrize("factor", [1.0, 1.35])
def test_repeat_scan_keeps_host_and_centre_and_grows_by_the_plan(tmp_path, world: World,
                                                                 factor: float):
    ws = Workspace(tmp_path / "ws")
    write_manifest(ws, _rows(factor))
    summary = insert_trial("t1", workspace=ws, data_root=world.root, show_progress=False)
    assert summary["status"] == {"done": 2, "failed": 0}
    prior, current = _record(ws, "t1-00000"), _record(ws, "t1-00001")
    assert current.host == prior.host
    assert current.prior is not None and current.prior.case_uid == "t1-00000"
    assert current.prior.interval_days == pytest.approx(YEAR_DAYS)
    p, c = prior.nodules[0].realised, current.nodules[0].realised
    spacing = np.asarray(current.host.spacing_mm)
    # same world-mm centre, within half a voxel per axis
    assert np.all(np.abs(np.subtract(c.centroid_mm, p.centroid_mm)) <= spacing / 2)
    # grown diameter = prior realised diameter x the planned factor, within half a voxel
    assert abs(c.equivalent_diameter_mm - factor * p.equivalent_diameter_mm) <= spacing.max() / 2
    growth = current.nodules[0].growth
    assert growth is not None and growth.status == "repeat"
    assert growth.prior_diameter_mm == pytest.approx(p.equivalent_diameter_mm)
    assert growth.diameter_change_mm == pytest.approx(
        c.equivalent_diameter_mm - p.equivalent_diameter_mm)
    assert growth.volume_ratio == pytest.approx(c.volume_mm3 / p.volume_mm3)
    if factor == 1.0:  # a stable nodule is the same mask, voxel for voxel
        a = read_volume(ws.case_dir("t1", "t1-00000") / "nodule_0.nii.gz")
        b = read_volume(ws.case_dir("t1", "t1-00001") / "nodule_0.nii.gz")
        assert np.array_equal(a.array, b.array) and np.allclose(a.affine, b.affine)
    assert prior.prior is None and prior.nodules[0].growth is None
    # the question bank's truth reads the same growth from the record
    truth = case_from_insert(current.to_json_dict())
    assert truth.prior_case_uid == "t1-00000" and truth.nodules[0].status == "repeat"
    assert truth.nodules[0].diameter_change_mm == pytest.approx(growth.diameter_change_mm)


def test_a_failed_prior_fails_the_repeat_scan_with_that_reason(tmp_path, world: World):
    ws = Workspace(tmp_path / "ws")
    write_manifest(ws, _rows(1.2, prior_fails=True))
    summary = insert_trial("t1", workspace=ws, data_root=world.root, show_progress=False)
    assert summary["status"] == {"done": 0, "failed": 2}
    current = _record(ws, "t1-00001")
    assert current.reason_code == "prior_failed" and "t1-00000" in current.reason


def test_version_one_insert_records_are_refused(tmp_path, world: World):
    ws = Workspace(tmp_path / "ws")
    write_manifest(ws, _rows(1.0))
    insert_trial("t1", workspace=ws, data_root=world.root, show_progress=False)
    path = ws.case_dir("t1", "t1-00000") / "insert.json"
    old = {**read_json(path), "schema_version": 1}
    with pytest.raises(Exception, match="schema|version") as info:
        parse_record(old, InsertRecord, where=path)
    assert "insert" in str(info.value)
    assert math.isfinite(_record(ws, "t1-00001").nodules[0].realised.volume_mm3)


def test_repeat_scans_are_identical_for_one_and_two_workers(tmp_path, world: World):
    outputs = []
    for workers in (1, 2):
        ws = Workspace(tmp_path / f"ws{workers}")
        write_manifest(ws, _rows(1.3) + [row("t1-00002", round=0, donor_uid="S4",
                                             donor_mask_path="masks/DON/nodule_seg/S4.nii.gz")])
        insert_trial("t1", workspace=ws, data_root=world.root, workers=workers,
                     show_progress=False)
        outputs.append({p.relative_to(ws.root).as_posix(): p.read_bytes()
                        for p in sorted(ws.cases_dir("t1").glob("*/*"))
                        if p.name != "insert_timing.json"})
    assert len(outputs[0]) >= 6
    assert_same_outputs(outputs[1], outputs[0])


def _ball(radius: int) -> np.ndarray:
    grid = np.indices((2 * radius + 1,) * 3) - radius
    return (grid**2).sum(axis=0) <= radius**2


@pytest.mark.parametrize("native_gap_voxels", [1, 6])
def test_a_grown_repeat_nodule_may_not_touch_the_hosts_own_nodule(native_gap_voxels: int):
    """The repeat's position is fixed (the prior's centre), so nothing moves it away from a
    host native: growing into one must fail the case, as touching a companion does."""
    from lesiontrials import anatomy
    from lesiontrials.geometry import NoduleMask
    from lesiontrials.insert.arrange import arrange_case
    from lesiontrials.insert.config import InsertConfig, InsertionError
    from lesiontrials.insert.spec import NoduleSpec
    from lesiontrials.io.volumes import Volume
    from lesiontrials.measurements.host import HostAnatomy

    lobe = anatomy.LOBE_LABEL_IDS[anatomy.Lobe("right_lung_upper_lobe")]
    labels = np.full((48, 48, 48), lobe, dtype=np.uint8)
    host = HostAnatomy(labels, (1.0, 1.0, 1.0), path="host_seg.nii.gz")
    donor = Volume(_ball(3).astype(np.uint8), np.eye(4))
    spec = NoduleSpec(
        nodule_index=0, primary=True, donor_uid="d0", donor_dataset="test",
        donor_mask_path="d0.nii.gz", placement="repeat",
        target_lobe=anatomy.Lobe("right_lung_upper_lobe"), cc_pct=math.nan,
        ml_pct=math.nan, ap_pct=math.nan, target_mm=(20.0, 24.0, 24.0), min_pleural_mm=0.0,
        min_gap_mm=0.0, planned_diameter_mm=10.5, donor_diameter_mm=7.0, scale=1.5)
    # the grown ball reaches x = 20 + 4.5 → voxel 24; the native ball starts at its offset
    native = NoduleMask(_ball(3), (24 + native_gap_voxels, 21, 21))
    config = InsertConfig()
    arrange = lambda obstacles: arrange_case(  # noqa: E731
        host, np.eye(4), [spec], [donor], np.random.default_rng(0), config,
        obstacles=obstacles)
    assert len(arrange([])) == 1  # alone it fits
    if native_gap_voxels <= 1:
        with pytest.raises(InsertionError, match="host's own nodule") as info:
            arrange([native])
        assert info.value.code == "companions_touch"
    else:
        placed = arrange([native])
        assert placed[0].planned["lobe_source"] == "prior_scan"
