"""The one shared sampler: a homogeneous cohort → manifest rows.

Decide only: nothing here reads or writes files. Random streams are separate per purpose
(hosts, labels, donors, placement) and keyed by (seed, trial, stratum), so changing one
spec field (the counterfactual design) leaves the other draws as they were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.seeding import rng_for
from lesiontrials.trials.pools import PlanContext, donor_pool, host_pool, size_bins
from lesiontrials.trials.rows import build_rows
from lesiontrials.trials.spec import TrialSpec
from lesiontrials.trials.templates import get_template

#: Largest relative size difference (in log) accepted before a donor is reused.
LOG_SIZE_TOLERANCE = 0.05


@dataclass(frozen=True)
class Cohort:
    """One homogeneous group of cases of a trial (a design stratum)."""

    stratum: str
    spec: TrialSpec
    n_cases: int
    donor_mask: np.ndarray | None = None
    host_mask: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # round, sweep_value, …
    rng_key: str | None = None  # defaults to the stratum


@dataclass
class CohortResult:
    rows: pd.DataFrame
    audit: dict[str, Any]


def _allocate(total: int, weights: dict[str, float], rng: np.random.Generator, *,
              exact: bool) -> dict[str, int]:
    """Counts per key: largest remainder (exact) or multinomial."""
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    p = p / p.sum()
    if not exact:
        return dict(zip(keys, rng.multinomial(total, p).tolist(), strict=True))
    raw = total * p
    counts = np.floor(raw).astype(int)
    remainder = raw - counts
    order = np.lexsort((rng.random(len(keys)), -remainder))
    counts[order[: total - counts.sum()]] += 1
    return dict(zip(keys, counts.tolist(), strict=True))


def _choose(pool: np.ndarray, k: int, rng: np.random.Generator, warnings: list[str],
            what: str) -> np.ndarray:
    """``k`` indices from ``pool``: without replacement when possible."""
    if k == 0:
        return np.zeros(0, dtype=int)
    if len(pool) == 0:
        raise InputError(f"no eligible {what} for {k} case(s)",
                         fix="relax the constraints of this stratum")
    if k <= len(pool):
        return rng.choice(pool, size=k, replace=False)
    warnings.append(f"{what}: {k} needed from {len(pool)} eligible; donors are reused")
    return np.concatenate([rng.permutation(pool) for _ in range(math.ceil(k / len(pool)))])[:k]


def _label_counts(spec: TrialSpec, n_nodule: int, rng: np.random.Generator) -> dict[Any, int]:
    prevalence = spec.prevalence
    if prevalence is None and spec.template:
        prevalence = get_template(spec.template).malignancy_rate
    if prevalence is None:
        return {"any": n_nodule}
    if spec.prevalence_mode == "exact":
        malignant = round(n_nodule * prevalence)
    else:
        malignant = int(rng.binomial(n_nodule, prevalence))
    return {1: malignant, 0: n_nodule - malignant}


def _size_weights(spec: TrialSpec) -> dict[str, float] | None:
    if spec.size.bucket_weights is not None:
        return {k: w for k, w in spec.size.bucket_weights.items() if w > 0}
    if spec.template and spec.size.lognormal_median_mm is None \
            and spec.stated_diameter_mm is None:  # a stated size overrides the template mix
        weights = get_template(spec.template).size_weight_map()
        return {k: w for k, w in weights.items() if w > 0}
    return None


def usable_size_weights(weights: dict[str, float], count: int, pool: np.ndarray,
                        bins: np.ndarray, warnings: list[str], *, context: str
                        ) -> dict[str, float]:
    """Drop empty buckets whose expected share is under half a case (with a warning);
    an empty bucket that should receive cases is an error."""
    total = sum(weights.values())
    usable = {}
    for size_bin, weight in weights.items():
        expected = count * weight / total
        if (pool & (bins == size_bin)).any():
            usable[size_bin] = weight
        elif expected >= 0.5:
            raise InputError(
                f"size bucket {size_bin} mm has no eligible donors ({context}; "
                f"{expected:.1f} case(s) expected)", column="size.bucket_weights",
                fix=f"set the weight of {size_bin} to 0, or widen the donor pool")
        else:
            warnings.append(f"size bucket {size_bin} mm ({context}): no eligible donors; its "
                            f"expected {expected:.2f} case(s) go to the other buckets")
    if not usable:
        raise InputError(f"no size bucket has eligible donors ({context})",
                         column="size.bucket_weights", fix="widen the donor pool")
    return usable


def _pick_donors(ctx: PlanContext, spec: TrialSpec, pool: np.ndarray, labels: dict[Any, int],
                 rng: np.random.Generator, warnings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Donor row numbers and planned diameters for every nodule case."""
    label_values = ctx.index.array("label")
    diameters = ctx.index.array("nodule_mean_diam_mm")
    bins = size_bins(diameters)
    weights = _size_weights(spec)
    chosen, planned = [], []
    for label, count in labels.items():
        in_label = pool if label == "any" else pool & (label_values == label)
        if weights is None and spec.size.lognormal_median_mm is not None:
            idx, targets = _lognormal_donors(spec, np.flatnonzero(in_label), diameters, count,
                                             rng, warnings)
            chosen.append(idx)
            planned.append(targets)
            continue
        if weights is None:
            idx = _choose(np.flatnonzero(in_label), count, rng, warnings, f"donors (label {label})")
            targets = _target_sizes(spec, diameters[idx], rng)
            chosen.append(idx)
            planned.append(targets)
            continue
        usable = usable_size_weights(weights, count, in_label, bins, warnings,
                                     context=f"label {label}")
        per_bin = _allocate(count, usable, rng, exact=spec.prevalence_mode == "exact")
        for size_bin, k in per_bin.items():
            candidates = np.flatnonzero(in_label & (bins == size_bin))
            if k and len(candidates) == 0:
                raise InputError(
                    f"size bucket {size_bin} mm has no eligible donors with label {label} "
                    f"({k} case(s) needed)", column="size.bucket_weights",
                    fix=f"set the weight of {size_bin} to 0, allow scaling, or widen the "
                    "donor datasets")
            idx = _choose(candidates, k, rng, warnings, f"donors ({size_bin} mm, label {label})")
            chosen.append(idx)
            planned.append(_target_sizes(spec, diameters[idx], rng))
    return np.concatenate(chosen).astype(int), np.concatenate(planned)


