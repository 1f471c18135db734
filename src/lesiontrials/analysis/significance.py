"""Paired significance tests: McNemar (exact binomial and continuity-corrected χ²)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class McNemar:
    b: int  # a right, b wrong
    c: int  # a wrong, b right
    statistic: float  # continuity-corrected chi-square
    p_chi2: float
    p_exact: float  # two-sided exact binomial test on the discordant pairs


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """McNemar's test on paired correctness of two conditions or models."""
    a = np.asarray(correct_a, dtype=bool)
    b_arr = np.asarray(correct_b, dtype=bool)
    if a.shape != b_arr.shape:
        raise ValueError("McNemar needs the same items for both")
    b = int((a & ~b_arr).sum())
    c = int((~a & b_arr).sum())
    if b + c == 0:
        return McNemar(b, c, 0.0, 1.0, 1.0)
    statistic = (abs(b - c) - 1.0) ** 2 / (b + c)
    p_chi2 = float(stats.chi2.sf(statistic, df=1))
    p_exact = float(stats.binomtest(b, b + c, 0.5).pvalue)
    return McNemar(b, c, float(statistic), p_chi2, p_exact)


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman ρ and its p-value (NaN when fewer than 3 pairs or no variation)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3 or np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
        return float("nan"), float("nan")
    result = stats.spearmanr(x[keep], y[keep])
    return float(result.statistic), float(result.pvalue)
