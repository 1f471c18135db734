"""Discrimination and calibration of survival predictions (times in days).

Harrell's C, Uno's IPCW C, cumulative/dynamic AUC and the integrated Brier score from
scikit-survival (censoring distribution estimated by Kaplan-Meier on the scored patients
themselves).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.util import Surv


@dataclass(frozen=True)
class SurvivalScores:
    """Scores of one set of predictions; ``auc`` is the mean cumulative/dynamic AUC over
    ``times``; ``ibs`` the integrated Brier score over ``times`` (lower is better)."""

    harrell_c: float
    uno_c: float
    auc: float
    ibs: float


def evaluation_times(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Grid of 5 times between the 20th and 70th percentiles of the event times."""
    return np.quantile(time[event], np.linspace(0.2, 0.7, 5))


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance: higher ``risk`` should mean earlier death (tied risks ½)."""
    return float(concordance_index_censored(event.astype(bool), time, risk)[0])


def score_predictions(time: np.ndarray, event: np.ndarray, risk: np.ndarray,
                      survival: np.ndarray, times: np.ndarray) -> SurvivalScores:
    """All four scores; ``survival`` is (n, len(times)) predicted S(t) at ``times``.

    ``times`` must lie inside the follow-up of these patients (sksurv raises otherwise).
    """
    y = Surv.from_arrays(event=event.astype(bool), time=time)
    tau = float(times[-1])
    uno = concordance_index_ipcw(y, y, risk, tau=tau)[0]
    _, mean_auc = cumulative_dynamic_auc(y, y, risk, times)
    ibs = integrated_brier_score(y, y, survival, times)
    return SurvivalScores(harrell_c=harrell_c(time, event, risk), uno_c=float(uno),
                          auc=float(mean_auc), ibs=float(ibs))