def _lognormal_donors(spec: TrialSpec, pool: np.ndarray, diameters: np.ndarray, count: int,
                      rng: np.random.Generator, warnings: list[str]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Log-normal target sizes; each realised by the nearest unused donor in log size, then
    (``to_target_size``) scaled towards the target within the bounds."""
    if count == 0:
        return np.zeros(0, dtype=int), np.zeros(0)
    if len(pool) == 0:
        raise InputError(f"no eligible donors for {count} case(s)", fix="relax the constraints")
    size = spec.size
    targets = size.lognormal_median_mm * np.exp(size.lognormal_sigma * rng.standard_normal(count))
    if size.diameter_mm.is_set:
        targets = np.clip(targets, size.diameter_mm.low(0.5), size.diameter_mm.high(80.0))
    log_d = np.log(diameters[pool])
    available = np.ones(len(pool), dtype=bool)
    picked = np.empty(count, dtype=int)
    reused = 0
    for i, target in enumerate(np.log(targets)):
        distance = np.abs(log_d - target)
        unused = np.where(available, distance, np.inf)
        best = int(np.argmin(unused))
        if unused[best] > LOG_SIZE_TOLERANCE:  # no unused donor of that size: reuse one
            best = int(np.argmin(distance))
            reused += 1
        picked[i] = best
        available[best] = False
    if reused:
        warnings.append(f"log-normal sizes: {reused} of {count} cases reuse a donor, as no "
                        f"unused donor lay within {LOG_SIZE_TOLERANCE:.0%} of the target size")
    donors = pool[picked]
    if spec.scaling.mode != "to_target_size":
        return donors, diameters[donors].copy()
    low, high = spec.scaling.bounds
    return donors, diameters[donors] * np.clip(targets / diameters[donors], low, high)


def _target_sizes(spec: TrialSpec, donor_mm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Planned diameters after scaling, within the spec's scaling bounds."""
    low, high = spec.scaling.bounds
    if spec.stated_diameter_mm is not None:  # the donor pool holds only donors that reach it
        return np.full(len(donor_mm), spec.stated_diameter_mm)
    if spec.scaling.mode == "none" or len(donor_mm) == 0:
        return donor_mm.copy()
    if spec.scaling.mode == "jitter":
        factor = np.exp(rng.uniform(-spec.scaling.jitter, spec.scaling.jitter, len(donor_mm)))
        return donor_mm * np.clip(factor, low, high)
    if spec.size.lognormal_median_mm is not None:
        wanted = spec.size.lognormal_median_mm * np.exp(
            spec.size.lognormal_sigma * rng.standard_normal(len(donor_mm)))
    else:  # to_target_size within the donor's own bucket: spread uniformly in log size
        wanted = donor_mm * np.exp(rng.uniform(np.log(low), np.log(high), len(donor_mm)))
    if spec.size.diameter_mm.is_set:
        wanted = np.clip(wanted, spec.size.diameter_mm.low(0.5), spec.size.diameter_mm.high(80))
    return donor_mm * np.clip(wanted / donor_mm, low, high)


def _pick_hosts(ctx: PlanContext, spec: TrialSpec, pool: np.ndarray, n: int,
                rng: np.random.Generator) -> np.ndarray:
    """Host rows for ``n`` cases: balanced reuse (permutation cycles), or weighted by sex."""
    candidates = np.flatnonzero(pool)
    if len(candidates) == 0:
        raise InputError("no host matches the host datasets and demographics",
                         column="hosts/demographics",
                         fix="relax demographics (age, sex, smoking, pack-years) or the host "
                         "dataset filter")
    male_fraction = spec.demographics.male_fraction
    if male_fraction is None and spec.template:
        male_fraction = get_template(spec.template).male_fraction
    sex = ctx.host_array("sex")[candidates]
    if male_fraction is not None and {"M", "F"} <= set(sex.tolist()):
        w = np.where(sex == "M", male_fraction / (sex == "M").sum(),
                     (1 - male_fraction) / (sex == "F").sum())
        w = np.where(np.isin(sex, ["M", "F"]), w, 0.0)
        return rng.choice(candidates, size=n, replace=True, p=w / w.sum())
    cycles = math.ceil(n / len(candidates))
    return np.concatenate([rng.permutation(candidates) for _ in range(cycles)])[:n]


def _resolve_same_patient(ctx: PlanContext, donors: np.ndarray, hosts: np.ndarray,
                          host_pool_rows: np.ndarray, case_keys: list[str], seed: int
                          ) -> np.ndarray:
    """Redraw hosts that are the donor's own patient (never host a donor in its patient).

    Each redraw is seeded by its case, so a case keeps its host unless its own donor forces
    a change (the counterfactual design relies on this)."""
    donor_key = (ctx.index.array("dataset")[donors].astype(str) + "|"
                 + ctx.index.array("patient_id")[donors].astype(str))
    candidates = np.flatnonzero(host_pool_rows)
    host_keys = (ctx.host_array("host_dataset").astype(str) + "|"
                 + ctx.host_array("host_patient_id").astype(str))
    hosts = hosts.copy()
    for i in np.flatnonzero(host_keys[hosts] == donor_key):
        allowed = candidates[host_keys[candidates] != donor_key[i]]
        if allowed.size == 0:
            raise InputError("every eligible host is the donor's own patient",
                             fix="add host datasets or set allow_same_patient (twin designs)")
        hosts[i] = rng_for(seed, case_keys[i], "host-redraw").choice(allowed)
    return hosts


def sample_cohort(ctx: PlanContext, cohort: Cohort, *, trial: str, case_offset: int
                  ) -> CohortResult:
    """Manifest rows for one cohort (cases numbered from ``case_offset``)."""
    spec, n = cohort.spec, cohort.n_cases
    key = cohort.rng_key or cohort.stratum
    warnings: list[str] = []
    donors_ok = donor_pool(ctx, spec, warnings)
    hosts_ok = host_pool(ctx, spec, warnings)
    if cohort.donor_mask is not None:
        donors_ok &= cohort.donor_mask
    if cohort.host_mask is not None:
        hosts_ok &= cohort.host_mask
    n_free = round(n * spec.nodule_free_fraction)
    labels = _label_counts(spec, n - n_free, rng_for(spec.seed, trial, key, "labels"))
    donors, planned = _pick_donors(ctx, spec, donors_ok, labels,
                                   rng_for(spec.seed, trial, key, "donors"), warnings)
    host_rng = rng_for(spec.seed, trial, key, "hosts")
    hosts = _pick_hosts(ctx, spec, hosts_ok, n, host_rng)
    order = rng_for(spec.seed, trial, key, "order").permutation(n)
    is_free = np.zeros(n, dtype=bool)
    is_free[order[:n_free]] = True
    donor_of_case = np.full(n, -1)
    planned_of_case = np.full(n, np.nan)
    shuffle = rng_for(spec.seed, trial, key, "shuffle").permutation(len(donors))
    donor_of_case[~is_free] = donors[shuffle]
    planned_of_case[~is_free] = planned[shuffle]
    if not spec.allow_same_patient:
        nodule_cases = np.flatnonzero(~is_free)
        keys = [f"{trial}|{key}|{i}" for i in nodule_cases]
        hosts[nodule_cases] = _resolve_same_patient(
            ctx, donor_of_case[nodule_cases], hosts[nodule_cases], hosts_ok, keys, spec.seed)
    rows = build_rows(ctx, cohort, trial=trial, case_offset=case_offset, hosts=hosts,
                      donors=donor_of_case, planned=planned_of_case,
                      rng=rng_for(spec.seed, trial, key, "placement"), warnings=warnings,
                      host_pool_rows=hosts_ok)
    audit = {"stratum": cohort.stratum, "cases": n, "nodule_free": n_free,
             "eligible_donors": int(donors_ok.sum()), "eligible_hosts": int(hosts_ok.sum()),
             "target_prevalence": spec.prevalence if spec.prevalence is not None else (
                 get_template(spec.template).malignancy_rate if spec.template else None),
             "warnings": sorted(set(warnings))}
    return CohortResult(rows, audit)
