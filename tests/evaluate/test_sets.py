"""Evaluation sets: items, truth, negatives, uid stability, resume, the real set."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from evalsynth import AFFINE, SHAPE, SPACING, TRIAL, ct_from, thorax_labels, write_trial

from lesiontrials import anatomy
from lesiontrials.io import Volume, VolumeKind, read_png, read_volume, write_csv, write_volume
from lesiontrials.paths import DataRoot, Workspace
from lesiontrials.slicing.contract import CONDITIONS, ITEM_COLUMNS, PROFILES
from lesiontrials.slicing.sets import build_eval_set, build_real_set
from lesiontrials.slicing.slices import (
    centre_z,
    choose_spread,
    negative_candidates,
    slice_uid,
)
from lesiontrials.testing import sphere_mask, synthetic_profiles


def _items(trial, profile="lung") -> pd.DataFrame:
    return pd.read_parquet(trial.workspace.eval_dir(TRIAL, profile) / "cases.parquet")


def test_items_follow_the_contract(built_trial):
    for profile in PROFILES:
        items = _items(built_trial, profile)
        assert tuple(items.columns) == ITEM_COLUMNS
        assert set(items.profile) == {profile}
        conditions = items.groupby("slice_uid").condition.apply(sorted)
        assert all(c == sorted(CONDITIONS) for c in conditions)
        for row in items.itertuples():
            base = built_trial.workspace.eval_dir(TRIAL, profile)
            paths = json.loads(row.context_paths)
            assert len(paths) == 3 and paths[1] == row.image_path
            assert all((base / p).is_file() for p in paths)


def test_truth_comes_from_the_realised_insertion(built_trial):
    items = _items(built_trial)
    positives = items[items.kind == "positive"].drop_duplicates("slice_uid")
    assert len(positives) == 3  # one item per nodule, the two-nodule case gives two
    truth = {(r.case_uid, r.nodule_index): (r.truth_lobe, r.truth_size)
             for r in positives.itertuples()}
    assert truth == {("t1-00000", 0): ("right_lung_upper_lobe", "10-20"),
                     ("t1-00001", 0): ("right_lung_lower_lobe", "5-10"),
                     ("t1-00001", 1): ("left_lung_upper_lobe", ">=20")}
    assert set(positives.design) == {"handmade"} and set(positives.truth_presence) == {"present"}
    assert positives.appearance.str.startswith("solid nodule").all()
    for row in positives.itertuples():  # the centre slice goes through the nodule
        nodule = built_trial.masks[row.case_uid][row.nodule_index]
        assert row.z_index == centre_z(nodule) and row.mask_area_px > 0


def test_negatives_hold_no_nodule_voxels(built_trial):
    items = _items(built_trial)
    negatives = items[items.kind == "negative"].drop_duplicates("slice_uid")
    assert len(negatives) == 3  # one from each case, the nodule-free case included
    assert set(negatives.case_uid) == {"t1-00000", "t1-00001", "t1-00002"}
    for row in negatives.itertuples():
        labels = read_volume(built_trial.workspace.case_dir(TRIAL, row.case_uid)
                             / "labels.nii.gz").array
        nodule_z = np.flatnonzero((labels == anatomy.NODULE).any(axis=(0, 1)))
        window = labels[:, :, row.z_index - 1:row.z_index + 2]
        assert not (window == anatomy.NODULE).any()
        if nodule_z.size:
            assert np.abs(nodule_z - row.z_index).min() * SPACING[2] >= 10.0
        lung = np.isin(labels[:, :, row.z_index], anatomy.LOBE_LABELS).sum()
        assert lung * SPACING[0] * SPACING[1] >= 5000.0
        assert row.truth_presence == "absent" and row.truth_lobe == "" and row.bbox_x0 == -1
    rows = items[items.kind == "negative"]  # each guided condition draws a decoy
    assert rows.groupby("slice_uid").image_path.nunique().eq(len(CONDITIONS)).all()
    assert (rows.overlay_decoy == (rows.condition != "plain")).all()
    assert not items[items.kind == "positive"].overlay_decoy.any()


def test_uids_are_canonical_across_conditions_and_profiles(built_trial):
    lung, rgb = _items(built_trial, "lung"), _items(built_trial, "medgemma_rgb")
    assert set(lung.slice_uid) == set(rgb.slice_uid)
    row = lung[lung.kind == "positive"].iloc[0]
    assert row.slice_uid == slice_uid(source="synthetic", case=row.case_uid,
                                      target=f"n{row.nodule_index}", z=int(row.z_index))
    assert slice_uid(source="synthetic", case="c", target="n0", z=3) != slice_uid(
        source="real", case="c", target="n0", z=3)


def test_images_have_the_profile_encoding(built_trial):
    for profile, ndim in (("lung", 2), ("medgemma_rgb", 3)):
        items = _items(built_trial, profile)
        plain = items[items.condition == "plain"].iloc[0]
        image = read_png(built_trial.workspace.eval_dir(TRIAL, profile) / plain.image_path)
        assert image.ndim == ndim and image.shape[:2] == (SHAPE[1], SHAPE[0])


def test_png_codec_changes_bytes_not_pixels(fresh_trial):
    """The sets' PNGs are deflated by zlib (the same bytes in any process); rebuilt with
    ISA-L every image has the same pixels and the items the same rows (the codec is a
    parameter, so it rebuilds)."""
    from lesiontrials.slicing.slices import SliceParams

    ws = fresh_trial.workspace
    assert (SliceParams().png_codec, SliceParams().png_level) == ("zlib", 1)
    before = _items(fresh_trial)
    paths = sorted((ws.eval_dir(TRIAL, "lung") / "images").glob("*.png"))
    first = {p.name: (p.read_bytes(), read_png(p)) for p in paths}
    again = build_eval_set(trial=TRIAL, workspace=ws, show_progress=False,
                           params=SliceParams(png_codec="isal", png_level=1))
    assert again.cases_done == 3
    pd.testing.assert_frame_equal(before.drop(columns="inputs_sha256"),
                                  _items(fresh_trial).drop(columns="inputs_sha256"))
    rebuilt = sorted((ws.eval_dir(TRIAL, "lung") / "images").glob("*.png"))
    assert [p.name for p in rebuilt] == sorted(first)
    for path in rebuilt:
        data, pixels = first[path.name]
        assert path.read_bytes() != data
        assert np.array_equal(read_png(path), pixels)


def test_impossible_png_level_is_refused():
    from lesiontrials.errors import InputError
    from lesiontrials.slicing.slices import SliceParams

    with pytest.raises(InputError, match="png_level"):
        SliceParams(png_codec="isal", png_level=6)


def test_rebuild_reuses_finished_cases_and_redoes_changed_ones(fresh_trial):
    ws = fresh_trial.workspace
    before = _items(fresh_trial)
    again = build_eval_set(trial=TRIAL, workspace=ws, show_progress=False)
    assert (again.cases_done, again.cases_reused) == (0, 3)
    pd.testing.assert_frame_equal(before, _items(fresh_trial))
    record = ws.case_dir(TRIAL, "t1-00002") / "render.json"
    record.write_text(record.read_text().replace('"test"', '"test2"'))
    (ws.eval_dir(TRIAL, "lung") / before.image_path.iloc[0]).unlink()  # a lost image
    third = build_eval_set(trial=TRIAL, workspace=ws, show_progress=False)
    assert third.cases_done == 2 and third.cases_reused == 1
    pd.testing.assert_frame_equal(before.drop(columns="inputs_sha256"),
                                  _items(fresh_trial).drop(columns="inputs_sha256"))


def test_unfinished_cases_are_left_out_with_a_reason(fresh_trial):
    ws = fresh_trial.workspace
    (ws.case_dir(TRIAL, "t1-00002") / "ct.nii.gz").unlink()
    summary = build_eval_set(trial=TRIAL, workspace=ws, show_progress=False)
    assert summary.left_out == {"t1-00002": "not rendered"}
    assert "t1-00002" not in set(_items(fresh_trial).case_uid)


def test_negative_selection_helpers():
    area = np.full(20, 9000.0)
    area[15:] = 100.0
    z = negative_candidates(depth=20, excluded=[(8, 9)], lung_area=area, spacing_z_mm=2.5,
                            margin_mm=10.0, min_lung_area_mm2=5000.0)
    assert z.tolist() == [1, 2, 3, 4, 13, 14]
    picks = choose_spread(z, 2, np.random.default_rng(0))
    assert len(picks) == 2 and picks[0] <= 4 and picks[1] >= 13
    assert choose_spread(np.array([], int), 3, np.random.default_rng(0)) == []


def _real_root(tmp_path):
    root = tmp_path / "root"
    labels = thorax_labels()
    masks = [sphere_mask(SHAPE, (46.0, 28.0, 17.0), 6.0, SPACING),
             sphere_mask(SHAPE, (17.0, 30.0, 6.0), 4.0, SPACING)]
    for mask in masks:
        labels[mask.box][mask.mask] = anatomy.NODULE
    write_volume(root / "raw_ct" / "LUNA16" / "scan1.nii.gz", Volume(ct_from(labels), AFFINE),
                 kind=VolumeKind.CT)
    profiles = synthetic_profiles("LUNA16", 2)
    profiles["ct_path"] = "LUNA16/scan1.nii.gz"
    profiles["AnnotationID"] = ["a1", "a2"]
    profiles["lobe_name"] = ["RUL", "left lower lobe"]
    profiles["nodule_mean_diam_mm"] = [12.0, 8.0]
    for name, mask in zip(["a1", "a2"], masks, strict=True):
        write_volume(root / "masks" / "LUNA16" / "nodule_seg" / f"{name}.nii.gz",
                     Volume(mask.to_full(SHAPE).astype(np.uint8), AFFINE), kind=VolumeKind.MASK)
    write_csv(profiles, root / "profiles" / "LUNA16_nodule_profiles.csv")
    return DataRoot(root)


def test_real_set_from_a_data_root(tmp_path):
    ws = Workspace(tmp_path / "ws")
    summary = build_real_set(data_root=_real_root(tmp_path), workspace=ws, show_progress=False)
    assert (summary.positives, summary.negatives) == (2, 1)
    items = pd.read_parquet(ws.eval_dir("real", "lung") / "cases.parquet")
    positives = items[items.kind == "positive"].drop_duplicates("slice_uid")
    assert dict(zip(positives.donor_uid, positives.truth_lobe, strict=True)) == {
        "LUNA16/a1": "right_lung_upper_lobe", "LUNA16/a2": "left_lung_lower_lobe"}
    assert dict(zip(positives.donor_uid, positives.truth_size, strict=True)) == {
        "LUNA16/a1": "10-20", "LUNA16/a2": "5-10"}
    assert set(items.source) == {"real"} and set(items.case_uid) == {"LUNA16/scan1"}
    negative = items[items.kind == "negative"].iloc[0]
    assert abs(int(negative.z_index) - 17) * SPACING[2] >= 10.0
    assert abs(int(negative.z_index) - 6) * SPACING[2] >= 10.0


def test_missing_trial_is_a_clear_error(tmp_path):
    from lesiontrials.errors import InputError

    with pytest.raises(InputError, match="no cases"):
        build_eval_set(trial="nope", workspace=Workspace(tmp_path), show_progress=False)


def test_a_host_scan_without_native_nodules_has_no_native_sources(tmp_path):
    """A real host with no indexed nodule (e.g. an unannotated chest CT) gives an empty
    selection: it must keep its columns (a boolean list that is empty selects columns)."""
    from lesiontrials.paths import DataRoot
    from lesiontrials.slicing.sets import _with_masks

    rows = pd.DataFrame({"mask_path": pd.Series([], dtype=str),
                         "annotation_id": pd.Series([], dtype=str)})
    kept = _with_masks(DataRoot(tmp_path), rows)
    assert kept.empty and list(kept.columns) == ["mask_path", "annotation_id"]


def _tree_bytes(directory) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_slices_through_the_decoded_cache_equal_slices_without_it(tmp_path):
    from lesiontrials.io.decoded import DecodedCache, forget_remembered_crops

    root = _real_root(tmp_path)  # full-grid masks on the CT's grid, as the release has them
    cache = DecodedCache(tmp_path / "cache")
    outputs = []
    for name, used in (("plain", None), ("cold", cache), ("warm", cache)):
        forget_remembered_crops()  # each mode reads the masks itself
        ws = Workspace(tmp_path / name)
        build_real_set(data_root=root, workspace=ws, show_progress=False, decoded_cache=used)
        outputs.append(_tree_bytes(ws.root / "eval"))
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(cache.entries()) == 3  # the raw CT and the two masks' crops
    trials = [write_trial(tmp_path / f"trial_{n}") for n in range(2)]
    for trial, used in zip(trials, (None, cache), strict=True):
        forget_remembered_crops()
        build_eval_set(trial=TRIAL, workspace=trial.workspace, show_progress=False,
                       decoded_cache=used)
    assert _tree_bytes(trials[0].workspace.root / "eval") == _tree_bytes(
        trials[1].workspace.root / "eval")

def test_negatives_keep_off_the_volume_ends():
    area = np.full(20, 9000.0)
    z = negative_candidates(depth=20, excluded=[], lung_area=area, spacing_z_mm=1.0,
                            margin_mm=10.0, min_lung_area_mm2=5000.0, edge_mm=4.0)
    assert z.min() == 4 and z.max() == 15


def _as_slab(ws: Workspace, case: str, z0: int, z1: int) -> None:
    """Turn a written case into the slab ``[z0, z1)`` the insertion stage would keep:
    cut labels and CT, move the affine's origin, state the realised voxels on the slab."""
    from lesiontrials.io import read_record, write_record
    from lesiontrials.records.insert import InsertRecord

    case_dir = ws.case_dir(TRIAL, case)
    affine = AFFINE.copy()
    affine[:3, 3] = AFFINE[:3, :3] @ [0.0, 0.0, z0] + AFFINE[:3, 3]
    for name, kind in (("labels.nii.gz", VolumeKind.LABELS), ("ct.nii.gz", VolumeKind.CT)):
        whole = read_volume(case_dir / name)
        write_volume(case_dir / name, Volume(whole.array[:, :, z0:z1].copy(), affine), kind=kind)
    record = read_record(case_dir / "insert.json", InsertRecord)
    nodules = []
    for entry in record.nodules:
        realised = entry.realised
        x, y, z = realised.centroid_voxel
        box = realised.bbox_voxel
        nodules.append(entry.model_copy(update={"realised": realised.model_copy(update={
            "centroid_voxel": (x, y, z - z0),
            "bbox_voxel": (box[0], box[1], (box[2][0] - z0, box[2][1] - z0))})}))
    host = record.host.model_copy(update={"slab_z_voxels": (z0, z1)})
    write_record(record.model_copy(update={"nodules": nodules, "host": host}),
                 case_dir / "insert.json")


