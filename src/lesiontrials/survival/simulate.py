"""Simulated survival outcomes from a documented Weibull proportional-hazards model.

Used when the data has no outcomes (the embedded world). Every output built on these
outcomes is labelled ``simulated``. The generating model (docs/survival.md):

* ``z_j`` = covariate ``j`` standardised over the cohort (mean 0, SD 1);
* hazard ``h(t | z) = λ k t^(k-1) exp(Σ_j β_j z_j)`` with ``t`` in days;
* event time ``T = (-log U / (λ exp(β·z)))^(1/k)``, ``U ~ Uniform(0, 1)``;
* censoring ``C = min(administrative_days, Exponential(dropout_rate))``;
  observed ``time = min(T, C)``, ``event = T <= C``.

So ``exp(β_j)`` is the true hazard ratio per SD of covariate ``j``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError

#: Default log hazard ratios per SD: larger / more nodules and age, pack-years raise hazard.
DEFAULT_LOG_HR: Mapping[str, float] = MappingProxyType({
    "age": 0.30, "pack_years": 0.20, "log_max_diameter_mm": 0.50, "n_nodules": 0.15,
})


@dataclass(frozen=True)
class WeibullModel:
    """Parameters of the generating model (times in days)."""

    log_hr: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_LOG_HR))
    shape: float = 1.2
    median_days: float = 1100.0
    administrative_days: float = 1825.0
    dropout_per_year: float = 0.05

    @property
    def scale(self) -> float:
        """λ such that a patient with z = 0 has median survival ``median_days``."""
        return float(np.log(2.0) / self.median_days ** self.shape)


def standardise(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Columns as a (n, p) array with mean 0 and SD 1 (a constant column stays 0)."""
    values = frame[columns].to_numpy(dtype=float)
    sd = values.std(axis=0)
    return (values - values.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def simulate_outcomes(features: pd.DataFrame, *, model: WeibullModel,
                      rng: np.random.Generator) -> pd.DataFrame:
    """Draw (``time_days``, ``event``) per row of ``features`` from ``model``.

    ``features`` must hold every covariate named in ``model.log_hr`` (finite values).
    """
    columns = list(model.log_hr)
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise InputError(f"simulation needs covariates {missing}", column=missing[0],
                         fix="build the patient table with lesiontrials.survival.features")
    z = standardise(features, columns)
    if not np.isfinite(z).all():
        raise InputError("simulation covariates have missing values", column=columns[0],
                         fix="fill or drop patients without them before simulating")
    beta = np.array([model.log_hr[c] for c in columns])
    n = len(features)
    event_time = (-np.log(rng.uniform(size=n)) / (model.scale * np.exp(z @ beta))) ** (
        1.0 / model.shape)
    dropout = rng.exponential(365.25 / model.dropout_per_year, size=n)
    censor = np.minimum(model.administrative_days, dropout)
    return pd.DataFrame({"time_days": np.minimum(event_time, censor),
                         "event": event_time <= censor}, index=features.index)
