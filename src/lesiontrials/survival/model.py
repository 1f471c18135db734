"""Cross-validated ridge Cox models with a refitting patient bootstrap.

Each patient gets an out-of-fold risk (the Cox linear predictor of a ridge-penalised model
fitted on the other folds, covariates standardised on the training folds) and an
out-of-fold survival curve (Breslow). Scores are computed on the pooled out-of-fold
predictions. The bootstrap resamples patients (the unit the design has) and reruns the
whole cross-validation on each resample — copies of a patient always share a fold, so no
patient is trained and tested on at once — so intervals carry the refitting variability
too (scoring fixed out-of-fold predictions alone gives ΔC intervals far too narrow:
docs/survival.md). Both models see the same resamples and folds, so ΔC has a paired
interval. Fits use scikit-survival's ``CoxPHSurvivalAnalysis`` (Breslow ties) with
``alpha = penalizer × n_train`` (a ridge penalty per patient, as lifelines' ``penalizer``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv
from statsmodels.duration.hazard_regression import PHReg

from lesiontrials.errors import InputError
from lesiontrials.survival.metrics import SurvivalScores, evaluation_times, score_predictions

__all__ = ["Interval", "OutOfFold", "bootstrap_scores", "cross_validate", "evaluation_times",
           "fold_ids", "hazard_ratios"]


@dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold predictions of one feature set: ``risk`` (n,), ``survival`` (n, t)."""

    name: str
    risk: np.ndarray
    survival: np.ndarray


def fold_ids(patients: np.ndarray, *, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold id per row; rows of the same patient (bootstrap copies) share a fold."""
    unique, inverse = np.unique(patients, return_inverse=True)
    if len(unique) < 2 * folds:
        raise InputError(f"{len(unique)} patients is too few for {folds}-fold "
                         "cross-validation", fix=f"use at least {2 * folds} patients or "
                                                 "fewer folds")
    return rng.permutation(np.arange(len(unique)) % folds)[inverse]


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 times: np.ndarray, penalizer: float) -> tuple[np.ndarray, np.ndarray]:
    mean, sd = x_train.mean(axis=0), x_train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    model = CoxPHSurvivalAnalysis(alpha=penalizer * len(x_train), ties="breslow")
    model.fit((x_train - mean) / sd, y_train)
    z = (x_test - mean) / sd
    curves = model.predict_survival_function(z)
    return model.predict(z), np.array([fn(times) for fn in curves])


def cross_validate(x: np.ndarray, time: np.ndarray, event: np.ndarray, *,
                   feature_sets: Mapping[str, Sequence[int]], folds: np.ndarray,
                   times: np.ndarray, penalizer: float) -> list[OutOfFold]:
    """Out-of-fold predictions per feature set (column indices into ``x`` (n, p))."""
    y = Surv.from_arrays(event=event.astype(bool), time=time)
    out = []
    for name, cols in feature_sets.items():
        risk = np.empty(len(x))
        survival = np.empty((len(x), len(times)))
        for fold in np.unique(folds):
            test = folds == fold
            risk[test], survival[test] = _fit_predict(
                x[~test][:, cols], y[~test], x[test][:, cols], times, penalizer)
        out.append(OutOfFold(name=name, risk=risk, survival=survival))
    return out


def hazard_ratios(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Unpenalised Cox fit (statsmodels PHReg, Breslow ties) on standardised covariates:
    HR per SD with 95 % Wald CI and p-value."""
    cols = list(columns)
    z = (frame[cols] - frame[cols].mean()) / frame[cols].std(ddof=0).replace(0.0, 1.0)
    fit = PHReg(frame["time_days"].to_numpy(float), z.to_numpy(float),
                status=frame["event"].to_numpy(int), ties="breslow").fit()
    beta, se = np.asarray(fit.params), np.asarray(fit.bse)
    return pd.DataFrame({
        "covariate": cols,
        "hr_per_sd": np.exp(beta),
        "ci_low": np.exp(beta - 1.959963984540054 * se),
        "ci_high": np.exp(beta + 1.959963984540054 * se),
        "p": np.asarray(fit.pvalues),
    })


@dataclass(frozen=True)
class Interval:
    """Point estimate with a percentile bootstrap interval."""

    estimate: float
    low: float
    high: float


def _interval(point: float, draws: np.ndarray, level: float) -> Interval:
    alpha = (1.0 - level) / 2.0
    finite = draws[np.isfinite(draws)]
    if len(finite) < 20:
        raise InputError(f"only {len(finite)} bootstrap replicates could be scored",
                         column="death_event", fix="use a larger cohort or more replicates")
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return Interval(estimate=point, low=float(low), high=float(high))


@dataclass(frozen=True)
class BootstrapResult:
    """Scores per model and metric, Δ (second model − first) per metric, unscored count."""

    scores: dict[str, dict[str, Interval]]
    delta: dict[str, Interval]
    unscored: int


def _replicate(x: np.ndarray, time: np.ndarray, event: np.ndarray, *,
               feature_sets: Mapping[str, Sequence[int]], n_folds: int, times: np.ndarray,
               penalizer: float, rng: np.random.Generator) -> list[SurvivalScores] | None:
    pick = rng.integers(0, len(time), len(time))
    t, e = time[pick], event[pick]
    if e.sum() < 2 or t.max() <= times[-1]:
        return None
    try:
        folds = fold_ids(pick, folds=n_folds, rng=rng)
        fits = cross_validate(x[pick], t, e, feature_sets=feature_sets, folds=folds,
                              times=times, penalizer=penalizer)
        return [score_predictions(t, e, f.risk, f.survival, times) for f in fits]
    except (ValueError, np.linalg.LinAlgError, InputError):
        return None  # a resample sksurv cannot score (counted and reported as unscored)


def bootstrap_scores(x: np.ndarray, time: np.ndarray, event: np.ndarray, *,
                     feature_sets: Mapping[str, Sequence[int]], n_folds: int,
                     times: np.ndarray, penalizer: float, rng: np.random.Generator,
                     n_boot: int, level: float = 0.95) -> BootstrapResult:
    """Point scores on the data and refitting patient-bootstrap percentile intervals."""
    folds = fold_ids(np.arange(len(time)), folds=n_folds, rng=rng)
    fits = cross_validate(x, time, event, feature_sets=feature_sets, folds=folds,
                          times=times, penalizer=penalizer)
    points = [score_predictions(time, event, f.risk, f.survival, times) for f in fits]
    names = list(asdict(points[0]))
    draws = np.full((n_boot, len(fits), len(names)), np.nan)
    unscored = 0
    for b in range(n_boot):
        scored = _replicate(x, time, event, feature_sets=feature_sets, n_folds=n_folds,
                            times=times, penalizer=penalizer, rng=rng)
        if scored is None:
            unscored += 1
            continue
        draws[b] = [list(asdict(s).values()) for s in scored]
    scores = {f.name: {k: _interval(getattr(points[m], k), draws[:, m, j], level)
                       for j, k in enumerate(names)} for m, f in enumerate(fits)}
    delta = ({k: _interval(getattr(points[1], k) - getattr(points[0], k),
                           draws[:, 1, j] - draws[:, 0, j], level)
              for j, k in enumerate(names)} if len(fits) > 1 else {})
    return BootstrapResult(scores=scores, delta=delta, unscored=unscored)
