"""The survival head end to end on a patient table: outcomes → CV Cox → scores → record."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.seeding import rng_for
from lesiontrials.survival.features import PatientTable
from lesiontrials.survival.model import bootstrap_scores, evaluation_times, hazard_ratios
from lesiontrials.survival.simulate import WeibullModel, simulate_outcomes

SURVIVAL_VERSION = 1
MIN_EVENTS = 10


def generating_model(table: PatientTable, model: WeibullModel | None) -> WeibullModel:
    """``model`` (default :class:`WeibullModel`) restricted to the covariates this cohort
    has (a dropped clinical covariate cannot carry simulated hazard)."""
    model = model or WeibullModel()
    usable = set(table.clinical) | set(table.lesion)
    return replace(model, log_hr={k: v for k, v in model.log_hr.items() if k in usable})


def with_outcomes(table: PatientTable, *, seed: int,
                  model: WeibullModel | None = None) -> tuple[pd.DataFrame, str]:
    """The patient frame with ``time_days``/``event``; outcome source ``observed`` or
    ``simulated`` (drawn from ``model`` when the data has no outcomes)."""
    if table.has_outcomes:
        return table.frame, "observed"
    model = generating_model(table, model)
    outcomes = simulate_outcomes(table.frame, model=model,
                                 rng=rng_for(seed, "survival", "outcomes"))
    return table.frame.assign(**outcomes), "simulated"


def analyse_survival(table: PatientTable, *, seed: int, folds: int = 5, n_boot: int = 200,
                     penalizer: float = 0.1, model: WeibullModel | None = None,
                     extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Clinical-only vs clinical + CT (lesion descriptors and ``extra`` columns) Cox models.

    Returns a JSON-ready record: outcome source, cohort counts, per-model scores with
    bootstrap CIs, Δ (CT + clinical − clinical) with CIs, and hazard ratios per SD of the
    full model (unpenalised, 95 % Wald CI).
    """
    frame, source = with_outcomes(table, seed=seed, model=model)
    time = frame["time_days"].to_numpy(dtype=float)
    event = frame["event"].to_numpy(dtype=bool)
    if event.sum() < MIN_EVENTS:
        raise InputError(f"only {int(event.sum())} deaths among {len(frame)} patients; the "
                         f"survival head needs at least {MIN_EVENTS}",
                         column="death_event", fix="use a larger cohort")
    times = evaluation_times(time, event)
    clinical = table.clinical
    full = (*clinical, *table.lesion, *extra)
    x = frame[list(full)].to_numpy(dtype=float)
    feature_sets = {"clinical": list(range(len(clinical))),
                    "clinical+ct": list(range(len(full)))}
    result = bootstrap_scores(x, time, event, feature_sets=feature_sets, n_folds=folds,
                              times=times, penalizer=penalizer,
                              rng=rng_for(seed, "survival", "cv"), n_boot=n_boot)
    record: dict[str, Any] = {
        "version": SURVIVAL_VERSION,
        "outcomes": source,
        "n_patients": len(frame), "n_events": int(event.sum()),
        "folds": folds, "n_boot": n_boot, "n_boot_unscored": result.unscored,
        "penalizer": penalizer, "evaluation_times_days": times.tolist(),
        "clinical_covariates": list(clinical), "dropped_clinical": table.dropped_clinical,
        "ct_features": [*table.lesion, *extra],
        "scores": {m: {k: asdict(v) for k, v in s.items()}
                   for m, s in result.scores.items()},
        "delta": {k: asdict(v) for k, v in result.delta.items()},
        "hazard_ratios": hazard_ratios(frame, full).to_dict(orient="records"),
    }
    if source == "simulated":
        generating = generating_model(table, model)
        record["generating_model"] = {**asdict(generating), "log_hr": dict(generating.log_hr),
                                      "true_hr_per_sd": {k: float(np.exp(v)) for k, v in
                                                         generating.log_hr.items()}}
    return record
