"""Digital-twin designs (11, 12) and the host-versus-donor cross design (13).

Twins put native nodules back into their own (nodule-free) scan at their native
location. The cross design transplants native nodules into other patients' anatomy with
a recorded pairing, so later analysis can split variance between lesion and anatomy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.seeding import rng_for
from lesiontrials.trials.manifest import MANIFEST_COLUMN_NAMES
from lesiontrials.trials.pools import PlanContext
from lesiontrials.trials.rows import _donor_columns, _host_columns, placement_targets
from lesiontrials.trials.sampler import case_seed
from lesiontrials.trials.spec import TrialSpec


def native_nodules(ctx: PlanContext, spec: TrialSpec) -> np.ndarray:
    """Index rows of nodules that sit in an available host scan of their own."""
    index = ctx.index
    keep = index.array("host_available") & index.array("mask_available")
    keep &= index.array("lobe_name") != ""
    if spec.donors.include:
        keep &= np.isin(index.array("dataset"), spec.donors.include)
    if spec.donors.exclude:
        keep &= ~np.isin(index.array("dataset"), spec.donors.exclude)
    if not keep.any():
        raise InputError("no native nodules with their own host scan in the index",
                         column="donors", fix="twin designs need datasets with refined_seg "
                         "label maps and nodule masks")
    return np.flatnonzero(keep)


def _host_row_of(ctx: PlanContext, rows: np.ndarray) -> np.ndarray:
    """The host-catalogue row of each nodule's own scan."""
    keys = (ctx.host_array("host_dataset").astype(str) + "|"
            + ctx.host_array("host_ct_id").astype(str))
    position = {k: i for i, k in enumerate(keys.tolist())}
    wanted = (ctx.index.array("dataset")[rows].astype(str) + "|"
              + ctx.index.array("ct_id")[rows].astype(str))
    missing = [w for w in wanted if w not in position]
    if missing:
        raise InputError(f"scans missing from the host catalogue: {missing[:3]}",
                         fix="rebuild the index so host_available is current")
    return np.array([position[w] for w in wanted])


def choose_scans(ctx: PlanContext, rows: np.ndarray, n_scans: int | None, seed: int,
                 key: str) -> list[np.ndarray]:
    """Groups of native rows per scan, ``n_scans`` of them (all when ``None``), sorted."""
    scans = (ctx.index.array("dataset")[rows].astype(str) + "|"
             + ctx.index.array("ct_id")[rows].astype(str))
    names = np.unique(scans)
    if n_scans is not None and n_scans < len(names):
        names = np.sort(rng_for(seed, key, "scans").choice(names, size=n_scans, replace=False))
    diameters = ctx.index.array("nodule_mean_diam_mm")
    members_of = pd.Series(rows).groupby(scans, sort=False).indices
    groups = []
    for name in names:
        members = rows[members_of[name]]
        groups.append(members[np.argsort(-diameters[members], kind="stable")])  # largest first
    return groups


def _frame(ctx: PlanContext, spec: TrialSpec, *, trial: str, case_index: np.ndarray,
           nodule_index: np.ndarray, donors: np.ndarray, hosts: np.ndarray, stratum: str,
           pairing: str, native: bool, rng: np.random.Generator) -> pd.DataFrame:
    uids = np.array([f"{trial}-{i:05d}" for i in case_index], dtype=object)
    frame = pd.DataFrame({
        "trial": trial, "design": spec.design, "case_uid": uids, "case_index": case_index,
        "nodule_index": nodule_index, "primary": nodule_index == 0, "nodule_free": False,
        "seed": [case_seed(spec.seed, u) for u in uids],
        **_host_columns(ctx, hosts), **_donor_columns(ctx, donors),
        "min_pleural_mm": 0.0, "min_gap_mm": spec.companions.min_gap_mm,
        "appearance": spec.appearance, "stratum": stratum,
        "replicate": -1, "source_case_uid": "", "round": -1, "sweep_value": np.nan,
        "pairing": pairing,
    })
    if native:
        frame["placement"] = "native"
        frame["target_lobe"] = ctx.index.array("lobe_name")[donors]
        for axis in ("cc", "ml", "ap"):
            frame[f"target_lobe_{axis}_pct"] = ctx.index.array(f"lobe_{axis}_pct")[donors]
        for axis, column in (("x", "coordX"), ("y", "coordY"), ("z", "coordZ")):
            frame[f"target_{axis}_mm"] = ctx.index.array(column)[donors]
    else:
        frame["placement"] = spec.placement.mode
        for column, values in placement_targets(ctx, spec, donors, rng).items():
            frame[column] = values
        for axis in ("x", "y", "z"):
            frame[f"target_{axis}_mm"] = np.nan
    frame["planned_diameter_mm"] = frame["donor_diameter_mm"]
    frame["scale"] = 1.0
    return frame.reindex(columns=list(MANIFEST_COLUMN_NAMES))


