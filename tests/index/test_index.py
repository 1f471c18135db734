"""Index build through the release adapters, queries, matcher and bad-input errors."""

import numpy as np
import pandas as pd
import pytest

from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.index import (
    NoduleIndex,
    PlacementTarget,
    build_index,
    dataset_stats,
    match_donors,
    write_index,
)
from lesiontrials.io import VolumeKind, read_csv_table, write_csv, write_volume
from lesiontrials.measurements import profile_nodules
from lesiontrials.paths import DataRoot, Workspace
from lesiontrials.testing import box_thorax, sphere_mask, synthetic_profiles, write_release_profiles

SMALL = {"LUNA25": 40, "DLCS24": 30, "IMDCT": 20, "LUNA16": 12, "LNDbv4": 16, "NSCLCR": 8,
         "LUNGx": 6}


@pytest.fixture()
def release(tmp_path):
    return DataRoot(write_release_profiles(tmp_path / "root", SMALL))


def test_release_adapters_map_identity_and_labels(release):
    table = build_index(release).table
    counts = table.groupby("dataset").size().to_dict()
    assert counts["LNDbv4"] == 8  # 16 reader rows, every second one repeats a nodule
    assert (table.loc[table.dataset == "LNDbv4", "n_readers"] == 2).all()
    assert {k: v for k, v in counts.items() if k != "LNDbv4"} == {
        k: v for k, v in SMALL.items() if k != "LNDbv4"}
    assert table.loc[table.dataset == "LUNA16", "label"].isna().all()
    assert (table.loc[table.dataset == "NSCLCR", "label"] == 1).all()
    raw = read_csv_table(release.profiles_csv("IMDCT"))
    imdct = table[table.dataset == "IMDCT"]
    assert imdct.label.sum() == (raw.CADx_label == "cancer").sum()
    assert imdct.mask_path.str.endswith("_seg.nii.gz").all()
    dlcs = table[table.dataset == "DLCS24"]
    assert set(dlcs.sex) <= {"M", "F"} and dlcs.age.between(50, 80).all()
    assert table.nodule_uid.is_unique
    assert set(table.lobe_name) <= {"right_lung_upper_lobe", "right_lung_middle_lobe",
                                    "right_lung_lower_lobe", "left_lung_upper_lobe",
                                    "left_lung_lower_lobe"}
    nsclc = table[table.dataset == "NSCLCR"]
    assert nsclc.survival_time_days.notna().all() and (nsclc.histology != "").all()


def test_lndb_label_is_reader_mean_malignancy_at_least_3(tmp_path):
    frame = synthetic_profiles("LNDbv4", 4, seed=1)
    frame.loc[1, ["ct_path", "coordX", "coordY", "coordZ", "PatientID"]] = frame.loc[
        0, ["ct_path", "coordX", "coordY", "coordZ", "PatientID"]].to_numpy()
    frame["Malignancy"] = [2, 4, 2, 3]  # nodule A: mean 3 → malignant; B alone 2 → benign
    frame.loc[3, "coordX"] = frame.loc[2, "coordX"] + 200  # far away: a separate nodule
    write_csv(frame, tmp_path / "profiles" / "LNDbv4_nodule_profiles.csv")
    table = build_index(DataRoot(tmp_path)).table.set_index("annotation_id")
    assert table.loc["LNDbv4-A000000", "label"] == 1
    assert table.loc["LNDbv4-A000000", "n_readers"] == 2


def test_imdct_ids_do_not_depend_on_row_order(tmp_path):
    frame = synthetic_profiles("IMDCT", 10)
    write_csv(frame, tmp_path / "a" / "profiles" / "IMDCT_nodule_profiles.csv")
    write_csv(frame.iloc[::-1], tmp_path / "b" / "profiles" / "IMDCT_nodule_profiles.csv")
    ids_a = set(build_index(DataRoot(tmp_path / "a")).table.annotation_id)
    ids_b = set(build_index(DataRoot(tmp_path / "b")).table.annotation_id)
    assert ids_a == ids_b and len(ids_a) == 10


def test_build_is_deterministic_and_written_atomically(release, tmp_path):
    workspace = Workspace(tmp_path / "ws")
    first = write_index(build_index(release), workspace).read_bytes()
    second = write_index(build_index(release), workspace).read_bytes()
    assert first == second
    loaded = NoduleIndex.load(workspace.index_table)
    assert len(loaded) == len(build_index(release).table)
    assert workspace.index_info.is_file()


def _write_bad(release, dataset, mutate):
    frame = read_csv_table(release.profiles_csv(dataset))
    frame = mutate(frame)
    write_csv(frame, release.profiles_csv(dataset))


