"""Patient identity: no design that excludes the donor's own patient may pair a donor (or
a companion) with a host scan of that patient, including another study of the patient.

The context has one dataset whose patients each have two studies (two scans, one patient
id), so excluding only the donor's own scan would not be enough."""

from __future__ import annotations

import pandas as pd
import pytest

from lesiontrials.index import NoduleIndex, build_index
from lesiontrials.paths import DataRoot
from lesiontrials.testing import write_release_profiles
from lesiontrials.trials import PlanContext, hosts_from_index, plan_design


@pytest.fixture(scope="module")
def two_study_ctx(tmp_path_factory) -> PlanContext:
    root = write_release_profiles(tmp_path_factory.mktemp("twostudies"), {"DLCS24": 160}, seed=3)
    table = build_index(DataRoot(root)).table
    table["mask_available"] = True
    table["host_available"] = True
    scans = sorted(table["ct_id"].unique())
    patient_of = {scan: f"DLCS24-P{i // 2:03d}" for i, scan in enumerate(scans)}
    table["patient_id"] = table["ct_id"].map(patient_of)
    index = NoduleIndex(table)
    return PlanContext(index, hosts_from_index(index))


def _same_patient(manifest: pd.DataFrame) -> pd.Series:
    rows = manifest[~manifest["nodule_free"]]
    return ((rows["donor_dataset"] + "|" + rows["donor_patient_id"])
            == (rows["host_dataset"] + "|" + rows["host_patient_id"]))


def test_the_fixture_has_two_studies_per_patient(two_study_ctx):
    studies = two_study_ctx.hosts.groupby("host_patient_id")["host_ct_id"].nunique()
    assert (studies == 2).all()


@pytest.mark.parametrize("design", [1, 2, 3, 4, 5, 7, 8, 9, 10, 13, 14])
def test_no_design_pairs_a_donor_with_its_own_patient(two_study_ctx, design):
    for seed in range(3):
        manifest = plan_design(two_study_ctx, design, seed=seed, size="demo").manifest
        assert not _same_patient(manifest).any(), (design, seed)


def test_random_companions_never_come_from_the_host_patient(two_study_ctx):
    companions = 0
    for seed in range(4):
        manifest = plan_design(two_study_ctx, "multi_nodule", seed=seed, size="demo",
                               params={"n_cases": 60}).manifest
        companions += int((~manifest["primary"]).sum())
        assert not _same_patient(manifest).any(), seed
    assert companions > 300  # enough draws that a same-patient companion would show up
