"""The 13 trial designs (docs/trials.md) plus ``targeted``, as small functions.

Each design turns (size, seed, parameters) into cohorts for the shared sampler; the
bootstrap, twin and cross designs add their own structure on top (see ``twins.py``).
Sizes: ``demo`` (a handful of cases per stratum) or ``paper`` (the original study's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lesiontrials import anatomy
from lesiontrials.index.quality import percent_valid
from lesiontrials.records import design_params as dp
from lesiontrials.trials.pools import PlanContext, size_bins, stratum_host_mask
from lesiontrials.trials.sampler import Cohort, sample_cohort
from lesiontrials.trials.spec import TrialSpec, parse_spec


@dataclass(frozen=True)
class DesignPlan:
    """Cohorts to sample, plus a note for the audit."""

    base: TrialSpec
    cohorts: list[Cohort]
    notes: list[str] = field(default_factory=list)
    bootstrap_replicates: int = 0
    #: longitudinal screening: sampled rows → rows with the repeat-scan rounds, notes
    follow_up: Callable[[Any], tuple[Any, list[str]]] | None = None


DesignFunction = Callable[[PlanContext, str, int, Any], DesignPlan]


def _n(size: str, demo: int, paper: int, params: dp.DesignParams) -> int:
    return params.cases(size, demo=demo, paper=paper)


#: the largest lesion called a nodule (Fleischner glossary); larger ones are masses
NODULE_MAX_DIAMETER_MM = 30.0


def _spec(design: str, seed: int, n: int, params: dp.DesignParams, **fields: Any
          ) -> TrialSpec:
    data = {"name": params.name or design, "design": design, "seed": seed, "n_cases": n,
            **fields, **params.spec}
    return parse_spec(data, source=f"design {design}")


def controlled_prevalence(ctx: PlanContext, size: str, seed: int,
                          params: dp.ControlledPrevalence
                          ) -> DesignPlan:
    n = _n(size, 5, 1000, params)
    spec = _spec("controlled_prevalence", seed, n, params, template="NLST",
                 prevalence=params.prevalence)
    return DesignPlan(spec, [Cohort("all", spec, n)])


def size_detection_curve(ctx: PlanContext, size: str, seed: int, params: dp.SizeDetectionCurve
                         ) -> DesignPlan:
    n = _n(size, 5, 100, params)
    spec = _spec("size_detection_curve", seed, n, params)
    bins = size_bins(ctx.index.array("nodule_mean_diam_mm"))
    cohorts, notes = [], []
    for size_bin in anatomy.PROFILE_SIZE_BINS:
        mask = bins == size_bin
        if not (mask & ctx.index.array("mask_available")).any():
            notes.append(f"size bucket {size_bin} mm: no donors in the index; stratum skipped")
            continue
        cohorts.append(Cohort(f"size {size_bin}", spec, n, donor_mask=mask))
    return DesignPlan(spec, cohorts, notes)


def location_sensitivity(ctx: PlanContext, size: str, seed: int,
                         params: dp.LocationSensitivity
                         ) -> DesignPlan:
    n = _n(size, 5, 100, params)
    low, high = params.diameter_mm
    cohorts = []
    base = _spec("location_sensitivity", seed, n, params, lobes={"RUL": 1.0},
                 size={"diameter_mm": {"min": low, "max": high}},
                 placement={"mode": "prescribed", "lobe_cc_pct": {"min": 20, "max": 80},
                            "lobe_ml_pct": {"min": 20, "max": 80},
                            "lobe_ap_pct": {"min": 20, "max": 80}})
    for lobe in anatomy.Lobe:
        spec = base.model_copy(update={"lobes": {lobe.value: 1.0}})
        cohorts.append(Cohort(f"lobe {lobe.name}", spec, n))
    return DesignPlan(base, cohorts)


def demographic_strat(ctx: PlanContext, size: str, seed: int, params: dp.DemographicStrat
                      ) -> DesignPlan:
    n = _n(size, 5, 200, params)
    bands = params.age_bands
    spec = _spec("demographic_strat", seed, n, params)
    cohorts, notes = [], []
    for sex in ("M", "F"):
        for low, high in bands:
            # half-open bands so a host of exactly 65 belongs to one stratum only
            mask = stratum_host_mask(ctx, [sex], float(low), float(high) - 1e-9)
            if not mask.any():
                notes.append(f"stratum {sex} {low:g}-{high:g}: no host of that sex and age in the "
                             "host catalogue; stratum skipped")
                continue
            cohorts.append(Cohort(f"{sex} {low:g}-{high:g}", spec, n, host_mask=mask))
    return DesignPlan(spec, cohorts, notes)


def counterfactual(ctx: PlanContext, size: str, seed: int, params: dp.Counterfactual
                   ) -> DesignPlan:
    n = _n(size, 5, 500, params)
    values = params.values
    base = _spec("counterfactual", seed, n, params, prevalence=float(values[0]))
    cohorts = [Cohort(f"prevalence {v:g}", base.model_copy(update={"prevalence": float(v)}), n,
                      meta={"sweep_value": float(v)}, rng_key="sweep") for v in values]
    return DesignPlan(base, cohorts, [f"swept field: prevalence over {values}; all other draws "
                                      "share their random streams"])


def cross_dataset(ctx: PlanContext, size: str, seed: int, params: dp.CrossDataset
                  ) -> DesignPlan:
    n = _n(size, 5, 300, params)
    # The design compares *nodule* sources; an opacity over 30 mm is a mass (Fleischner
    # glossary) and may fit no lobe of a smaller host, so donors are capped at 30 mm unless
    # the spec says otherwise (params.spec.size.diameter_mm).
    spec = _spec("cross_dataset", seed, n, params,
                 size={"diameter_mm": {"max": NODULE_MAX_DIAMETER_MM}})
    cohorts = []
    datasets = ctx.donor_datasets if params.donor_datasets is None else params.donor_datasets
    for dataset in datasets:
        mask = ctx.index.array("dataset") == dataset
        if not (mask & ctx.index.array("mask_available")).any():
            continue
        cohorts.append(Cohort(f"donors {dataset}", spec, n, donor_mask=mask))
    return DesignPlan(spec, cohorts)


def bootstrap_confidence(ctx: PlanContext, size: str, seed: int,
                         params: dp.BootstrapConfidence
                         ) -> DesignPlan:
    n = _n(size, 5, 200, params)
    replicates = params.replicates or (3 if size == "demo" else 20)
    spec = _spec("bootstrap_confidence", seed, n, params, template="NLST")
    return DesignPlan(spec, [Cohort("base", spec, n, meta={"replicate": 0})],
                      bootstrap_replicates=replicates)


def algorithm_comparison(ctx: PlanContext, size: str, seed: int,
                         params: dp.AlgorithmComparison
                         ) -> DesignPlan:
    n = _n(size, 5, 500, params)
    spec = _spec("algorithm_comparison", seed, n, params, template="NLST",
                 nodule_free_fraction=params.nodule_free_fraction)
    return DesignPlan(spec, [Cohort("all", spec, n)])


def screening_simulation(ctx: PlanContext, size: str, seed: int,
                         params: dp.ScreeningSimulation
                         ) -> DesignPlan:
    n = _n(size, 5, 500, params)
    rounds = params.rounds
    if params.longitudinal:
        return _longitudinal_screening(ctx, n, seed, params, size=size)
    base = _spec("screening_simulation", seed, n, params, template="NLST", prevalence=0.04)
    cohorts = []
    for r in range(rounds):
        prevalence = 0.04 * 0.7**r
        cohorts.append(Cohort(f"round {r}", base.model_copy(update={"prevalence": prevalence}),
                              n, meta={"round": r, "sweep_value": prevalence}, rng_key="rounds"))
    return DesignPlan(base, cohorts, ["prevalence per round: 0.04 x 0.7^r"])


def _longitudinal_screening(ctx: PlanContext, n: int, seed: int,
                            params: dp.ScreeningSimulation, *, size: str) -> DesignPlan:
    """Round 0 sampled; rounds 1.. repeat scans of its patients (trials/longitudinal.py)."""
    from lesiontrials.trials.longitudinal import follow_up_rounds

    prevalence = params.prevalence
    notes = []
    if prevalence is None:
        prevalence = 0.4 if size == "demo" else 0.04
        if size == "demo":
            notes.append("demo size: 40 % of round-0 nodules malignant (enriched from the "
                         "screening 4 %) so the few nodules include growing cancers")
    base = _spec("screening_simulation", seed, n, params, template="NLST",
                 prevalence=prevalence, nodule_free_fraction=params.nodule_free_fraction)
    host_rows = {str(h): i for i, h in enumerate(ctx.host_array("host_ct_id"))}

    def new_nodule(spec: TrialSpec, host: int, key: str) -> Any:
        mask = np.zeros(len(host_rows), dtype=bool)
        mask[host] = True
        one = spec.model_copy(update={"n_cases": 1, "nodule_free_fraction": 0.0,
                                      "prevalence_mode": "binomial"})
        return sample_cohort(ctx, Cohort(key, one, 1, host_mask=mask), trial=spec.name,
                             case_offset=0).rows

    def follow_up(round0: Any) -> tuple[Any, list[str]]:
        return follow_up_rounds(round0, base, rounds=params.rounds,
                                interval_months=params.interval_months,
                                incidence=params.incidence, host_row=host_rows.__getitem__,
                                new_nodule=new_nodule)

    cohort = Cohort("round 0", base, n, meta={"round": 0}, rng_key="rounds")
    return DesignPlan(base, [cohort], notes, follow_up=follow_up)


def multi_nodule(ctx: PlanContext, size: str, seed: int, params: dp.MultiNodule
                 ) -> DesignPlan:
    n = _n(size, 5, 500, params)
    single = _spec("multi_nodule", seed, n, params)
    multi = single.model_copy(update={"companions": single.companions.model_copy(update={
        "strategy": params.companion_strategy})})
    return DesignPlan(single, [Cohort("single", single, n), Cohort("multi", multi, n)])


def targeted(ctx: PlanContext, size: str, seed: int, params: dp.Targeted) -> DesignPlan:
    """Donors similar to given failure nodules (same lobe and size), placed where they were."""
    from lesiontrials.index.matcher import PlacementTarget, match_donors

    per_failure = _n(size, 5, 50, params)
    failures, notes = _failure_rows(ctx, params)
    uids = ctx.index.array("nodule_uid")
    cohorts = []
    for row in failures:
        target = PlacementTarget.from_row(ctx.index.table.iloc[row])
        candidates = ctx.index.array("mask_available") & (np.arange(len(uids)) != row)
        similar = match_donors(ctx.index, target, k=max(per_failure * 3, 10),
                               candidates=candidates)
        mask = np.isin(uids, similar["nodule_uid"].to_numpy())
        lobe = target.lobe or "right_lung_upper_lobe"
        placement = {"mode": "prescribed", **_percent_ranges(ctx, row, notes)}
        spec = _spec("targeted", seed, per_failure, params, lobes={lobe: 1.0},
                     placement=placement)
        cohorts.append(Cohort(f"like {uids[row]}", spec, per_failure, donor_mask=mask))
    return DesignPlan(cohorts[0].spec, cohorts, notes)


def _percent_ranges(ctx: PlanContext, row: int, notes: list[str]
                    ) -> dict[str, dict[str, float]]:
    """±10-point lobe percent ranges around a failure nodule's position, from valid values
    only: a percent outside [0, 100] (index flag ``out_of_range``) leaves that axis free
    (0-100) and is noted, never clamped into a reversed range."""
    ranges = {}
    uid = ctx.index.array("nodule_uid")[row]
    for axis in ("cc", "ml", "ap"):
        value = float(ctx.index.array(f"reinsertion_lobe_{axis}_pct")[row])
        if not np.isfinite(value):
            continue
        if not percent_valid(np.array([value]))[0]:
            notes.append(f"{uid}: reinsertion_lobe_{axis}_pct {value:g} is outside [0, 100] "
                         "(out_of_range): that axis is left free")
            continue
        ranges[f"lobe_{axis}_pct"] = {"min": max(0.0, value - 10), "max": min(100.0, value + 10)}
    return ranges


def _failure_rows(ctx: PlanContext, params: dp.Targeted) -> tuple[list[int], list[str]]:
    uids = ctx.index.array("nodule_uid").tolist()
    given = params.failure_uids
    if given:
        missing = [u for u in given if u not in uids]
        if missing:
            from lesiontrials.errors import InputError

            raise InputError(f"failure nodules not in the index: {missing[:5]}",
                             column="params.failure_uids", fix="use nodule_uid values")
        return [uids.index(u) for u in given], []
    located = (ctx.index.array("lobe_name") != "") & (ctx.index.array("label") == 1)
    rows = np.flatnonzero(located)
    if rows.size == 0:
        rows = np.flatnonzero(ctx.index.array("lobe_name") != "")
    order = rows[np.argsort(ctx.index.array("nodule_mean_diam_mm")[rows], kind="stable")]
    chosen = order[:2].tolist()
    return chosen, ["no failure list given: stress-testing the two smallest located malignant "
                    f"nodules {[uids[i] for i in chosen]}"]