@pytest.mark.parametrize(("mutate", "pattern"), [
    (lambda f: f.drop(columns=["pleural_distance_mm"]),
     r"LUNA25_nodule_profiles\.csv, column 'pleural_distance_mm': missing required column"),
    (lambda f: f.assign(nodule_vol_mm3=["big"] + list(f.nodule_vol_mm3[1:])),
     r"row 1, column 'nodule_vol_mm3': expected a number, found 'big'"),
    (lambda f: f.assign(lobe_name=list(f.lobe_name[:2]) + ["left middle lobe"]
                        + list(f.lobe_name[3:])),
     r"row 3, column 'lobe_name': unknown value 'left middle lobe'"),
    (lambda f: f.assign(AnnotationID=["dup", "dup"] + list(f.AnnotationID[2:])),
     r"duplicate annotation id 'dup' in rows \[1, 2\]"),
    (lambda f: f.assign(label=["maybe"] + list(f.label[1:])),
     r"row 1, column 'label': unknown label value 'maybe'"),
])
def test_bad_profile_tables_name_file_row_column_and_fix(release, tmp_path, mutate, pattern):
    workspace = Workspace(tmp_path / "ws")
    write_index(build_index(release), workspace)
    before = workspace.index_table.read_bytes()
    _write_bad(release, "LUNA25", mutate)
    with pytest.raises(InputError, match=pattern) as caught:
        write_index(build_index(release), workspace)
    assert "Fix:" in str(caught.value)
    assert workspace.index_table.read_bytes() == before  # the old index is untouched


def test_missing_data_root_names_the_setting(tmp_path):
    with pytest.raises(MissingPathError, match="LESIONTRIALS_DATA_ROOT"):
        build_index(DataRoot(tmp_path / "nowhere"))


def test_queries(release):
    index = NoduleIndex(build_index(release).table)
    table = index.table
    q = index.query().dataset("LUNA25", "DLCS24").label(1).lobe("RUL", "right lower")
    expected = table[table.dataset.isin(["LUNA25", "DLCS24"]) & (table.label == 1)
                     & table.lobe_name.isin(["right_lung_upper_lobe", "right_lung_lower_lobe"])]
    assert q.uids() == expected.nodule_uid.tolist()
    sized = index.query().diameter(5, 10).pleural_distance(high_mm=50).count()
    assert sized == int((table.nodule_mean_diam_mm.between(5, 10)
                         & (table.pleural_distance_mm <= 50)).sum())
    assert index.query().label(None).count() == int(table.label.isna().sum())
    assert index.query().diameter().between("pleural_distance_mm").count() == len(table)
    assert index.query().side("L").count() == int((table.lung_side == "left").sum())
    multi = index.query().multiplicity(low=3).frame()
    assert (multi.n_nodules_in_patient >= 3).all()
    with pytest.raises(ValueError):
        index.query().lobe("spleen")


def test_matcher_prefers_same_lobe_and_size(release):
    index = NoduleIndex(build_index(release).table)
    target = PlacementTarget(lobe="LLL", diameter_mm=8.0)
    best = match_donors(index, target, k=5)
    assert len(best) == 5 and best.match_distance.is_monotonic_increasing
    assert (best.reinsertion_lobe == "left_lung_lower_lobe").all()
    pool = index.table[index.table.reinsertion_lobe == "left_lung_lower_lobe"]
    closest = (pool.reinsertion_nodule_diam_mm - 8.0).abs().min()
    assert abs(best.iloc[0].reinsertion_nodule_diam_mm - 8.0) == pytest.approx(closest)
    only_luna = match_donors(index, target, k=3,
                             candidates=index.query().dataset("LUNA16").mask())
    assert (only_luna.dataset == "LUNA16").all()


def test_stats_per_dataset(release):
    stats = dataset_stats(build_index(release).table).set_index("dataset")
    assert stats.loc["ALL", "nodules"] == stats.drop("ALL").nodules.sum()
    assert stats.loc["NSCLCR", "malignant_rate"] == 1.0
    assert np.isnan(stats.loc["LUNA16", "malignant_rate"])
    size_columns = [c for c in stats.columns if c.startswith("size ")]
    np.testing.assert_allclose(stats[size_columns].sum(axis=1), 1.0)


@pytest.mark.parametrize(("dataset", "identity"), [
    ("MYDS", {"PatientID": "p1", "label": [1, 0]}),  # generic adapter
    ("DLCS24", {"patient-id": "p1", "label": [1, 0], "Age": 61, "Sex": "Female"}),
    ("LUNGx", {"PatientID": "p1", "CADx_label": ["malignant", "benign"]}),
])
def test_profiles_from_the_profiler_load_through_the_adapters(tmp_path, dataset, identity):
    """Fixture in the release layout: profiler output → CSV → index, unchanged values."""
    thorax = box_thorax()
    root = DataRoot(tmp_path / "root")
    write_volume(root.refined_seg(dataset, "scan1"), thorax.volume, kind=VolumeKind.LABELS)
    masks = [sphere_mask(thorax.volume.shape, c, 5.0, thorax.spacing_mm)
             for c in ((70, 40, 60), (25, 40, 30))]
    profiles = profile_nodules(thorax.volume, masks, nodule_ids=["n1", "n2"],
                               ct_path=f"{dataset}/scan1.nii.gz")
    profiles = profiles.rename(columns={"nodule_id": "AnnotationID"}).assign(**identity)
    write_csv(profiles, root.profiles_csv(dataset))
    table = build_index(root).table.set_index("annotation_id")
    assert table.loc["n1", "lobe_name"] == "right_lung_upper_lobe"
    assert table.loc["n1", "host_available"] and table.loc["n1", "patient_id"] == "p1"
    assert table.loc["n1", "label"] == 1 and table.loc["n2", "label"] == 0
    original = profiles.set_index("AnnotationID")
    for column in ("nodule_mean_diam_mm", "pleural_distance_mm", "cranio_caudal_pct",
                   "dist_to_heart_mm", "reinsertion_lobe_cc_pct"):
        assert table.loc["n1", column] == pytest.approx(original.loc["n1", column])
    assert table.loc["n1", "nearest_nodule_id"] == "n2"
    if dataset == "DLCS24":
        assert table.loc["n1", "age"] == 61 and table.loc["n1", "sex"] == "F"
    else:
        assert pd.isna(table.loc["n1", "age"])