def test_a_slab_case_gives_the_same_positive_slice_as_its_whole_volume(fresh_trial, tmp_path):
    """A case whose CT is an axial slab (world-mm affine) is sliced at the same world z,
    into the same pixels, as the whole volume; its negative keeps off the slab's ends."""
    from evalsynth import write_trial

    whole = _items(fresh_trial)
    slab = write_trial(tmp_path / "slab")
    z0, z1 = 6, 24  # the nodule of t1-00000 lies around z = 17
    _as_slab(slab.workspace, "t1-00000", z0, z1)
    build_eval_set(trial=TRIAL, workspace=slab.workspace, show_progress=False)
    cut = _items(slab)
    key = ["case_uid", "kind", "condition"]
    a = whole[(whole.case_uid == "t1-00000") & (whole.kind == "positive")].sort_values(key)
    b = cut[(cut.case_uid == "t1-00000") & (cut.kind == "positive")].sort_values(key)
    assert len(a) == len(b) > 0
    assert (b.z_index.to_numpy() == a.z_index.to_numpy() - z0).all()
    for left, right in zip(a.image_path, b.image_path, strict=True):
        pixels = read_png(fresh_trial.workspace.eval_dir(TRIAL, "lung") / left)
        assert np.array_equal(pixels, read_png(slab.workspace.eval_dir(TRIAL, "lung") / right))
    negatives = cut[(cut.case_uid == "t1-00000") & (cut.kind == "negative")]
    depth, edge = z1 - z0, 1  # 4 mm slices: the 4 mm edge is one slice
    assert len(negatives) > 0 and negatives.z_index.between(edge, depth - 1 - edge).all()
