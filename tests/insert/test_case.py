"""Whole cases through ``insert_trial``: lobes, sizes, twins, companions, failures."""

from __future__ import annotations

import json
import math

import cc3d
import numpy as np
import pytest

from conftest import DONOR_SPACING, World, donor_path, host_path, row, write_manifest
from lesiontrials import anatomy
from lesiontrials.geometry import mask_in_host_grid
from lesiontrials.insert import InsertConfig, insert_trial
from lesiontrials.insert.placement import level_percents
from lesiontrials.io import read_json, read_volume
from lesiontrials.measurements.host import HostAnatomy
from lesiontrials.paths import Workspace


def run(tmp_path, world: World, rows, **kwargs):
    workspace = Workspace(tmp_path / "ws")
    write_manifest(workspace, rows)
    summary = insert_trial("t1", workspace=workspace, data_root=world.root,
                           show_progress=False, **kwargs)
    return workspace, summary


def record(workspace: Workspace, uid: str) -> dict:
    return read_json(workspace.case_dir("t1", uid) / "insert.json")


def labels_of(workspace: Workspace, uid: str):
    return read_volume(workspace.case_dir("t1", uid) / "labels.nii.gz")


#: Insertion keeping the whole host volume (no slab: the default), for whole-host invariants.
WHOLE = InsertConfig()
#: Insertion keeping an axial slab of phantom hosts (the screening-grid speed option).
SLAB = InsertConfig(slab_length_mm=64.0)

LOBE_TARGETS = [(lobe.value, cc, ml, ap) for lobe in anatomy.Lobe
                for cc, ml, ap in ((50, 50, 50), (10, 90, 20), (95, 5, 80))]


def test_spheres_land_in_their_lobes_at_the_planned_size(tmp_path, world):
    rows = [row(f"t1-{i:05d}", target_lobe=lobe, target_lobe_cc_pct=cc,
                target_lobe_ml_pct=ml, target_lobe_ap_pct=ap,
                donor_mask_path=donor_path(("S4", "S6", "E")[i % 3]))
            for i, (lobe, cc, ml, ap) in enumerate(LOBE_TARGETS)]
    workspace, summary = run(tmp_path, world, rows, config=SLAB)
    assert summary["status"] == {"done": len(rows), "failed": 0}
    assert summary["lobe_agreement"]["fraction"] == 1.0
    host = world.thorax.volume
    for i, (lobe, *_pct) in enumerate(LOBE_TARGETS):
        uid = f"t1-{i:05d}"
        nodule = record(workspace, uid)["nodules"][0]
        realised, planned = nodule["realised"], nodule["planned"]
        assert realised["lobe"] == planned["lobe"] == lobe
        assert realised["percent_in_lobe"] >= 95.0
        assert abs(realised["equivalent_diameter_mm"] - planned["diameter_mm"]) <= max(
            world.thorax.spacing_mm)
        labels = labels_of(workspace, uid)
        z0, z1 = record(workspace, uid)["host"]["slab_z_voxels"]  # a phantom host: a slab
        assert labels.shape == (*host.shape[:2], z1 - z0) and z1 - z0 < host.shape[2]
        assert np.allclose(labels.affine[:3, :3], host.affine[:3, :3])
        assert np.allclose(labels.voxel_to_world(np.zeros(3)), host.voxel_to_world([0, 0, z0]))
        clean = host.array[:, :, z0:z1]
        stamped = labels.array == anatomy.NODULE
        assert stamped.sum() == realised["voxels"]
        assert np.array_equal(labels.array[~stamped], clean[~stamped])
        assert set(np.unique(clean[stamped]).tolist()) <= set(anatomy.LUNG_INTERIOR_LABELS)
        crop = read_volume(workspace.case_dir("t1", uid) / nodule["mask_file"])
        placed = mask_in_host_grid(crop.array, crop.affine, labels.affine, labels.shape)
        assert np.array_equal(placed.to_full(labels.shape), stamped)
        assert [[s.start, s.stop] for s in placed.box] == realised["bbox_voxel"]
        # the same world-mm centre as on the whole host grid
        centre = labels.voxel_to_world(realised["centroid_voxel"])
        assert np.allclose(centre, realised["centroid_mm"])
        assert np.allclose(centre, host.voxel_to_world(
            np.asarray(realised["centroid_voxel"]) + [0, 0, z0]))
        # the plan's voxel positions are on the case's (slab) grid too
        assert np.allclose(labels.voxel_to_world(planned["target_voxel"]), planned["target_mm"])
        for adjustment in nodule["adjustments"]:
            for key, value in adjustment["detail"].items():
                if key.endswith("_voxel"):
                    assert 0 <= value[2] < z1 - z0, (adjustment, key)