def test_quality_flags_count_out_of_range_missing_and_derived(tmp_path):
    from lesiontrials.index.stats import quality_table

    dlcs = synthetic_profiles("DLCS24", 6, seed=2)
    dlcs["lobe_ml_pct"] = [150.0, -5.0, 50.0, 100.0, 0.0, 209.96]
    dlcs["reinsertion_lobe_ap_pct"] = [np.nan, 20.0, 30.0, 101.0, 40.0, 50.0]
    write_csv(dlcs, tmp_path / "profiles" / "DLCS24_nodule_profiles.csv")
    write_csv(synthetic_profiles("IMDCT", 4), tmp_path / "profiles" / "IMDCT_nodule_profiles.csv")
    built = build_index(DataRoot(tmp_path))
    quality = built.info["datasets"]["DLCS24"]["quality"]
    assert quality["lobe_ml_pct"] == {"out_of_range": 3}
    assert quality["reinsertion_lobe_ap_pct"] == {"out_of_range": 1, "missing": 1}
    rows = built.table[built.table.dataset == "DLCS24"].sort_values("source_row")
    assert rows.lobe_ml_pct.tolist() == dlcs.lobe_ml_pct.tolist()  # kept as read
    assert rows.quality_flags.tolist() == [
        "lobe_ml_pct:out_of_range", "lobe_ml_pct:out_of_range", "",
        "reinsertion_lobe_ap_pct:out_of_range", "", "lobe_ml_pct:out_of_range"]
    imdct = built.info["datasets"]["IMDCT"]["quality"]
    derived = {c for c, f in imdct.items() if "derived" in f}
    assert {"annotation_id", "label", "mask_path"} <= derived
    assert set(built.table.loc[built.table.dataset == "IMDCT", "mask_scope"]) == {"scan"}
    assert set(rows.mask_scope) == {"nodule"}
    flags = quality_table(built.info)
    row = flags[(flags.dataset == "DLCS24") & (flags.column == "lobe_ml_pct")].iloc[0]
    assert row.out_of_range == 3 and row.missing == 0


def test_stats_count_scans_and_hosts_by_dataset_and_scan_id(tmp_path):
    for dataset in ("LUNA25", "DLCS24"):
        frame = synthetic_profiles(dataset, 4)
        frame["ct_path"] = f"{dataset}/S1.nii.gz"  # the same scan id in two datasets
        write_csv(frame, tmp_path / "profiles" / f"{dataset}_nodule_profiles.csv")
    table = build_index(DataRoot(tmp_path)).table
    table["host_available"] = True
    stats = dataset_stats(table).set_index("dataset")
    assert stats.loc["ALL", "scans"] == 2 and stats.loc["ALL", "hosts"] == 2
    assert stats.loc["LUNA25", "scans"] == 1


def test_matcher_treats_out_of_range_percents_as_missing(tmp_path):
    frame = synthetic_profiles("DLCS24", 3, seed=4)
    for column in frame.columns:
        if column.startswith("reinsertion_") and frame[column].dtype.kind == "f":
            frame[column] = 50.0
    frame["reinsertion_lobe"] = "RUL"
    frame["reinsertion_lobe_ml_pct"] = [150.0, np.nan, 50.0]
    write_csv(frame, tmp_path / "profiles" / "DLCS24_nodule_profiles.csv")
    index = NoduleIndex(build_index(DataRoot(tmp_path)).table)
    ranked = match_donors(index, PlacementTarget(lobe="RUL", lobe_ml_pct=50.0), k=3)
    distance = ranked.set_index("reinsertion_lobe_ml_pct", drop=False)["match_distance"]
    out_of_range = ranked.loc[ranked.reinsertion_lobe_ml_pct == 150.0, "match_distance"]
    missing = ranked.loc[ranked.reinsertion_lobe_ml_pct.isna(), "match_distance"]
    assert float(out_of_range.iloc[0]) == pytest.approx(float(missing.iloc[0]))
    assert float(distance.loc[50.0]) < float(missing.iloc[0])
    row = index.table[index.table.reinsertion_lobe_ml_pct == 150.0].iloc[0]
    assert PlacementTarget.from_row(row).lobe_ml_pct is None
