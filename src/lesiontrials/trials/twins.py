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
from lesiontrials.records.design_params import TwinCross
from lesiontrials.seeding import rng_for
from lesiontrials.trials.cross import (
    HOST_CONSTRAINED,
    PROFILE_FAITHFUL,
    BlockDesign,
    block_pairs,
    constrained_pairs,
    host_lobes,
)
from lesiontrials.trials.cross_power import design_power, power_statement
from lesiontrials.trials.manifest import LONGITUDINAL_DEFAULTS, MANIFEST_COLUMN_NAMES
from lesiontrials.trials.pools import PlanContext
from lesiontrials.trials.rows import _donor_columns, _host_columns, case_seed, placement_targets
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
        "pairing": pairing, **LONGITUDINAL_DEFAULTS,
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


#: cross-design defaults per size: donors, hosts per donor (k), donors per host (r)
CROSS_DEFAULTS: dict[str, tuple[int, int, int]] = {"demo": (5, 3, 3), "paper": (42, 6, 6)}
PAIRINGS = ("one_to_one", "one_to_many", "whole_patient")


def twin_cross(ctx: PlanContext, spec: TrialSpec, *, trial: str, size: str,
               params: TwinCross) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Mode 13: native donors in other patients' anatomy, as a donor × host block design.

    ``one_to_many`` and ``whole_patient`` pair each donor (a nodule, or all nodules of a
    scan) with ``hosts_per_donor`` hosts and each host with ``donors_per_host`` donors
    (:func:`~lesiontrials.trials.cross.block_pairs`); ``one_to_one`` gives each donor its
    own host. Donors come from distinct patients, hosts from distinct patients none of
    whom is a donor's (any study: patients are matched by dataset and patient id). Part
    of each donor's pairs (``host_constrained_fraction``) place the primary nodule in its
    host's lobe; the rest are profile-faithful (``stratum`` records which). Returns the
    manifest and the design summary (with its simulated power) for plan.json."""
    pairing = params.pairing
    n_donors, k, r = CROSS_DEFAULTS[size]
    n_donors = params.n_donors or n_donors
    k, r = (1, 1) if pairing == "one_to_one" else (params.hosts_per_donor or k,
                                                   params.donors_per_host or r)
    fraction = params.host_constrained_fraction
    if pairing != "one_to_one" and min(k, r) < MIN_CROSSING:
        raise InputError(f"hosts_per_donor = {k} and donors_per_host = {r}: the cross design "
                         f"needs at least {MIN_CROSSING} of each to separate donor from host",
                         column="params.hosts_per_donor",
                         fix=f"use hosts_per_donor and donors_per_host >= {MIN_CROSSING}")
    groups = cross_donor_groups(ctx, spec, pairing=pairing, n_donors=n_donors,
                                rng=rng_for(spec.seed, trial, "cross-donors"))
    design = block_pairs(len(groups), hosts_per_donor=k, donors_per_host=r)
    hosts = cross_hosts(ctx, spec, groups, design.n_hosts,
                        rng=rng_for(spec.seed, trial, "cross-hosts"))
    lobes = host_lobes(design.n_hosts, rng_for(spec.seed, trial, "cross-host-lobes"))
    constrained = constrained_pairs(design, fraction if pairing != "one_to_one" else 0.0,
                                    lobes, rng_for(spec.seed, trial, "cross-constrained"))
    frame = _cross_frame(ctx, spec, trial=trial, pairing=pairing, groups=groups,
                         design=design, hosts=hosts, lobes=lobes, constrained=constrained)
    summary = cross_summary(design, constrained, seed=spec.seed)
    return frame, summary


MIN_CROSSING = 3  # hosts per donor and donors per host of a separable cross design


def _cross_frame(ctx: PlanContext, spec: TrialSpec, *, trial: str, pairing: str,
                 groups: list[np.ndarray], design: BlockDesign, hosts: np.ndarray,
                 lobes: np.ndarray, constrained: np.ndarray) -> pd.DataFrame:
    """Manifest rows: one case per pair, every nodule of the donor group in it."""
    donors, host_rows, cases, positions, forced = [], [], [], [], []
    for case, (d, h) in enumerate(zip(design.donor, design.host, strict=True)):
        group = groups[int(d)]
        donors += group.tolist()
        host_rows += [int(hosts[int(h)])] * len(group)
        cases += [case] * len(group)
        positions += list(range(len(group)))
        lobe = str(lobes[int(h)]) if constrained[case] else ""
        forced += [lobe] + [""] * (len(group) - 1)  # the primary follows the host's lobe
    cross_spec = spec.model_copy(update={"placement": spec.placement.model_copy(
        update={"mode": "profile_faithful"})})
    frame = _frame(ctx, cross_spec, trial=trial, case_index=np.array(cases),
                   nodule_index=np.array(positions), donors=np.array(donors),
                   hosts=np.array(host_rows), stratum=PROFILE_FAITHFUL, pairing=pairing,
                   native=False, rng=rng_for(spec.seed, trial, "cross-placement"))
    forced_lobe = np.array(forced, dtype=object)
    by_host = forced_lobe != ""
    frame.loc[by_host, "placement"] = "random"  # a random position inside the host's lobe
    frame.loc[by_host, "target_lobe"] = forced_lobe[by_host]
    for axis in ("cc", "ml", "ap"):
        frame.loc[by_host, f"target_lobe_{axis}_pct"] = np.nan
    case_constrained = np.asarray(constrained)[np.array(cases)]
    frame["stratum"] = np.where(case_constrained, HOST_CONSTRAINED, PROFILE_FAITHFUL)
    return frame


def cross_donor_groups(ctx: PlanContext, spec: TrialSpec, *, pairing: str, n_donors: int,
                       rng: np.random.Generator) -> list[np.ndarray]:
    """``n_donors`` donor groups from distinct patients: one nodule each, or (whole_patient)
    all nodules of one scan, largest first. Sorted by their first index row."""
    native = native_nodules(ctx, spec)
    patients = _patient_keys(ctx.index.array("dataset")[native],
                             ctx.index.array("patient_id")[native])
    names = np.unique(patients)
    if n_donors > len(names):
        raise InputError(f"{n_donors} donors asked, but only {len(names)} patients have a "
                         "native nodule with its own host scan", column="params.n_donors",
                         fix=f"lower n_donors to at most {len(names)}")
    chosen = rng.choice(names, size=n_donors, replace=False)
    scans = (ctx.index.array("dataset")[native].astype(str) + "|"
             + ctx.index.array("ct_id")[native].astype(str))
    diameters = ctx.index.array("nodule_mean_diam_mm")
    groups = []
    for name in sorted(chosen.tolist()):
        mine = native[patients == name]
        if pairing == "whole_patient":
            scan = rng.choice(np.unique(scans[patients == name]))
            members = native[(patients == name) & (scans == scan)]
            groups.append(members[np.argsort(-diameters[members], kind="stable")])
        else:
            groups.append(np.array([rng.choice(mine)]))
    return sorted(groups, key=lambda g: int(g[0]))


def cross_hosts(ctx: PlanContext, spec: TrialSpec, groups: list[np.ndarray], n_hosts: int,
                rng: np.random.Generator) -> np.ndarray:
    """``n_hosts`` host rows from distinct patients, none of them a donor's patient (in any
    of their studies), drawn at random; a host filter the pool cannot meet is an error."""
    host_datasets = ctx.host_array("host_dataset")
    keep = np.ones(len(host_datasets), bool)
    if spec.hosts.include:
        keep &= np.isin(host_datasets, spec.hosts.include)
    keep &= ~np.isin(host_datasets, spec.hosts.exclude)
    host_patients = _patient_keys(host_datasets, ctx.host_array("host_patient_id"))
    donor_rows = np.concatenate(groups)
    donor_patients = _patient_keys(ctx.index.array("dataset")[donor_rows],
                                   ctx.index.array("patient_id")[donor_rows])
    keep &= ~np.isin(host_patients, donor_patients)
    names = np.unique(host_patients[keep])
    if len(names) < n_hosts:
        raise InputError(f"the design needs {n_hosts} host patients other than the donors' "
                         f"own, but only {len(names)} are eligible", column="hosts",
                         fix="widen hosts.include, lower n_donors or raise donors_per_host")
    chosen = rng.choice(names, size=n_hosts, replace=False)
    return np.array([rng.choice(np.flatnonzero(keep & (host_patients == name)))
                     for name in chosen])


def _patient_keys(datasets: np.ndarray, patients: np.ndarray) -> np.ndarray:
    """``dataset|patient_id``: the identity of a patient across their studies."""
    return np.char.add(np.char.add(np.asarray(datasets).astype(str), "|"),
                       np.asarray(patients).astype(str))


def cross_summary(design: BlockDesign, constrained: np.ndarray, *, seed: int
                  ) -> dict[str, Any]:
    """The design's shape and its simulated power (plan.json ``cross_design``)."""
    per_donor, per_host = design.hosts_per_donor, design.donors_per_host
    summary: dict[str, Any] = {
        "donors": design.n_donors, "hosts": design.n_hosts, "pairs": len(design.donor),
        "hosts_per_donor_min": int(per_donor.min()), "hosts_per_donor_max": int(per_donor.max()),
        "donors_per_host_min": int(per_host.min()), "donors_per_host_max": int(per_host.max()),
        "host_constrained_pairs": int(np.sum(constrained)),
        "power": design_power(design.donor, design.host, seed=seed),
    }
    summary["statement"] = power_statement(summary)
    return summary