def digital_twin(ctx: PlanContext, spec: TrialSpec, *, trial: str, complete: bool,
                 n_scans: int | None) -> pd.DataFrame:
    """Mode 11 (``complete=False``: each nodule alone) or 12 (all nodules of the scan)."""
    groups = choose_scans(ctx, native_nodules(ctx, spec), n_scans, spec.seed, trial)
    donors: list[int] = []
    cases: list[int] = []
    positions: list[int] = []
    for group in groups:
        if complete:
            case = (max(cases) + 1) if cases else 0
            cases += [case] * len(group)
            positions += list(range(len(group)))
        else:
            start = (max(cases) + 1) if cases else 0
            cases += list(range(start, start + len(group)))
            positions += [0] * len(group)
        donors += group.tolist()
    donor_rows = np.array(donors, dtype=int)
    return _frame(ctx, spec, trial=trial, case_index=np.array(cases),
                  nodule_index=np.array(positions), donors=donor_rows,
                  hosts=_host_row_of(ctx, donor_rows),
                  stratum="complete" if complete else "isolation", pairing="", native=True,
                  rng=rng_for(spec.seed, trial, "placement"))


def twin_cross(ctx: PlanContext, spec: TrialSpec, *, trial: str, n_donors: int,
               params: dict[str, Any]) -> pd.DataFrame:
    """Mode 13: native donors in other patients' anatomy, pairing recorded."""
    pairing = params.get("pairing", "one_to_many")
    if pairing not in ("one_to_one", "one_to_many", "whole_patient"):
        raise InputError(f"unknown pairing {pairing!r}", column="params.pairing",
                         fix="use one_to_one, one_to_many or whole_patient")
    rng = rng_for(spec.seed, trial, "cross")
    native = native_nodules(ctx, spec)
    host_datasets = ctx.host_array("host_dataset")
    host_ok = np.ones(len(host_datasets), bool)
    if spec.hosts.include:
        host_ok &= np.isin(host_datasets, spec.hosts.include)
    host_ok &= ~np.isin(host_datasets, spec.hosts.exclude)
    hosts = np.flatnonzero(host_ok)
    if pairing == "whole_patient":
        groups = choose_scans(ctx, native, n_donors, spec.seed, trial)
    else:
        count = min(n_donors, len(native))
        groups = [np.array([r]) for r in np.sort(rng.choice(native, size=count, replace=False))]
    per_donor = 1 if pairing != "one_to_many" else int(params.get("hosts_per_donor", 5))
    pool = rng.choice(hosts, size=min(len(hosts), max(per_donor * 2, per_donor)), replace=False)
    donors, host_rows, cases, positions = [], [], [], []
    own = _host_row_of(ctx, np.array([g[0] for g in groups]))
    case = -1
    for g, group in enumerate(groups):
        others = pool[pool != own[g]] if pairing == "one_to_many" else hosts[hosts != own[g]]
        if len(others) < per_donor:
            raise InputError(f"only {len(others)} other hosts for {per_donor} per donor",
                             column="params.hosts_per_donor", fix="lower hosts_per_donor")
        for host in rng.choice(others, size=per_donor, replace=False):
            case += 1
            donors += group.tolist()
            host_rows += [host] * len(group)
            cases += [case] * len(group)
            positions += list(range(len(group)))
    mode = "profile_faithful" if params.get("placement", "donor_faithful") == "donor_faithful" \
        else "random"
    cross_spec = spec.model_copy(update={"placement": spec.placement.model_copy(
        update={"mode": mode})})
    frame = _frame(ctx, cross_spec, trial=trial, case_index=np.array(cases),
                   nodule_index=np.array(positions), donors=np.array(donors),
                   hosts=np.array(host_rows), stratum=params.get("placement", "donor_faithful"),
                   pairing=pairing, native=False, rng=rng)
    return frame
