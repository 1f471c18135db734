"""The shared sampler and the 14 designs: counts, structure, constraints, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lesiontrials import anatomy
from lesiontrials.trials import DESIGNS, parse_spec, plan_design, plan_spec, write_plan
from lesiontrials.trials.manifest import MANIFEST_COLUMN_NAMES


def _spec(**fields):
    return parse_spec({"name": "t", "n_cases": 40, **fields})


def _primary(manifest: pd.DataFrame) -> pd.DataFrame:
    return manifest[manifest["primary"]]


def test_exact_prevalence_and_nodule_free_fraction(plan_ctx):
    manifest = plan_spec(plan_ctx, _spec(prevalence=0.25, nodule_free_fraction=0.2,
                                         donors={"include": ["LUNA25", "DLCS24"]})).manifest
    primary = _primary(manifest)
    assert len(primary) == 40 and primary["nodule_free"].sum() == 8
    nodules = primary[~primary["nodule_free"]]
    assert (nodules["label"] == 1).sum() == 8 and (nodules["label"] == 0).sum() == 24
    free = primary[primary["nodule_free"]]
    assert (free["donor_uid"] == "").all() and free["label"].isna().all()


def test_labels_are_the_donors_real_labels(plan_ctx):
    manifest = plan_spec(plan_ctx, _spec(prevalence=0.5)).manifest
    table = plan_ctx.index.table.set_index("nodule_uid")
    nodules = manifest[~manifest["nodule_free"]]
    real = table.loc[nodules["donor_uid"], "label"].to_numpy()
    np.testing.assert_array_equal(nodules["label"].to_numpy(dtype=float), real.astype(float))


def test_size_buckets_lobes_and_scaling_bounds(plan_ctx):
    spec = _spec(size={"bucket_weights": {"5-10": 0.5, "10-15": 0.5}},
                 scaling={"mode": "jitter", "jitter": 0.3, "bounds": [0.8, 1.25]},
                 placement={"mode": "prescribed", "lobe_cc_pct": {"min": 40, "max": 60}},
                 lobes={"RML": 1})
    manifest = plan_spec(plan_ctx, spec).manifest
    donor_bins = [anatomy.profile_size_bin(d) for d in manifest["donor_diameter_mm"]]
    assert donor_bins.count("5-10") == 20 and donor_bins.count("10-15") == 20
    assert manifest["scale"].between(0.8, 1.25).all()
    np.testing.assert_allclose(manifest["planned_diameter_mm"],
                               manifest["donor_diameter_mm"] * manifest["scale"])
    assert (manifest["target_lobe"] == "right_lung_middle_lobe").all()
    assert manifest["target_lobe_cc_pct"].between(40, 60).all()


def test_profile_faithful_keeps_donor_location_and_filters_constraints(plan_ctx):
    spec = _spec(zones=["upper"], sides=["right"], pleural_distance_mm={"max": 50})
    manifest = plan_spec(plan_ctx, spec).manifest
    table = plan_ctx.index.table.set_index("nodule_uid").loc[manifest["donor_uid"]]
    assert (table["lung_zone"] == "upper_zone").all() and (table["lung_side"] == "right").all()
    assert (table["pleural_distance_mm"] <= 50).all()
    np.testing.assert_array_equal(manifest["target_lobe"], table["reinsertion_lobe"])
    np.testing.assert_allclose(manifest["target_lobe_cc_pct"], table["reinsertion_lobe_cc_pct"])


def test_never_host_a_donor_in_its_own_patient(plan_ctx):
    manifest = plan_spec(plan_ctx, _spec(n_cases=200, donors={"include": ["NSCLCR"]},
                                         hosts={"include": ["NSCLCR"]})).manifest
    nodules = manifest[~manifest["nodule_free"]]
    assert (nodules["donor_patient_id"] != nodules["host_patient_id"]).all()


def test_demographic_strata_in_a_spec(plan_ctx):
    spec = _spec(demographics={"strata": [
        {"name": "men 55-65", "sex": ["M"], "age": {"min": 55, "max": 64.99}},
        {"name": "women 65-80", "sex": ["F"], "age": {"min": 65, "max": 80}}]})
    primary = _primary(plan_spec(plan_ctx, spec).manifest)
    men = primary[primary["stratum"] == "men 55-65"]
    women = primary[primary["stratum"] == "women 65-80"]
    assert len(men) == len(women) == 20
    assert (men["sex"] == "M").all() and men["age"].between(55, 65).all()
    assert (women["sex"] == "F").all() and women["age"].between(65, 80).all()


def test_stratify_by_label_allocates_equally(plan_ctx):
    primary = _primary(plan_spec(plan_ctx, _spec(stratify_by=["label"],
                                                 donors={"include": ["LUNA25"]})).manifest)
    assert primary["label"].value_counts().to_dict() == {1: 20, 0: 20}


def test_random_companions_never_duplicate_the_primary(plan_ctx):
    manifest = plan_spec(plan_ctx, _spec(companions={"strategy": "random",
                                                     "count": {"min": 1, "max": 2}})).manifest
    for _, case in manifest.groupby("case_uid"):
        assert case["primary"].sum() == 1 and case["donor_uid"].is_unique
        assert 2 <= len(case) <= 3
    assert (manifest.loc[~manifest["primary"], "label"] == 0).all()


def test_same_inputs_give_byte_identical_manifests(plan_ctx, tmp_path):
    from lesiontrials.paths import Workspace

    first = write_plan(plan_design(plan_ctx, 1, size="demo", seed=7), Workspace(tmp_path / "a"))
    second = write_plan(plan_design(plan_ctx, 1, size="demo", seed=7), Workspace(tmp_path / "b"))
    for name in ("manifest.parquet", "manifest.csv", "plan.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    other = plan_design(plan_ctx, 1, size="demo", seed=8).manifest
    assert not other["donor_uid"].equals(pd.read_parquet(first / "manifest.parquet")["donor_uid"])


@pytest.mark.parametrize("number", sorted(DESIGNS))
def test_every_design_builds_a_valid_manifest(plan_ctx, number):
    plan = plan_design(plan_ctx, number, size="demo", seed=1)
    manifest = plan.manifest
    assert list(manifest.columns) == list(MANIFEST_COLUMN_NAMES)
    assert manifest["case_uid"].str.startswith(plan.name).all()
    assert (manifest.groupby("case_uid")["primary"].sum() == 1).all()
    assert plan.info["design_number"] == number
    assert plan.info["audit"]["cases"] == manifest["case_uid"].nunique()


def test_design_counts_per_stratum(plan_ctx):
    sizes = plan_design(plan_ctx, "size_detection_curve", size="demo").manifest
    assert (sizes.groupby("stratum").size() == 5).all()
    for stratum, rows in sizes.groupby("stratum"):
        bins = {anatomy.profile_size_bin(d) for d in rows["donor_diameter_mm"]}
        assert bins == {stratum.removeprefix("size ")}
    lobes = plan_design(plan_ctx, 3, size="demo").manifest
    assert lobes.groupby("stratum").size().to_dict() == {
        f"lobe {lobe.name}": 5 for lobe in anatomy.Lobe}
    for lobe in anatomy.Lobe:
        rows = lobes[lobes["stratum"] == f"lobe {lobe.name}"]
        assert (rows["target_lobe"] == lobe.value).all()
        assert rows["donor_diameter_mm"].between(6, 15).all()
    index_diameters = plan_ctx.index.array("nodule_mean_diam_mm")
    assert (index_diameters > 30).any(), "the fixture must hold a mass for this check"
    sources = plan_design(plan_ctx, "cross_dataset", size="paper").manifest
    assert sources["donor_diameter_mm"].max() <= 30.0  # nodules only: masses may fit no lobe
    wide = plan_design(plan_ctx, "cross_dataset", size="paper",
                       params={"spec": {"size": {"diameter_mm": {"max": 80}}}}).manifest
    assert wide["donor_diameter_mm"].max() > 30.0
    paper = plan_design(plan_ctx, 1, size="paper").manifest
    assert paper["case_uid"].nunique() == 1000
    assert (paper["label"] == 1).sum() == 50  # NLST cohort at prevalence 0.05, exact


def test_demographic_design_really_stratifies_hosts(plan_ctx):
    manifest = plan_design(plan_ctx, 4, size="demo").manifest
    assert manifest.groupby("stratum").size().to_dict() == {
        "F 55-65": 5, "F 65-75": 5, "M 55-65": 5, "M 65-75": 5}
    for stratum, rows in manifest.groupby("stratum"):
        sex, band = stratum.split()
        low, high = map(float, band.split("-"))
        assert (rows["sex"] == sex).all() and rows["age"].between(low, high, "left").all()


def test_counterfactual_and_screening_rounds(plan_ctx):
    sweep = plan_design(plan_ctx, 5, size="paper", params={"n_per_stratum": 200}).manifest
    achieved = sweep.groupby("sweep_value")["label"].mean()
    np.testing.assert_allclose(achieved.to_numpy(), [0.01, 0.05, 0.10, 0.20], atol=1e-9)
    # All else equal: a case keeps its host unless its donor (in either sweep value) is
    # that host's patient, which forces a redraw; here that is rare.
    groups = [rows.reset_index(drop=True) for _, rows in sweep.groupby("sweep_value")]
    for rows in groups[1:]:
        same = (rows["host_ct_id"] == groups[0]["host_ct_id"]).to_numpy(dtype=bool)
        same_donor = (rows["donor_uid"] == groups[0]["donor_uid"]).to_numpy(dtype=bool)
        assert same[same_donor].all() and same.mean() > 0.95
    rounds = plan_design(plan_ctx, 9, size="paper", params={"n_per_stratum": 500,
                                                            "longitudinal": False}).manifest
    for r, rows in rounds.groupby("round"):
        assert rows["label"].mean() == pytest.approx(round(500 * 0.04 * 0.7**r) / 500)


def test_bootstrap_replicates_are_resamples_of_the_base(plan_ctx):
    manifest = plan_design(plan_ctx, 7, size="demo", params={"replicates": 4}).manifest
    base = manifest[manifest["replicate"] == 0]
    assert base["case_uid"].nunique() == 5
    columns = ["host_ct_id", "donor_uid", "label", "target_lobe", "planned_diameter_mm"]
    base_rows = base.set_index("case_uid")[columns]
    for r in range(1, 5):
        rows = manifest[manifest["replicate"] == r]
        assert len(rows) == 5 and set(rows["source_case_uid"]) <= set(base["case_uid"])
        pd.testing.assert_frame_equal(
            rows.set_index("source_case_uid")[columns].rename_axis("case_uid"),
            base_rows.loc[rows["source_case_uid"]])
        assert not set(rows["case_uid"]) & set(base["case_uid"])


def test_twins_reference_their_own_scan_and_native_location(plan_ctx):
    table = plan_ctx.index.table.set_index("nodule_uid")
    isolation = plan_design(plan_ctx, 11, size="demo").manifest
    assert isolation["primary"].all() and (isolation["placement"] == "native").all()
    donors = table.loc[isolation["donor_uid"]]
    np.testing.assert_array_equal(isolation["host_ct_id"], donors["ct_id"])
    np.testing.assert_array_equal(isolation["host_dataset"], donors["dataset"])
    np.testing.assert_allclose(isolation[["target_x_mm", "target_y_mm", "target_z_mm"]],
                               donors[["coordX", "coordY", "coordZ"]])
    assert isolation["host_ct_id"].nunique() == 5
    complete = plan_design(plan_ctx, 12, size="demo").manifest
    assert complete["case_uid"].nunique() == 5
    for _, case in complete.groupby("case_uid"):
        scan = case["host_ct_id"].iloc[0]
        assert (case["host_ct_id"] == scan).all()
        assert set(case["donor_uid"]) == set(
            table.index[(table["ct_id"] == scan) & (table["dataset"] == case[
                "host_dataset"].iloc[0])])


def test_twin_cross_pairing_structure(plan_ctx):
    cross = plan_design(plan_ctx, 13, size="demo", params={"hosts_per_donor": 4}).manifest
    assert cross["donor_uid"].nunique() == 5
    assert (cross.groupby("donor_uid")["host_ct_id"].nunique() == 4).all()
    assert (cross.groupby("host_ct_id")["donor_uid"].nunique() >= 3).all()
    assert (cross.groupby("host_ct_id")["donor_uid"].nunique() > 1).any()  # crossed
    assert (cross["donor_patient_id"] != cross["host_patient_id"]).all()
    assert (cross["pairing"] == "one_to_many").all()
    one = plan_design(plan_ctx, 13, size="demo", params={"pairing": "one_to_one"}).manifest
    assert one["donor_uid"].is_unique and len(one) == 5
    whole = plan_design(plan_ctx, 13, size="demo", params={"pairing": "whole_patient"}).manifest
    assert whole["case_uid"].nunique() == 15  # 5 donor scans x 3 hosts each
    for _, case in whole.groupby("case_uid"):
        assert case["donor_patient_id"].nunique() == 1 and case["host_ct_id"].nunique() == 1


def test_targeted_design_builds_around_failures(plan_ctx):
    table = plan_ctx.index.table
    failure = table[(table.dataset == "LUNA25") & (table.lobe_name == "left_lung_lower_lobe")
                    ].iloc[0]
    plan = plan_design(plan_ctx, "targeted", size="demo",
                       params={"failure_uids": [failure["nodule_uid"]]})
    manifest = plan.manifest
    assert len(manifest) == 5 and (manifest["target_lobe"] == "left_lung_lower_lobe").all()
    assert failure["nodule_uid"] not in set(manifest["donor_uid"])
    spread = (manifest["donor_diameter_mm"] - failure["nodule_mean_diam_mm"]).abs()
    overall = (table["nodule_mean_diam_mm"] - failure["nodule_mean_diam_mm"]).abs().median()
    assert spread.median() < overall
    cc = failure["reinsertion_lobe_cc_pct"]
    assert manifest["target_lobe_cc_pct"].between(cc - 10, cc + 10).all()


@pytest.mark.parametrize("scaling", ["none", "to_target_size"])
def test_lognormal_size_distribution_is_realised(plan_ctx, scaling):
    spec = _spec(n_cases=300, size={"lognormal_median_mm": 12.0, "lognormal_sigma": 0.25},
                 scaling={"mode": scaling})
    planned = plan_spec(plan_ctx, spec).manifest["planned_diameter_mm"]
    assert np.median(planned) == pytest.approx(12.0, rel=0.1)
    assert np.std(np.log(planned)) == pytest.approx(0.25, rel=0.3)


def test_size_stated_in_appearance_sets_every_planned_diameter(plan_ctx):
    spec = _spec(template="NLST", appearance="render every donor as a 6 mm ground-glass nodule",
                 scaling={"bounds": [0.5, 2.0]})
    assert spec.stated_diameter_mm == 6.0
    manifest = plan_spec(plan_ctx, spec).manifest
    nodules = manifest[~manifest["nodule_free"]]
    assert len(nodules) > 0 and (nodules["planned_diameter_mm"] == 6.0).all()
    np.testing.assert_allclose(nodules["scale"], 6.0 / nodules["donor_diameter_mm"])
    # only donors that reach 6 mm within the bounds (3–12 mm) are eligible
    assert nodules["donor_diameter_mm"].between(3.0, 12.0).all()
    assert (nodules["appearance"] == spec.appearance).all()


def test_size_stated_twice_or_against_jitter_is_refused():
    from lesiontrials.errors import InputError

    with pytest.raises(InputError, match="give the size in one place"):
        _spec(appearance="8 mm solid nodule", size={"diameter_mm": {"min": 4, "max": 30}})
    with pytest.raises(InputError, match="jitter"):
        _spec(appearance="8 mm solid nodule", scaling={"mode": "jitter"})
    assert _spec(appearance="spiculated solid nodule").stated_diameter_mm is None


def test_stated_size_no_donor_can_reach_is_infeasible(plan_ctx):
    from lesiontrials.errors import InputError

    spec = _spec(appearance="60 mm solid mass", scaling={"bounds": [0.9, 1.1]})
    with pytest.raises(InputError, match="size stated in appearance"):
        plan_spec(plan_ctx, spec)


def test_twin_designs_refuse_a_stated_size(plan_ctx):
    from lesiontrials.errors import InputError

    with pytest.raises(InputError, match="native size"):
        plan_design(plan_ctx, 12, size="demo", seed=1,
                    params={"spec": {"appearance": "6 mm ground-glass nodule"}})


def test_donor_uids_restrict_the_pool_and_unknown_uids_are_named(plan_ctx):
    from lesiontrials.errors import InputError

    uids = plan_ctx.index.array("nodule_uid")[:7].tolist()
    manifest = plan_spec(plan_ctx, _spec(n_cases=7, donor_uids=uids)).manifest
    assert sorted(manifest["donor_uid"]) == sorted(uids)  # each listed donor once
    with pytest.raises(InputError, match="not in the nodule index") as error:
        plan_spec(plan_ctx, _spec(n_cases=2, donor_uids=[*uids[:1], "LUNA25/nope"]))
    assert "LUNA25/nope" in str(error.value)


def test_a_spec_naming_a_design_with_params_is_planned_by_that_design(plan_ctx):
    failure = plan_ctx.index.table[plan_ctx.index.table["lobe_name"] != ""].iloc[0]
    spec = _spec(design="targeted", n_cases=3, seed=5,
                 params={"failure_uids": [failure["nodule_uid"]]})
    result = plan_spec(plan_ctx, spec)
    manifest = result.manifest
    assert len(manifest) == 3 and (manifest["design"] == "targeted").all()
    assert (manifest["target_lobe"] == failure["lobe_name"]).all()
    assert (manifest["trial"] == "t").all()


def _ctx_with_out_of_range(tmp_path):
    from lesiontrials.index import NoduleIndex, build_index
    from lesiontrials.io import write_csv
    from lesiontrials.paths import DataRoot
    from lesiontrials.testing import synthetic_profiles
    from lesiontrials.trials import PlanContext, hosts_from_index

    frame = synthetic_profiles("DLCS24", 40, seed=5)
    frame["reinsertion_lobe_ml_pct"] = 150.0 + np.arange(40)  # every row out of range
    frame.loc[::2, "reinsertion_lobe_ap_pct"] = -20.0
    write_csv(frame, tmp_path / "profiles" / "DLCS24_nodule_profiles.csv")
    table = build_index(DataRoot(tmp_path)).table
    table["mask_available"] = True
    table["host_available"] = True
    index = NoduleIndex(table)
    return PlanContext(index, hosts_from_index(index))


def test_out_of_range_donor_percents_fall_back_inside_the_lobe_and_are_counted(tmp_path):
    ctx = _ctx_with_out_of_range(tmp_path)
    plan = plan_spec(ctx, _spec(n_cases=12, placement={"mode": "profile_faithful"}))
    rows = _primary(plan.manifest)
    assert rows["target_lobe_ml_pct"].isna().all()  # free: drawn inside the lobe at insert
    ap = ctx.index.table.set_index("nodule_uid").loc[rows["donor_uid"],
                                                      "reinsertion_lobe_ap_pct"].to_numpy()
    np.testing.assert_array_equal(rows["target_lobe_ap_pct"].isna().to_numpy(), ap < 0)
    expected = np.where(ap < 0, "ml,ap", "ml")
    assert rows["target_pct_fallback"].tolist() == expected.tolist()
    assert plan.info["audit"]["percent_fallbacks"] == {"DLCS24": 12}
    warnings = [w for c in plan.info["cohorts"] for w in c["warnings"]]
    assert any(w.startswith("percent_fallback: 12 ") and "DLCS24 ml: 12" in w for w in warnings)


def test_targeted_builds_ranges_from_valid_percents_only(tmp_path):
    ctx = _ctx_with_out_of_range(tmp_path)
    plan = plan_design(ctx, "targeted", size="demo")
    placement = plan.info["spec"]["placement"]
    assert placement["lobe_ml_pct"] == {"min": 0.0, "max": 100.0}  # left free
    assert any("reinsertion_lobe_ml_pct" in n and "out_of_range" in n
               for n in plan.info["notes"])
    nodules = _primary(plan.manifest)
    assert nodules["target_lobe_ml_pct"].between(0, 100).all()


def test_zones_restrict_the_drawn_lobes_and_travel_to_placement(plan_ctx):
    plan = plan_spec(plan_ctx, _spec(zones=["upper"], position="central",
                                     placement={"mode": "random"}))
    rows = _primary(plan.manifest)
    assert set(rows["target_lobe"]) <= {"right_lung_upper_lobe", "left_lung_upper_lobe"}
    assert set(rows["target_zones"]) == {"upper_zone"}
    assert set(rows["target_position"]) == {"central"}


def test_a_zone_no_requested_lobe_reaches_is_refused_at_planning(plan_ctx):
    from lesiontrials.errors import InputError

    with pytest.raises(InputError, match="no lobe satisfies"):
        plan_spec(plan_ctx, _spec(zones=["upper"], lobes={"RLL": 1.0},
                                  placement={"mode": "prescribed"}))