def test_anisotropic_host_crop_grid_donors_and_scale(tmp_path, world):
    rows = [row("t1-00000", host_seg_path=host_path("H2"), donor_mask_path=donor_path("E"),
                scale=1.3, target_lobe="LLL"),
            row("t1-00001", host_seg_path=host_path("H2"), donor_mask_path=donor_path("S9"),
                scale=0.67, target_lobe="RUL", target_lobe_cc_pct=math.nan),
            row("t1-00002", host_seg_path=host_path("H2"), donor_mask_path=donor_path("S6"),
                scale=1.5, placement="random", target_lobe="")]
    workspace, summary = run(tmp_path, world, rows)
    assert summary["status"]["done"] == 3
    for uid, donor, scale in (("t1-00000", "E", 1.3), ("t1-00001", "S9", 0.67),
                              ("t1-00002", "S6", 1.5)):
        rec = record(workspace, uid)
        assert rec["host"]["spacing_mm"] == pytest.approx([2.6, 2.6, 5.0])
        nodule = rec["nodules"][0]
        assert nodule["planned"]["donor_spacing_mm"] == pytest.approx(list(DONOR_SPACING))
        assert nodule["realised"]["scale"] == scale
        expected = world.donors[donor] * scale
        assert abs(nodule["realised"]["equivalent_diameter_mm"] - expected) <= 5.0
        assert nodule["realised"]["lobe"] == nodule["planned"]["lobe"]
    assert record(workspace, "t1-00001")["nodules"][0]["planned"]["drawn"] == ["cc"]


def test_twins_paste_the_exact_native_voxels(tmp_path, world):
    rows = []
    for k, uid in enumerate(("NAT1", "NAT2")):
        native = world.natives[uid]
        centre = world.thorax.volume.voxel_to_world(native.centroid_voxel())
        rows.append(row("t1-00000", nodule_index=k, placement="native", donor_uid=uid,
                        donor_mask_path=donor_path(uid), target_lobe="",
                        target_x_mm=centre[0], target_y_mm=centre[1], target_z_mm=centre[2]))
    rows.append(row("t1-00001", placement="native", donor_mask_path=donor_path("NAT2"),
                    target_lobe="LLL"))  # no native centre given: the mask's own
    workspace, summary = run(tmp_path, world, rows, config=WHOLE)
    assert summary["status"]["done"] == 2
    labels = labels_of(workspace, "t1-00000").array
    expected = world.natives["NAT1"].to_full(labels.shape) | world.natives["NAT2"].to_full(
        labels.shape)
    assert np.array_equal(labels == anatomy.NODULE, expected)
    rec = record(workspace, "t1-00000")
    assert [n["adjustments"] for n in rec["nodules"]] == [[], []]
    assert rec["nodules"][1]["realised"]["lobe"] == anatomy.Lobe.LLL.value
    alone = labels_of(workspace, "t1-00001").array == anatomy.NODULE
    assert np.array_equal(alone, world.natives["NAT2"].to_full(labels.shape))


def test_a_twin_keeps_its_voxels_when_the_manifest_centre_disagrees(tmp_path, world):
    native = world.natives["NAT1"]
    x, y, z = world.thorax.volume.voxel_to_world(native.centroid_voxel()) + (20.0, 0.0, 0.0)
    rows = [row("t1-00000", placement="native", donor_mask_path=donor_path("NAT1"),
                target_x_mm=x, target_y_mm=y, target_z_mm=z)]
    workspace, _ = run(tmp_path, world, rows, config=WHOLE)
    nodule = record(workspace, "t1-00000")["nodules"][0]
    assert [a["kind"] for a in nodule["adjustments"]] == ["native_target_mismatch"]
    assert nodule["adjustments"][0]["detail"]["distance_mm"] == pytest.approx(20.0)
    stamped = labels_of(workspace, "t1-00000").array == anatomy.NODULE
    assert np.array_equal(stamped, native.to_full(stamped.shape))


