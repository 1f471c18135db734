"""The cross design (13) as a donor × host block design: crossing, growth, placement,
patient identity, determinism and the power statement in plan.json."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lesiontrials.errors import InputError
from lesiontrials.index import NoduleIndex
from lesiontrials.paths import Workspace
from lesiontrials.trials import PlanContext, hosts_from_index, plan_design, write_plan
from lesiontrials.trials.cross import block_pairs, n_hosts_for
from lesiontrials.trials.cross_power import design_power


def _cross(ctx, size="demo", **params):
    return plan_design(ctx, 13, size=size, params=params)


def _patients(frame: pd.DataFrame, side: str) -> pd.Series:
    return frame[f"{side}_dataset"].astype(str) + "|" + frame[f"{side}_patient_id"].astype(str)


@pytest.mark.parametrize(("size", "donors", "per"), [("demo", 5, 3), ("paper", 42, 6)])
def test_every_donor_meets_several_hosts_and_every_host_several_donors(plan_ctx, size, donors,
                                                                       per):
    plan = _cross(plan_ctx, size)
    manifest = plan.manifest
    primary = manifest[manifest["primary"]]
    hosts_of = primary.groupby("donor_uid")["host_ct_id"].nunique()
    donors_of = primary.groupby(["host_dataset", "host_ct_id"])["donor_uid"].nunique()
    assert len(hosts_of) == donors and (hosts_of == per).all()
    assert (donors_of >= 3).all() and len(donors_of) == donors  # k = r: as many hosts
    assert not primary.duplicated(["donor_uid", "host_ct_id"]).any()
    summary = plan.info["cross_design"]
    assert (summary["donors"], summary["hosts"], summary["pairs"]) == (
        donors, len(donors_of), len(primary))
    assert summary["hosts_per_donor_min"] == per and summary["donors_per_host_min"] >= 3
    assert summary["statement"] in plan.info["notes"]
    if size == "paper":
        assert len(primary) == 252
        assert summary["power"]["called_donor_driven_when_donor_only"] >= 0.8
        assert summary["power"]["called_host_driven_when_host_only"] >= 0.8


def test_host_pool_grows_with_the_number_of_donors(plan_ctx):
    hosts = [_cross(plan_ctx, n_donors=n).manifest["host_ct_id"].nunique() for n in (5, 10, 20)]
    assert hosts == [5, 10, 20]
    assert n_hosts_for(40, hosts_per_donor=3, donors_per_host=6) == 20
    for donors, k, r in ((7, 3, 4), (13, 3, 3), (40, 3, 6), (50, 5, 5), (9, 4, 3)):
        design = block_pairs(donors, hosts_per_donor=k, donors_per_host=r)
        assert design.donors_per_host.min() >= r and (design.hosts_per_donor == k).all()
        pairs = set(zip(design.donor.tolist(), design.host.tolist(), strict=True))
        assert len(pairs) == donors * k  # a donor's hosts are distinct
        power = design_power(design.donor, design.host, n_sims=2)
        # connected: donor and host effects are all estimable (rank D + H - 1)
        assert power["df_residual"] == donors * k - donors - design.n_hosts + 1


@pytest.mark.parametrize("size", ["demo", "paper"])
def test_host_constrained_pairs_put_each_donor_in_several_lobes(plan_ctx, size):
    manifest = _cross(plan_ctx, size).manifest
    primary = manifest[manifest["primary"]]
    assert set(primary["stratum"]) == {"host_constrained", "profile_faithful"}
    constrained = primary[primary["stratum"] == "host_constrained"]
    assert (constrained["placement"] == "random").all()  # a random voxel of the host's lobe
    assert (constrained["target_lobe"] != "").all()
    # the host decides the lobe: one lobe per host over its constrained pairs
    assert (constrained.groupby("host_ct_id")["target_lobe"].nunique() == 1).all()
    assert (primary.groupby("donor_uid")["target_lobe"].nunique() >= 2).all()
    faithful = primary[primary["stratum"] == "profile_faithful"]
    assert (faithful["placement"] == "profile_faithful").all()
    table = plan_ctx.index.table.set_index("nodule_uid")
    own = table.loc[faithful["donor_uid"], "reinsertion_lobe"].to_numpy()
    assert (faithful["target_lobe"].to_numpy() == own).all()


def test_no_pair_shares_a_patient_even_across_studies(plan_ctx):
    table = plan_ctx.index.table.copy()
    dlcs = table["dataset"] == "DLCS24"
    scans = sorted(table.loc[dlcs, "ct_id"].unique())
    twin_of = {scan: f"DLCS24-P{i // 2:03d}" for i, scan in enumerate(scans)}  # two studies
    table.loc[dlcs, "patient_id"] = table.loc[dlcs, "ct_id"].map(twin_of)
    index = NoduleIndex(table)
    ctx = PlanContext(index, hosts_from_index(index))
    assert (ctx.hosts.groupby("host_patient_id")["host_ct_id"].nunique() == 2).any()
    spec = {"donors": {"include": ["DLCS24"]}, "hosts": {"include": ["DLCS24"]}}
    for seed in range(12):
        for pairing in ("one_to_many", "whole_patient", "one_to_one"):
            manifest = plan_design(ctx, 13, seed=seed, size="demo",
                                   params={"pairing": pairing, "spec": spec}).manifest
            assert not (_patients(manifest, "donor") == _patients(manifest, "host")).any()
            donors = set(_patients(manifest, "donor"))
            assert not donors & set(_patients(manifest, "host"))  # no donor patient hosts
            hosts = manifest.drop_duplicates(["host_ct_id"])
            assert _patients(hosts, "host").is_unique  # one study per host patient


def test_same_seed_same_bytes_other_seed_other_plan(plan_ctx, tmp_path):
    first, second = Workspace(tmp_path / "a"), Workspace(tmp_path / "b")
    write_plan(_cross(plan_ctx, "paper"), first)
    write_plan(_cross(plan_ctx, "paper"), second)
    for name in ("manifest.parquet", "manifest.csv", "plan.json"):
        assert ((first.trial_dir("digital_twin_cross") / name).read_bytes()
                == (second.trial_dir("digital_twin_cross") / name).read_bytes())
    info = json.loads((first.trial_dir("digital_twin_cross") / "plan.json").read_text())
    assert info["cross_design"]["power"]["simulations"] > 0
    other = plan_design(plan_ctx, 13, size="paper", seed=1).manifest
    assert set(other["donor_uid"]) != set(_cross(plan_ctx, "paper").manifest["donor_uid"])


def test_cross_design_refusals(plan_ctx):
    with pytest.raises(InputError, match="at least 3"):
        _cross(plan_ctx, hosts_per_donor=2)
    with pytest.raises(InputError, match="exceeds n_donors"):
        _cross(plan_ctx, n_donors=2)
    with pytest.raises(InputError, match="patients have a native nodule"):
        _cross(plan_ctx, n_donors=100_000)
    with pytest.raises(InputError, match="host patients"):
        _cross(plan_ctx, n_donors=14, spec={"hosts": {"include": ["NSCLCR"]}})
    with pytest.raises(InputError, match=r"host_constrained_fraction = 1.5: .*less than"):
        _cross(plan_ctx, host_constrained_fraction=1.5)
    with pytest.raises(InputError, match="host_constrained_fraction"):
        _cross(plan_ctx, placement="donor_faithful")


def test_power_simulation_is_calibrated_and_sees_effects():
    design = block_pairs(50, hosts_per_donor=5, donors_per_host=5)
    power = design_power(design.donor, design.host, n_sims=300, seed=4)
    assert power["separable"] and power["df_residual"] == 250 - 50 - 50 + 1
    assert power["size_donor_test"] <= 0.09 and power["size_host_test"] <= 0.09
    assert power["power_donor_effect"] >= 0.8 and power["power_host_effect"] >= 0.8
    assert power["called_donor_driven_when_host_only"] <= 0.05
    one_host = block_pairs(10, hosts_per_donor=1, donors_per_host=1)
    assert not design_power(one_host.donor, one_host.host, n_sims=10)["separable"]
    small = block_pairs(5, hosts_per_donor=3, donors_per_host=3)
    weak = design_power(small.donor, small.host, n_sims=300, seed=4)
    assert weak["power_donor_effect"] < 0.5  # the demo design is stated as weak
    assert np.isfinite(weak["size_donor_test"])
