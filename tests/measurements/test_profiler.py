"""Profiles of spheres in an analytic box thorax, checked against hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest

from lesiontrials import anatomy
from lesiontrials.errors import InputError
from lesiontrials.geometry import NoduleMask
from lesiontrials.io import Volume, VolumeKind, write_volume
from lesiontrials.measurements import PROFILE_COLUMNS, profile_nodules, profile_scan_files
from lesiontrials.testing import box_thorax, sphere_mask

RUL = anatomy.LOBE_LABEL_IDS[anatomy.Lobe.RUL]


@pytest.fixture(scope="module")
def thorax():
    return box_thorax()


def _profile(thorax, centres_radii, ids=None):
    shape, spacing = thorax.volume.shape, thorax.spacing_mm
    masks = [sphere_mask(shape, c, r, spacing) for c, r in centres_radii]
    ids = ids or [f"n{i}" for i in range(len(masks))]
    return profile_nodules(thorax.volume, masks, nodule_ids=ids, ct_path="DS/ct.nii.gz")


def test_every_release_column_is_present(thorax):
    frame = _profile(thorax, [((70, 40, 60), 6.0)])
    assert list(frame.columns[1:54]) == list(PROFILE_COLUMNS)
    reinsertion = [c for c in PROFILE_COLUMNS if c.startswith("reinsertion_")]
    assert len(reinsertion) == 12
    assert frame[reinsertion].notna().all(axis=None)


def test_sphere_size_location_and_percent_positions(thorax):
    row = _profile(thorax, [((70, 40, 60), 6.0)]).iloc[0]
    spacing = thorax.spacing_mm
    volume = row.nodule_voxels * np.prod(spacing)
    assert row.nodule_vol_mm3 == pytest.approx(volume)
    assert row.nodule_vol_mm3 == pytest.approx(4 / 3 * math.pi * 6.0**3, rel=0.2)
    assert row.nodule_mean_diam_mm == pytest.approx(12.0, abs=max(spacing))
    assert row.lobe_name == "right_lung_upper_lobe" and row.lung_side == "right"
    assert row.organ_label_id == RUL and row.organ_label_name == "right lung upper lobe"
    world = thorax.volume.voxel_to_world(np.array([70, 40, 60]))
    assert (row.coordX, row.coordY, row.coordZ) == pytest.approx(tuple(world), abs=1e-6)
    # Whole lung occupies x 10..85, y 12..67, z 8..71 (inclusive voxel indices).
    assert row.cranio_caudal_pct == pytest.approx(100 * (60 - 8) / (71 - 8))
    assert row.mediolateral_pct == pytest.approx(100 * (70 - 10) / (85 - 10))
    assert row.anteroposterior_pct == pytest.approx(100 * (40 - 12) / (67 - 12))
    # RUL occupies x 53..85, z 48..71.
    assert row.lobe_cc_pct == pytest.approx(100 * (60 - 48) / (71 - 48))
    assert row.lobe_ml_pct == pytest.approx(100 * (70 - 53) / (85 - 53))
    assert row.lung_zone == "upper_zone" and row.central_peripheral == "peripheral"
    assert row.percent_in_lobe == 100.0


def test_distances_match_box_geometry(thorax):
    row = _profile(thorax, [((70, 40, 60), 6.0)]).iloc[0]
    sx, sy, sz = thorax.spacing_mm
    # Nearest non-lung voxel to the sphere centre is the RUL's top face (z=72): 12 slices.
    assert row.pleural_distance_mm == pytest.approx(12 * sz - 6.0, abs=max(sx, sy, sz))
    # Trachea box x 45..50, y 32..39, z 52..79: nearest from the sphere along x.
    expected_trachea = (70 - 50) * sx - 6.0
    assert row.dist_to_trachea_mm == pytest.approx(expected_trachea, abs=max(sx, sy, sz))
    assert row.airway_distance_mm <= row.dist_to_trachea_mm + 1e-9
    assert row.nearby_organs_10mm == "right lung upper lobe"


def test_juxtapleural_and_central_nodules(thorax):
    # Sphere touching the lateral wall of the right lung (x up to 85).
    lateral = _profile(thorax, [((83, 40, 30), 4.0)]).iloc[0]
    assert lateral.pleural_distance_mm <= thorax.spacing_mm[0] + 1e-9
    assert "body" not in lateral.nearby_organs_10mm
    medial = _profile(thorax, [((56, 40, 56), 4.0)]).iloc[0]
    assert medial.central_peripheral == "central"
    assert "superior vena cava" in medial.nearby_organs_10mm.split(",")


def test_missing_structure_gives_empty_distance_not_zero(thorax):
    labels = thorax.volume.array.copy()
    labels[labels == anatomy.HEART] = anatomy.BODY
    volume = Volume(labels, thorax.volume.affine)
    mask = sphere_mask(volume.shape, (70, 40, 60), 5.0, thorax.spacing_mm)
    row = profile_nodules(volume, [mask], nodule_ids=["a"]).iloc[0]
    assert math.isnan(row.dist_to_heart_mm)
    assert row.dist_to_aorta_mm > 0


def test_neighbour_statistics(thorax):
    frame = _profile(thorax, [((70, 40, 60), 4.0), ((70, 40, 40), 4.0), ((25, 40, 30), 4.0)],
                     ids=["a", "b", "c"]).set_index("nodule_id")
    assert (frame.n_nodules_in_patient == 3).all()
    assert frame.loc["a", "nearest_nodule_id"] == "b"
    dz = (40 - 60) * thorax.spacing_mm[2]
    assert frame.loc["a", "nearest_dz_mm"] == pytest.approx(dz)
    assert frame.loc["a", "nearest_nodule_dist_mm"] == pytest.approx(abs(dz))
    assert frame.loc["a", "all_nodule_ids"] == "b,c"
    assert frame.loc["a", "ipsilateral"] and not frame.loc["a", "nearest_same_lobe"]
    assert frame.bilateral_distribution.all()
    single = _profile(thorax, [((70, 40, 60), 4.0)]).iloc[0]
    assert single.nearest_nodule_id == "" and math.isnan(single.nearest_nodule_dist_mm)
    assert not single.bilateral_distribution


def test_nodule_outside_lobes_snaps_to_nearest_lobe(thorax):
    # Centre in the body just lateral of the right lung (x 88..): nearest lobe is RLL.
    row = _profile(thorax, [((89, 40, 20), 2.0)]).iloc[0]
    assert row.organ_label_name == "body"
    assert row.lobe_name == "right_lung_lower_lobe" and row.percent_in_lobe == 0.0
    assert row.reinsertion_lobe == "right_lung_lower_lobe"


def test_bad_inputs(thorax):
    mask = sphere_mask(thorax.volume.shape, (70, 40, 60), 4.0, thorax.spacing_mm)
    with pytest.raises(InputError, match="duplicate"):
        profile_nodules(thorax.volume, [mask, mask], nodule_ids=["a", "a"])
    empty = NoduleMask(np.zeros((2, 2, 2), bool), (0, 0, 0))
    with pytest.raises(InputError, match="empty"):
        profile_nodules(thorax.volume, [empty], nodule_ids=["a"])
    no_lungs = Volume(np.full((10, 10, 10), anatomy.BODY, np.uint8), np.eye(4))
    with pytest.raises(InputError, match="no lung labels"):
        profile_nodules(no_lungs, [NoduleMask(np.ones((2, 2, 2), bool), (4, 4, 4))],
                        nodule_ids=["a"])


def test_crop_grid_and_full_grid_masks_give_the_same_profile(tmp_path, thorax):
    spacing = thorax.spacing_mm
    nodule = sphere_mask(thorax.volume.shape, (70, 40, 60), 5.0, spacing)
    write_volume(tmp_path / "seg.nii.gz", thorax.volume, kind=VolumeKind.LABELS)
    full = Volume(nodule.to_full(thorax.volume.shape).astype(np.uint8), thorax.volume.affine)
    write_volume(tmp_path / "full.nii.gz", full, kind=VolumeKind.MASK)
    crop_affine = thorax.volume.affine.copy()
    crop_affine[:3, 3] = thorax.volume.voxel_to_world(np.asarray(nodule.offset))
    write_volume(tmp_path / "crop.nii.gz", Volume(nodule.mask.astype(np.uint8), crop_affine),
                 kind=VolumeKind.MASK)
    # A crop stored at twice the resolution must resample onto the host grid.
    fine = np.repeat(np.repeat(np.repeat(nodule.mask, 2, 0), 2, 1), 2, 2)
    fine_affine = crop_affine.copy()
    fine_affine[:3, :3] /= 2
    fine_affine[:3, 3] -= np.asarray(spacing) / 4
    write_volume(tmp_path / "fine.nii.gz", Volume(fine.astype(np.uint8), fine_affine),
                 kind=VolumeKind.MASK)
    frames = [
        profile_scan_files(label_path=tmp_path / "seg.nii.gz", mask_paths=[tmp_path / name],
                           nodule_ids=["a"])
        for name in ("full.nii.gz", "crop.nii.gz", "fine.nii.gz")
    ]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])


def test_ct_grid_must_match_labels(tmp_path, thorax):
    write_volume(tmp_path / "seg.nii.gz", thorax.volume, kind=VolumeKind.LABELS)
    shifted = thorax.volume.affine.copy()
    shifted[2, 3] += 10
    ct = Volume(np.zeros(thorax.volume.shape, np.int16), shifted)
    write_volume(tmp_path / "ct.nii.gz", ct, kind=VolumeKind.CT)
    nodule = sphere_mask(thorax.volume.shape, (70, 40, 60), 5.0, thorax.spacing_mm)
    full = Volume(nodule.to_full(thorax.volume.shape).astype(np.uint8), thorax.volume.affine)
    write_volume(tmp_path / "m.nii.gz", full, kind=VolumeKind.MASK)
    with pytest.raises(InputError, match="grid disagrees"):
        profile_scan_files(label_path=tmp_path / "seg.nii.gz", mask_paths=[tmp_path / "m.nii.gz"],
                           nodule_ids=["a"], ct_file=tmp_path / "ct.nii.gz")