def test_an_off_grid_twin_is_resampled_onto_its_native_centre(tmp_path, world):
    x, y, z = world.native_mm["NATFINE"]
    rows = [row("t1-00000", placement="native", donor_mask_path=donor_path("NATFINE"),
                target_lobe="RLL", target_x_mm=x, target_y_mm=y, target_z_mm=z)]
    workspace, _ = run(tmp_path, world, rows)
    nodule = record(workspace, "t1-00000")["nodules"][0]
    assert [a["kind"] for a in nodule["adjustments"]] == ["resample"]
    spacing = np.asarray(world.thorax.spacing_mm)
    assert np.all(np.abs(np.asarray(nodule["realised"]["centroid_mm"]) - (x, y, z))
                  <= spacing / 2 + 1e-6)
    assert nodule["realised"]["lobe"] == anatomy.Lobe.RLL.value


def test_a_donor_too_large_for_the_lobe_fails_with_a_reason(tmp_path, world):
    rows = [row("t1-00000", donor_mask_path=donor_path("S40"), target_lobe="RML")]
    workspace, summary = run(tmp_path, world, rows)
    rec = record(workspace, "t1-00000")
    assert rec["status"] == "failed" and rec["reason_code"] == "no_fit"
    assert "larger than the lobe" in rec["reason"] and "right_lung_middle_lobe" in rec["reason"]
    assert not (workspace.case_dir("t1", "t1-00000") / "labels.nii.gz").exists()
    assert summary["failure_reasons"] == {"no_fit": 1}


def test_a_donor_that_fits_only_far_from_its_target_is_moved_within_the_lobe(tmp_path, world):
    """Nothing fits within ``max_shift_mm`` of a lobe-corner target: the whole lobe is
    searched, the nodule stays in the planned lobe and the shift is recorded."""
    rows = [row("t1-00000", donor_mask_path=donor_path("S6"), target_lobe="RUL",
                target_lobe_cc_pct=100.0, target_lobe_ml_pct=0.0, target_lobe_ap_pct=100.0)]
    workspace, summary = run(tmp_path, world, rows, config=InsertConfig(max_shift_mm=1.0))
    assert summary["status"] == {"done": 1, "failed": 0}
    nodule = record(workspace, "t1-00000")["nodules"][0]
    far = [a for a in nodule["adjustments"] if a["kind"] == "beyond_max_shift"]
    assert len(far) == 1 and far[0]["detail"]["shift_mm"] > 1.0
    assert far[0]["detail"]["max_shift_mm"] == 1.0
    assert nodule["realised"]["lobe"] == anatomy.Lobe.RUL.value


def test_companions_never_overlap_or_touch(tmp_path, world):
    rows = [row("t1-00000", nodule_index=k, donor_mask_path=donor_path(d),
                min_gap_mm=3.0 if k else math.nan)  # the manifest's gap wins over the config
            for k, d in enumerate(("S6", "E", "S4", "S3"))]
    workspace, summary = run(tmp_path, world, rows, config=InsertConfig(min_gap_mm=0.0))
    assert summary["status"]["done"] == 1
    rec = record(workspace, "t1-00000")
    stamped = labels_of(workspace, "t1-00000").array == anatomy.NODULE
    assert cc3d.connected_components(stamped, connectivity=26).max() == 4
    diagonal = float(np.linalg.norm(world.thorax.spacing_mm))
    for nodule in rec["nodules"]:
        assert nodule["realised"]["nearest_companion_mm"] > max(3.0, diagonal)
        assert nodule["realised"]["lobe"] == anatomy.Lobe.RUL.value
    assert [a["kind"] for n in rec["nodules"][1:] for a in n["adjustments"]] == ["shift"] * 3
    assert [n["planned"]["min_gap_mm"] for n in rec["nodules"]] == [0.0, 3.0, 3.0, 3.0]
    assert rec["nodules"][0]["primary"] and not rec["nodules"][1]["primary"]


def test_scale_bounds_are_respected(tmp_path, world):
    rows = [row("t1-00000", scale=5.0, donor_mask_path=donor_path("S3")),
            row("t1-00001", scale=0.5, donor_mask_path=donor_path("S9"))]
    workspace, _ = run(tmp_path, world, rows)
    failed = record(workspace, "t1-00000")
    assert failed["reason_code"] == "scale_bounds" and "5.0" in failed["reason"]
    nodule = record(workspace, "t1-00001")["nodules"][0]
    assert nodule["realised"]["equivalent_diameter_mm"] == pytest.approx(
        world.donors["S9"] * 0.5, abs=max(world.thorax.spacing_mm))


