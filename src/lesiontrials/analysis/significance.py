"""Paired tests and rank correlation: exact McNemar, Holm's step-down, Spearman ρ with a
bootstrap interval.

- McNemar: the exact two-sided binomial test on the discordant pairs is the reported
  ``p_value`` (valid at any count); the continuity-corrected χ² is kept as an extra, with
  the statistic clipped at 0 (``(|b − c| − 1)²`` would otherwise be positive at b = c).
- Holm: the family-wise error is controlled across each reported family of tests.
- Spearman: ρ between two sets of per-cell values. The report's synthetic-vs-real ρ uses
  :func:`spearman_cells_interval` (cells and the cases inside them resampled, basic
  bootstrap; benchmarks/bench_spearman_cells.py); :func:`spearman_interval` is the
  percentile bootstrap over cells (or groups of cells) alone. No p-value is given: cells
  that repeat the same items are not independent observations, so the textbook p-value
  would be wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from lesiontrials.analysis.resampling import CaseCellSums
from lesiontrials.errors import InputError


@dataclass(frozen=True)
class McNemar:
    b: int  # a right, b wrong
    c: int  # a wrong, b right
    p_value: float  # two-sided exact binomial test on the discordant pairs (the default)
    statistic: float  # continuity-corrected chi-square, clipped at 0
    p_chi2: float

    @property
    def p_exact(self) -> float:
        return self.p_value


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """McNemar's test on paired 0/1 correctness of two conditions or models."""
    a = np.asarray(correct_a)
    b_arr = np.asarray(correct_b)
    if a.shape != b_arr.shape:
        raise InputError(f"McNemar needs the same items for both: {a.shape} vs {b_arr.shape}",
                         column="correct_b", fix="align both answers on slice_uid")
    for name, array in (("correct_a", a), ("correct_b", b_arr)):
        if not np.isin(array, (0, 1)).all():
            raise InputError(f"McNemar needs 0/1 correctness; {name} has other values",
                             column=name, fix="pass per-item correctness as booleans")
    a, b_arr = a.astype(bool), b_arr.astype(bool)
    b = int((a & ~b_arr).sum())
    c = int((~a & b_arr).sum())
    if b + c == 0:
        return McNemar(b, c, 1.0, 0.0, 1.0)
    statistic = max(abs(b - c) - 1.0, 0.0) ** 2 / (b + c)
    p_chi2 = float(stats.chi2.sf(statistic, df=1))
    p_exact = float(stats.binomtest(b, b + c, 0.5).pvalue)
    return McNemar(b, c, min(p_exact, 1.0), float(statistic), p_chi2)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input order; NaN stays NaN and does not
    count as a test of the family."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    if tested.size == 0:
        return out
    if (p[tested] < 0).any() or (p[tested] > 1).any():
        raise InputError("p-values must lie in [0, 1]", column="p_values",
                         fix="pass raw p-values of one family of tests")
    order = tested[np.argsort(p[tested], kind="stable")]
    m = order.size
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman ρ (NaN when fewer than 3 finite pairs or either side has no variation)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3 or np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
        return float("nan")
    return float(stats.spearmanr(x[keep], y[keep]).statistic)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank)."""
    return np.asarray(stats.rankdata(values, axis=-1), dtype=float)


def _row_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (xc * yc).sum(axis=1) / np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))


def spearman_interval(x: np.ndarray, y: np.ndarray, *, rng: np.random.Generator,
                      replicates: int = 2000, level: float = 0.95,
                      groups: np.ndarray | None = None) -> tuple[float, float, float]:
    """Spearman ρ over cells with a percentile bootstrap CI: (ρ, low, high).

    Cells are resampled with replacement; when ``groups`` is given (one id per cell, e.g.
    the model, when cells of one model share its answers), whole groups are resampled.
    Replicates without variation on either side are dropped; NaNs when ρ is undefined
    (fewer than 3 cells or no variation).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise InputError(f"x and y must be 1-D of the same length: {x.shape} vs {y.shape}",
                         column="y", fix="pair each cell's synthetic and real value")
    keep = np.isfinite(x) & np.isfinite(y)
    group_ids = (np.arange(x.size) if groups is None else np.asarray(groups))[keep]
    if group_ids.shape != (int(keep.sum()),):
        raise InputError("groups needs one id per cell", column="groups",
                         fix="pass one group id per (x, y) pair")
    x, y = x[keep], y[keep]
    rho = spearman_rho(x, y)
    if not np.isfinite(rho):
        return float("nan"), float("nan"), float("nan")
    codes = np.unique(group_ids.astype(str), return_inverse=True)[1].ravel()
    n_groups = int(codes.max()) + 1
    members = [np.flatnonzero(codes == g) for g in range(n_groups)]
    draws: list[float] = []
    for _ in range(0, replicates, 500):
        size = min(500, replicates - len(draws))
        picks = rng.integers(0, n_groups, size=(size, n_groups))
        for row in picks:
            index = np.concatenate([members[g] for g in row])
            bx, by = x[index], y[index]
            if np.ptp(bx) > 0 and np.ptp(by) > 0:
                draws.append(float(_row_correlation(_ranks(bx)[None], _ranks(by)[None])[0]))
            else:
                draws.append(float("nan"))
    values = np.asarray(draws)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return rho, float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return rho, float(low), float(high)


