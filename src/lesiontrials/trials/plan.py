"""Planning is pure: (spec or design, index, hosts, seed) → manifest + plan record.

``plan_design`` runs one of the named designs, ``plan_spec`` a user's spec. Both check
feasibility before sampling and return a :class:`TrialPlan`; ``write_plan`` is the only
function here that touches files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.io import write_csv, write_parquet, write_record
from lesiontrials.paths import Workspace
from lesiontrials.records.design_params import (
    DesignParams,
    TwinCross,
    TwinIsolation,
    design_params,
)
from lesiontrials.records.plan import PLAN_SCHEMA_VERSION, PlanRecord
from lesiontrials.seeding import rng_for
from lesiontrials.trials import designs as d
from lesiontrials.trials.audit import audit_manifest
from lesiontrials.trials.feasibility import check_feasibility
from lesiontrials.trials.manifest import RELEASE_CSV_COLUMNS, validate_manifest
from lesiontrials.trials.pools import PlanContext
from lesiontrials.trials.rows import case_seed
from lesiontrials.trials.sampler import Cohort, sample_cohort
from lesiontrials.trials.spec import TrialSpec
from lesiontrials.trials.twins import digital_twin, twin_cross

#: number → (name, design function or twin kind)
DESIGNS: dict[int, tuple[str, Any]] = {
    1: ("controlled_prevalence", d.controlled_prevalence),
    2: ("size_detection_curve", d.size_detection_curve),
    3: ("location_sensitivity", d.location_sensitivity),
    4: ("demographic_strat", d.demographic_strat),
    5: ("counterfactual", d.counterfactual),
    6: ("cross_dataset", d.cross_dataset),
    7: ("bootstrap_confidence", d.bootstrap_confidence),
    8: ("algorithm_comparison", d.algorithm_comparison),
    9: ("screening_simulation", d.screening_simulation),
    10: ("multi_nodule", d.multi_nodule),
    11: ("digital_twin_isolation", "twin_isolation"),
    12: ("digital_twin_complete", "twin_complete"),
    13: ("digital_twin_cross", "twin_cross"),
    14: ("targeted", d.targeted),
}
DESIGN_NUMBERS = {name: number for number, (name, _) in DESIGNS.items()}


@dataclass(frozen=True)
class TrialPlan:
    name: str
    manifest: pd.DataFrame
    info: dict[str, Any]


def resolve_design(design: str | int) -> tuple[int, str]:
    key = str(design).strip()
    if key.isdigit() and int(key) in DESIGNS:
        return int(key), DESIGNS[int(key)][0]
    if key in DESIGN_NUMBERS:
        return DESIGN_NUMBERS[key], key
    raise InputError(f"unknown design {design!r}", column="design",
                     fix=f"use a number 1-14 or one of {sorted(DESIGN_NUMBERS)}")


def plan_spec(ctx: PlanContext, spec: TrialSpec) -> TrialPlan:
    """A user's spec: strata (demographic strata, stratify_by) expand into cohorts.

    A spec that names one of the designs and gives design ``params`` is planned by that
    design, with the spec's own explicitly set fields overriding the design's."""
    if spec.params and spec.design in DESIGN_NUMBERS:
        return _plan_spec_as_design(ctx, spec)
    cohorts = expand_strata(ctx, spec)
    return _finish(ctx, spec, cohorts, notes=[], replicates=0, params=None)


def _plan_spec_as_design(ctx: PlanContext, spec: TrialSpec) -> TrialPlan:
    fields = spec.model_dump(mode="json", exclude_unset=True,
                             exclude={"name", "design", "seed", "n_cases", "params"})
    given = {k: v for k, v in spec.params.items() if k != "size"}  # size: demo or paper
    params = {"name": spec.name, "n_cases": spec.n_cases, **given}
    params["spec"] = {**fields, **spec.params.get("spec", {})}
    return plan_design(ctx, spec.design, size=str(spec.params.get("size", "demo")),
                       seed=spec.seed, params=params)


def plan_design(ctx: PlanContext, design: str | int, *, size: str = "demo", seed: int = 0,
                params: DesignParams | dict[str, Any] | None = None) -> TrialPlan:
    """One of the named designs at ``demo`` or ``paper`` size.

    ``params`` are validated by the design's model
    (:mod:`lesiontrials.records.design_params`: an unknown field is refused) and recorded
    in the plan, so :func:`plan_from_record` reproduces the plan."""
    if size not in ("demo", "paper"):
        raise InputError(f"unknown size {size!r}", column="size", fix="use demo or paper")
    number, name = resolve_design(design)
    typed = design_params(name, params)
    kind = DESIGNS[number][1]
    if isinstance(kind, str):
        return _plan_twins(ctx, name, kind, size=size, seed=seed, params=typed)
    plan = kind(ctx, size, seed, typed)
    return _finish(ctx, plan.base, plan.cohorts, notes=plan.notes,
                   replicates=plan.bootstrap_replicates, size=size, number=number,
                   params=typed, follow_up=plan.follow_up)


def plan_from_record(ctx: PlanContext, record: PlanRecord) -> TrialPlan:
    """Plan again what ``record`` (a ``plan.json``) planned: the same design, size, seed
    and parameters, or the same spec. With the same index and hosts the plan is identical."""
    typed = record.design_params()
    if typed is not None:
        return plan_design(ctx, record.design, size=record.size or "demo", seed=record.seed,
                           params=typed)
    return plan_spec(ctx, TrialSpec.model_validate(record.spec))


def _plan_twins(ctx: PlanContext, name: str, kind: str, *, size: str, seed: int,
                params: DesignParams) -> TrialPlan:
    trial = params.name or name
    n = None
    if isinstance(params, TwinIsolation):
        n = params.n_scans or params.n_donors or (5 if size == "demo" else None)
    spec = TrialSpec.model_validate({
        "name": trial, "design": name, "seed": seed, "n_cases": 1, "allow_same_patient": True,
        "placement": {"mode": "native" if kind != "twin_cross" else "profile_faithful"},
        **params.spec})
    if spec.stated_diameter_mm is not None:
        raise InputError(f"appearance states {spec.stated_diameter_mm:g} mm, but the twin "
                         "designs keep each donor nodule at its native size",
                         column="appearance", fix="remove the size from appearance (the "
                         "look — texture, margin — still applies)")
    extra: dict[str, Any] = {}
    if isinstance(params, TwinCross):
        spec = spec.model_copy(update={"allow_same_patient": False})
        manifest, extra["cross_design"] = twin_cross(ctx, spec, trial=trial, size=size,
                                                     params=params)
    else:
        manifest = digital_twin(ctx, spec, trial=trial, complete=kind == "twin_complete",
                                n_scans=n)
    manifest = validate_manifest(manifest, source=f"trial {trial}")
    spec = spec.model_copy(update={"n_cases": int(manifest["case_uid"].nunique())})
    notes = [extra["cross_design"]["statement"]] if extra else []
    info = _info(spec, manifest, feasibility=[], audits=[], notes=notes,
                 size=size, number=DESIGN_NUMBERS[name], params=params)
    return TrialPlan(trial, manifest, {**info, **extra})


def expand_strata(ctx: PlanContext, spec: TrialSpec) -> list[Cohort]:
    """Demographic strata and ``stratify_by`` keys → equal-allocation cohorts."""
    from lesiontrials.trials.pools import size_bins, stratum_host_mask

    host_groups: list[tuple[str, np.ndarray | None]] = [("all", None)]
    if spec.demographics.strata:
        host_groups = [(s.name, stratum_host_mask(ctx, list(s.sex), s.age.low(), s.age.high()))
                       for s in spec.demographics.strata]
    donor_groups: list[tuple[str, np.ndarray | None]] = [("", None)]
    columns = {"size_bin": size_bins(ctx.index.array("nodule_mean_diam_mm")),
               "lobe": ctx.index.array("lobe_name"), "label": ctx.index.array("label"),
               "dataset": ctx.index.array("dataset")}
    for key in spec.stratify_by:
        values = columns[key]
        levels = [v for v in pd.unique(values) if v == v and v != ""]
        donor_groups = [(f"{name} {key}={level}".strip(), (mask if mask is not None else True)
                         & (values == level)) for name, mask in donor_groups
                        for level in sorted(levels, key=str)]
    groups = [(f"{h} {dn}".strip(), hm, dm) for h, hm in host_groups for dn, dm in donor_groups]
    counts = np.full(len(groups), spec.n_cases // len(groups))
    counts[: spec.n_cases - counts.sum()] += 1
    return [Cohort(name, spec, int(c), donor_mask=dm, host_mask=hm)
            for (name, hm, dm), c in zip(groups, counts, strict=True) if c > 0]


def plan_cohorts(ctx: PlanContext, spec: TrialSpec, cohorts: list[Cohort], *,
                 notes: list[str] | None = None,
                 params: DesignParams | None = None) -> TrialPlan:
    """A trial from cohorts a caller built (e.g. the improve loop's targeted and
    untargeted trials): feasibility, sampling, validation and the plan record, exactly as
    for a design."""
    return _finish(ctx, spec, cohorts, notes=list(notes or []), replicates=0, params=params)


def _finish(ctx: PlanContext, spec: TrialSpec, cohorts: list[Cohort], *, notes: list[str],
            replicates: int, params: DesignParams | None, size: str | None = None,
            number: int | None = None, follow_up: Any = None) -> TrialPlan:
    feasibility = check_feasibility(ctx, cohorts)
    frames, audits, offset = [], [], 0
    for cohort in cohorts:
        result = sample_cohort(ctx, cohort, trial=spec.name, case_offset=offset)
        frames.append(result.rows)
        audits.append(result.audit)
        offset += cohort.n_cases
    manifest = pd.concat(frames, ignore_index=True)
    if follow_up is not None:
        manifest, more = follow_up(manifest)
        notes = [*notes, *more]
    if replicates:
        manifest = add_bootstrap_replicates(manifest, spec, replicates)
    manifest = validate_manifest(manifest, source=f"trial {spec.name}")
    info = _info(spec, manifest, feasibility=feasibility, audits=audits, notes=notes,
                 size=size, number=number, params=params)
    return TrialPlan(spec.name, manifest, info)


def add_bootstrap_replicates(base: pd.DataFrame, spec: TrialSpec, replicates: int
                             ) -> pd.DataFrame:
    """Replicates 1..B resample the base cohort's cases with replacement (ids recorded).

    Vectorised: the rows of every drawn case are gathered with one ``take`` per replicate.
    """
    cases = base["case_uid"].unique()
    rows_of = base.groupby("case_uid", sort=False).indices
    frames = [base.assign(replicate=0)]
    next_index = int(base["case_index"].max()) + 1
    rng = rng_for(spec.seed, spec.name, "bootstrap")
    for r in range(1, replicates + 1):
        drawn = rng.choice(cases, size=len(cases), replace=True)
        blocks = [rows_of[c] for c in drawn]
        lengths = np.array([len(b) for b in blocks])
        rows = base.take(np.concatenate(blocks)).copy()
        indices = np.repeat(np.arange(next_index, next_index + len(drawn)), lengths)
        uids = np.array([f"{spec.name}-{i:05d}" for i in indices], dtype=object)
        rows["case_uid"], rows["case_index"] = uids, indices
        rows["source_case_uid"] = np.repeat(drawn, lengths)
        rows["seed"] = [case_seed(spec.seed, u) for u in uids]
        rows["replicate"], rows["stratum"] = r, f"replicate {r}"
        frames.append(rows)
        next_index += len(drawn)
    return pd.concat(frames, ignore_index=True)


def _info(spec: TrialSpec, manifest: pd.DataFrame, *, feasibility: list[dict[str, Any]],
          audits: list[dict[str, Any]], notes: list[str], size: str | None,
          number: int | None, params: DesignParams | None) -> dict[str, Any]:
    """The plan record's fields (``params``: every design parameter, defaults included,
    so the record alone reproduces the plan)."""
    return {
        "schema_version": PLAN_SCHEMA_VERSION,
        "trial": spec.name, "design": spec.design, "design_number": number, "size": size,
        "seed": spec.seed, "spec": spec.model_dump(mode="json"),
        "params": params.model_dump(mode="json") if params is not None else {},
        "feasibility": feasibility, "cohorts": audits, "notes": notes,
        "audit": audit_manifest(manifest, spec),
    }


def write_plan(plan: TrialPlan, workspace: Workspace) -> Path:
    """``trials/{trial}/manifest.parquet`` + ``manifest.csv`` + ``plan.json`` (atomic)."""
    directory = workspace.trial_dir(plan.name)
    write_parquet(plan.manifest, directory / "manifest.parquet")
    csv = plan.manifest.loc[:, list(RELEASE_CSV_COLUMNS)]
    write_csv(csv, directory / "manifest.csv")
    write_record(PlanRecord.model_validate(plan.info), workspace.plan_json(plan.name))
    return directory