def test_bad_inputs_fail_the_case_with_a_reason_naming_the_file(tmp_path, world):
    rows = [row("t1-00000", host_seg_path=host_path("MISSING")),
            row("t1-00001", donor_mask_path=donor_path("BROKEN")),
            row("t1-00002", host_seg_path=host_path("NOLOBES")),
            row("t1-00003", target_lobe="middle finger"),
            row("t1-00004")]
    workspace, summary = run(tmp_path, world, rows)
    assert summary["status"] == {"done": 1, "failed": 4}
    reasons = {uid: record(workspace, uid)["reason"] for uid in
               ("t1-00000", "t1-00001", "t1-00002", "t1-00003")}
    assert "MISSING_seg.nii.gz" in reasons["t1-00000"] and "not found" in reasons["t1-00000"]
    assert "BROKEN.nii.gz" in reasons["t1-00001"] and "cannot read" in reasons["t1-00001"]
    assert "NOLOBES_seg.nii.gz" in reasons["t1-00002"] and "no lung lobes" in reasons["t1-00002"]
    assert "middle finger" in reasons["t1-00003"]
    assert {record(workspace, u)["reason_code"] for u in reasons} == {"input"}


def test_a_nodule_free_case_keeps_the_host_labels(tmp_path, world):
    rows = [row("t1-00000", nodule_free=True, donor_uid="", donor_mask_path="", placement="",
                target_lobe="")]
    workspace, summary = run(tmp_path, world, rows, config=SLAB)
    rec = record(workspace, "t1-00000")
    assert rec["status"] == "done" and rec["nodules"] == [] and rec["nodule_free"]
    labels = labels_of(workspace, "t1-00000")
    z0, z1 = rec["host"]["slab_z_voxels"]  # a slab of the host, around a lung slice
    assert np.array_equal(labels.array, world.thorax.volume.array[:, :, z0:z1])
    assert np.isin(labels.array[:, :, (z1 - z0) // 2], list(anatomy.LOBE_BY_LABEL)).any()
    assert summary["nodule_free_cases"] == 1
    whole, _ = run(tmp_path / "whole", world, rows, config=WHOLE)
    assert np.array_equal(labels_of(whole, "t1-00000").array, world.thorax.volume.array)
    assert record(whole, "t1-00000")["host"].get("slab_z_voxels") is None


def test_insert_json_carries_the_contract(tmp_path, world):
    workspace, _ = run(tmp_path, world, [row("t1-00000", donor_malignancy=4.0)])
    rec = record(workspace, "t1-00000")
    for key in ("case_uid", "trial", "status", "reason", "seed", "inputs_sha256", "host",
                "nodules"):
        assert key in rec
    timing = read_json(workspace.cases_dir("t1") / "t1-00000" / "insert_timing.json")
    assert timing["timing_s"] > 0 and set(timing["timing_breakdown_s"]) == {
        "read", "place", "truth", "write"}
    assert "timing_s" not in rec  # insert.json is byte-identical between runs
    assert set(rec["host"]) >= {"dataset", "ct_id", "seg_path", "ct_path", "shape",
                                "spacing_mm", "affine"}
    nodule = rec["nodules"][0]
    assert set(nodule) >= {"nodule_index", "primary", "donor_uid", "label",
                           "donor_characteristics", "appearance", "mask_file", "planned",
                           "realised", "adjustments"}
    assert set(nodule["realised"]) >= {
        "lobe", "side", "zone", "centroid_voxel", "centroid_mm", "voxels", "volume_mm3",
        "equivalent_diameter_mm", "max_axis_diameter_mm", "bbox_voxel", "pleural_distance_mm",
        "percent_in_lobe", "scale"}
    assert nodule["label"] == 1 and nodule["donor_characteristics"]["malignancy"] == 4.0
    assert nodule["donor_characteristics"]["spiculation"] is None  # NaN → null
    assert len(nodule["donor_characteristics"]) == 9
    assert nodule["realised"]["side"] == "right" and nodule["realised"]["zone"] == "upper_zone"


def test_out_of_range_percents_are_refused_not_clamped(tmp_path, world):
    rows = [row("t1-00000", target_lobe="RUL", target_lobe_ml_pct=150.0)]
    workspace, _ = run(tmp_path, world, rows)
    rec = record(workspace, "t1-00000")
    assert rec["status"] == "failed" and rec["reason_code"] == "percent_out_of_range"
    assert "150" in rec["reason"] and "re-plan" in rec["reason"]


def test_zones_and_position_are_realised_and_recorded(tmp_path, world):
    wanted = [("upper_zone", "central", "RUL"), ("lower_zone", "peripheral", "LLL"),
              ("middle_zone", "peripheral", "LUL")]
    rows = [row(f"t1-{i:05d}", target_lobe=lobe, target_zones=zone, target_position=pos,
                target_lobe_cc_pct=5.0, target_lobe_ml_pct=50.0, target_lobe_ap_pct=50.0,
                donor_mask_path=donor_path("S4"))
            for i, (zone, pos, lobe) in enumerate(wanted)]
    workspace, summary = run(tmp_path, world, rows)
    assert summary["status"] == {"done": 3, "failed": 0}
    for i, (zone, pos, _lobe) in enumerate(wanted):
        nodule = record(workspace, f"t1-{i:05d}")["nodules"][0]
        assert nodule["realised"]["zone"] == zone
        assert nodule["realised"]["central_peripheral"] == pos
        assert nodule["planned"]["zones"] == [zone] and nodule["planned"]["position"] == pos
    # cc 5 % of the RUL is its bottom: not the upper zone, so a target was drawn inside it
    assert "zone_target" in record(workspace, "t1-00000")["nodules"][0]["planned"]["drawn"]


def test_a_zone_the_lobe_does_not_reach_fails_the_case(tmp_path, world):
    rows = [row("t1-00000", target_lobe="LLL", target_zones="upper_zone")]
    workspace, _ = run(tmp_path, world, rows)
    rec = record(workspace, "t1-00000")
    assert rec["status"] == "failed" and rec["reason_code"] == "zone_unmet"
    assert "left_lung_lower_lobe" in rec["reason"] and "upper_zone" in rec["reason"]


def test_a_per_scan_donor_mask_gives_the_nodule_at_the_donor_centre(tmp_path, world):
    from lesiontrials.io import Volume, VolumeKind, write_volume
    from lesiontrials.testing import sphere_mask

    host = world.thorax.volume
    union = np.zeros(host.shape, np.uint8)
    small = sphere_mask(host.shape, (30.0, 40.0, 20.0), 3.0, world.thorax.spacing_mm)
    large = sphere_mask(host.shape, (70.0, 40.0, 60.0), 7.0, world.thorax.spacing_mm)
    for nodule in (small, large):
        union[nodule.box][nodule.mask] = 1
    write_volume(world.root / "masks/IMDCT/nodule_seg/X1_seg.nii.gz", Volume(union, host.affine),
                 kind=VolumeKind.MASK)
    centre = host.voxel_to_world(small.centroid_voxel())
    base = {"donor_mask_path": "masks/IMDCT/nodule_seg/X1_seg.nii.gz", "donor_dataset": "IMDCT",
            "donor_mask_scope": "scan", "donor_diameter_mm": math.nan}
    rows = [row("t1-00000", **base, donor_x_mm=centre[0], donor_y_mm=centre[1],
                donor_z_mm=centre[2]),
            row("t1-00001", **base, donor_x_mm=centre[0] + 40.0, donor_y_mm=centre[1],
                donor_z_mm=centre[2])]
    workspace, _ = run(tmp_path, world, rows)
    done = record(workspace, "t1-00000")
    assert done["status"] == "done"
    assert done["nodules"][0]["realised"]["voxels"] == small.voxel_count
    refused = record(workspace, "t1-00001")
    assert refused["status"] == "failed" and refused["reason_code"] == "input"
    assert "X1_seg.nii.gz" in refused["reason"] and "within 5 mm" in refused["reason"]


def test_fallback_percents_come_from_the_donor_scan_or_are_drawn(tmp_path, world):
    base = {"target_lobe": "RUL", "target_lobe_ml_pct": math.nan,
            "target_lobe_cc_pct": 50.0, "target_lobe_ap_pct": 50.0,
            "target_pct_fallback": "ml", "donor_mask_path": donor_path("NAT1")}
    rows = [row("t1-00000", **base, donor_seg_path=host_path("H1")),  # NAT1 lives in H1
            row("t1-00001", **base)]  # no donor label map: drawn inside the lobe
    workspace, summary = run(tmp_path, world, rows)
    assert summary["status"] == {"done": 2, "failed": 0}
    measured = record(workspace, "t1-00000")["nodules"][0]["planned"]
    assert measured["pct_fallback"] == ["ml"] and measured["pct_fallback_rule"] == "donor_scan"
    host = world.thorax.volume
    anatomy_map = HostAnatomy(host.array, host.spacing_mm)
    rul = anatomy.LOBE_LABEL_IDS[anatomy.Lobe.RUL]
    own = level_percents(host.array, anatomy_map.boxes[rul], rul,
                         world.natives["NAT1"].centroid_voxel())
    assert measured["lobe_pct"]["ml"] == pytest.approx(own[1])
    drawn = record(workspace, "t1-00001")["nodules"][0]["planned"]
    assert drawn["pct_fallback_rule"] == "drawn" and drawn["drawn"] == ["ml"]


def _forget_process_memos() -> None:
    from lesiontrials.insert import case as insert_case_module
    from lesiontrials.io import decoded

    insert_case_module._HOST_BOXES.clear()
    insert_case_module._NATIVES.clear()
    decoded.forget_remembered_crops()


def test_host_boxes_remembered_across_cases_change_nothing(tmp_path, world):
    """Cases on one host reuse its label boxes, native placements and mask crops (by
    file hash): same bytes and records as computed afresh."""
    from lesiontrials.insert import case as insert_case_module

    centre = world.thorax.volume.voxel_to_world(world.natives["NAT1"].centroid_voxel())
    natives = json.dumps([{"uid": "NAT1", "mask_path": donor_path("NAT1"),
                           "mask_scope": "nodule", "point_mm": [float(v) for v in centre]}])
    rows = [row(f"t1-{i:05d}", target_lobe=lobe, donor_mask_path=donor_path("S6"),
                host_natives=natives)
            for i, lobe in enumerate(("RUL", "LLL", "RLL"))]
    _forget_process_memos()
    warm, _ = run(tmp_path / "warm", world, rows)  # cases 2 and 3 reuse case 1's boxes
    assert insert_case_module._HOST_BOXES and insert_case_module._NATIVES
    outputs = {}
    for uid in ("t1-00001", "t1-00002"):
        _forget_process_memos()  # each case computes its own
        cold, _ = run(tmp_path / uid, world, [r for r in rows if r["case_uid"] == uid])
        outputs[uid] = cold
    for uid, cold in outputs.items():
        for name in ("labels.nii.gz", "nodule_0.nii.gz"):
            assert (warm.case_dir("t1", uid) / name).read_bytes() == \
                (cold.case_dir("t1", uid) / name).read_bytes()
        assert record(warm, uid)["nodules"] == record(cold, uid)["nodules"]
        assert record(warm, uid)["host_natives"] == record(cold, uid)["host_natives"]
        assert record(warm, uid)["host_natives"][0]["voxels"] == \
            world.natives["NAT1"].voxel_count


def test_a_forked_pool_starts_with_the_host_boxes_remembered(tmp_path, world, monkeypatch):
    """With a local forked pool, the trial computes each host's label boxes once in its
    own process (inherited by the workers); outputs equal a one-process run's.

    Once torch is imported (by another test in this process) the pool starts workers from
    a fork server instead, which inherit nothing, and the trial skips the work; the
    parent-side step is therefore forced here, whatever the start method."""
    from lesiontrials.insert import case as insert_case_module
    from lesiontrials.insert import trial as insert_trial_module

    monkeypatch.setattr(insert_trial_module, "forks_workers", lambda **_: True)
    rows = [row(f"t1-{i:05d}", target_lobe=lobe, donor_mask_path=donor_path("S6"))
            for i, lobe in enumerate(("RUL", "LLL"))]
    _forget_process_memos()
    pooled, _ = run(tmp_path / "pooled", world, rows, workers=2)
    assert len(insert_case_module._HOST_BOXES) == 1  # computed here, not only in workers
    _forget_process_memos()
    alone, _ = run(tmp_path / "alone", world, rows, workers=1)
    for uid in ("t1-00000", "t1-00001"):
        assert (pooled.case_dir("t1", uid) / "labels.nii.gz").read_bytes() == \
            (alone.case_dir("t1", uid) / "labels.nii.gz").read_bytes()
        assert record(pooled, uid)["nodules"] == record(alone, uid)["nodules"]
    _forget_process_memos()
    run(tmp_path / "pooled", world, rows, workers=2)  # all finished: nothing read again
    assert not insert_case_module._HOST_BOXES