def spearman_cells_interval(synthetic: CaseCellSums, real: CaseCellSums, *,
                            rng: np.random.Generator, replicates: int = 2000,
                            level: float = 0.95) -> tuple[float, float, float]:
    """Spearman ρ between synthetic and real cell accuracies with a 95 % CI: (ρ, low, high).

    The estimand is ρ between the cells' *true* accuracies (on each source's population of
    cases), for the cells as reported. Two things make the naive intervals wrong (measured
    in benchmarks/bench_spearman_cells.py): each cell's accuracy is measured on a few
    clustered cases, which scrambles ranks and biases ρ̂ towards 0 (−0.2 at 13 real
    cases: a percentile bootstrap over cells then covered 0.50, over cases 0.04); and with
    12–24 cells ρ moves in coarse steps. So each replicate (1) draws each source's cases
    with replacement (all cells of a source answer the same cases, so a case moves in
    every cell at once), and (2) draws the cells with replacement; the interval is the
    *basic* bootstrap ``[2ρ̂ − q_hi, 2ρ̂ − q_lo]``, which reflects the replicates' own
    shift below ρ̂ (the attenuation) back onto ρ̂, clipped to [−1, 1]. Measured coverage
    0.92–1.00 (mostly conservative: the cell draw adds variance the fixed cells do not
    have; 0.92 at 12 cells measured on 300 real cases with ρ ≈ 0.9, where ρ moves in
    coarse steps).

    ``synthetic``/``real``: per-case × cell correctness sums and item counts, cells in the
    same order. NaNs when ρ̂ is undefined (fewer than 3 cells, no variation) or no
    replicate is.
    """
    if synthetic.sums.shape[1] != real.sums.shape[1]:
        raise InputError(f"synthetic and real have {synthetic.sums.shape[1]} and "
                         f"{real.sums.shape[1]} cells", column="cells",
                         fix="pair each cell's synthetic and real answers")
    x, y = synthetic.accuracies(), real.accuracies()
    rho = spearman_rho(x, y)
    if not np.isfinite(rho):
        return float("nan"), float("nan"), float("nan")
    cells = x.size
    draws = []
    for start in range(0, replicates, 500):
        size = min(500, replicates - start)
        bx = synthetic.accuracies(_case_draws(synthetic, size, rng))
        by = real.accuracies(_case_draws(real, size, rng))
        pick = rng.integers(0, cells, (size, cells))
        bx, by = np.take_along_axis(bx, pick, 1), np.take_along_axis(by, pick, 1)
        ok = np.isfinite(bx).all(axis=1) & np.isfinite(by).all(axis=1)
        ok &= (np.ptp(bx, axis=1) > 0) & (np.ptp(by, axis=1) > 0)
        draws.append(_row_correlation(_ranks(bx[ok]), _ranks(by[ok])))
    values = np.concatenate(draws)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return rho, float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    q_low, q_high = np.quantile(values, [alpha, 1.0 - alpha])
    return rho, float(max(2 * rho - q_high, -1.0)), float(min(2 * rho - q_low, 1.0))


def _case_draws(sums: CaseCellSums, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, units) multiplicities of a case bootstrap of ``sums``' units."""
    units = sums.sums.shape[0]
    return rng.multinomial(units, np.full(units, 1.0 / units), size=size).astype(float)


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Transitional: Spearman ρ and the textbook p-value, which assumes independent cells.

    Kept only so existing callers import; it is wrong whenever cells share items (the same
    slices under several models/conditions). Report :func:`spearman_interval` instead.
    """
    rho = spearman_rho(x, y)
    if not np.isfinite(rho):
        return float("nan"), float("nan")
    keep = np.isfinite(np.asarray(x, float)) & np.isfinite(np.asarray(y, float))
    return rho, float(stats.spearmanr(np.asarray(x, float)[keep],
                                      np.asarray(y, float)[keep]).pvalue)
