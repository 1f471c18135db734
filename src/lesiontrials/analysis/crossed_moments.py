"""Variance of a mean in a crossed donor × host design, from method-of-moments components.

Model for one per-item value ``y`` (0/1 correctness, or a paired difference in {−1, 0, 1}):
``y = μ + a[donor] + b[host] + c[donor, host] + e`` with independent zero-mean effects of
variances σ²_a, σ²_b, σ²_c (the image's own effect, shared by the slices of one donor ×
host pair) and σ²_e (what varies between items of the same pair). The variance of the item
mean ȳ over N items is then exactly

    Var(ȳ) = (σ²_a Σ_d N_d² + σ²_b Σ_h N_h² + σ²_c Σ_p N_p² + σ²_e N) / N²,

N_d, N_h, N_p the items of each donor, host and pair. The components are estimated by
U-statistics on pairs of items (half the mean squared difference over all pairs of one
type; Gao & Owen 2017 for large unbalanced crossed designs): pairs in the same donor × host
pair estimate σ²_e; same donor, different host σ²_b + σ²_c + σ²_e; same host, different
donor σ²_a + σ²_c + σ²_e; neither σ²_a + σ²_b + σ²_c + σ²_e. Each is O(items) from group
sums and sums of squares, with no resampling: deterministic and fast at any design size.

Two estimates of Var(ȳ) are offered (docs/diagnostic.md, "Intervals", and
benchmarks/RESULTS.md, session 6, for the coverage of each):

- ``unbiased``: the exactly unbiased linear combination of the moments (components not
  truncated; the caller floors the sum at the independent-items variance). This is what
  ``bootstrap.paired_difference`` uses for crossed designs: a difference of two models on
  the same items has donor and host components near 0, and any constraint at 0 keeps the
  positive half of their noise (variance 1.5–1.9× too large, coverage 0.98);
- ``constrained``: the four components fitted to the four moments by non-negative least
  squares (each moment weighted by the square root of its number of item pairs): a
  component whose free estimate is negative is set to 0 and the fit redistributes its
  excess over the others. Measured for single accuracies and not used by the intervals
  (the paper design's accuracy 0.97 covered 0.91–0.95); kept for the comparison and for
  callers that need non-negative components.

Degrees of freedom (Satterthwaite 1946): the variance is a sum of parts c_k σ²_k, each
treated as a scaled χ² on its own df (donors − 1, hosts − 1, the design's interaction df
pairs − donors − hosts + 1, items − pairs); ν = (Σ c_k σ²_k)² / Σ (c_k σ²_k)² / ν_k over
the non-negative parts, so a component estimated at 0 adds no df penalty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import nnls

from lesiontrials.analysis.resampling import UnitCells

# rows: moment of pairs that share (neither, donor only, host only, the donor × host pair);
# columns: σ²_a (donor), σ²_b (host), σ²_c (pair), σ²_e (item)
_DESIGN = np.array([[1.0, 1.0, 1.0, 1.0],
                    [0.0, 1.0, 1.0, 1.0],
                    [1.0, 0.0, 1.0, 1.0],
                    [0.0, 0.0, 0.0, 1.0]])

ComponentFit = Literal["constrained", "unbiased"]


@dataclass(frozen=True)
class CrossedMoments:
    """Pair-type moments of per-item values in a donor × host design.

    ``moments`` (4,): half mean squared differences over item pairs sharing neither factor,
    the donor only, the host only, the donor × host pair; ``pairs`` (4,) how many item pairs
    each averages; ``coefficients`` (4,) of σ²_a, σ²_b, σ²_c, σ²_e in Var(ȳ); ``df`` (4,)
    of each component."""

    moments: np.ndarray
    pairs: np.ndarray
    coefficients: np.ndarray
    df: np.ndarray


def _group_stats(index: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Item counts per group, Σ over within-group item pairs of (y_i − y_j)², and the
    number of such pairs."""
    counts = np.bincount(index).astype(float)
    sums = np.bincount(index, weights=y)
    squares = np.bincount(index, weights=y * y)
    return counts, float((counts * squares - sums * sums).sum()), float(
        (counts * (counts - 1)).sum() / 2)


def crossed_moments(values: np.ndarray, cells: UnitCells) -> CrossedMoments:
    """Pair-type moments of ``values`` (items,) in a two-factor design ``cells``
    (factors in the order donor, host; the formulas are symmetric in them)."""
    if len(cells.codes) != 2:
        raise ValueError(f"crossed moments need exactly two factors, got {cells.names}")
    y = np.asarray(values, dtype=float)
    donor = cells.codes[0][cells.item_cell]
    host = cells.codes[1][cells.item_cell]
    n_donor, sq_donor, pairs_donor = _group_stats(donor, y)
    n_host, sq_host, pairs_host = _group_stats(host, y)
    n_cell, sq_cell, pairs_cell = _group_stats(cells.item_cell, y)
    n = float(y.size)
    sq_all = float(n * (y * y).sum() - y.sum() ** 2)
    pairs_all = n * (n - 1) / 2
    squares = np.array([sq_all - sq_donor - sq_host + sq_cell, sq_donor - sq_cell,
                        sq_host - sq_cell, sq_cell])
    pairs = np.array([pairs_all - pairs_donor - pairs_host + pairs_cell,
                      pairs_donor - pairs_cell, pairs_host - pairs_cell, pairs_cell])
    with np.errstate(invalid="ignore", divide="ignore"):
        moments = np.where(pairs > 0, squares / (2 * np.maximum(pairs, 1.0)), np.nan)
    coefficients = np.array([(n_donor**2).sum(), (n_host**2).sum(), (n_cell**2).sum(), n]) / n**2
    df = np.array([n_donor.size - 1, n_host.size - 1,
                   max(n_cell.size - n_donor.size - n_host.size + 1, 1), max(n - n_cell.size, 1)],
                  dtype=float)
    return CrossedMoments(moments, pairs, coefficients, df)


def crossed_components(moments: CrossedMoments, *, fit: ComponentFit) -> np.ndarray:
    """(σ²_a, σ²_b, σ²_c, σ²_e) from the moments: ``constrained`` (non-negative least
    squares) or ``unbiased`` (the exact solution, components may be negative). A moment
    with no item pairs (e.g. one slice per pair: no within-pair pairs) drops out; the
    components it alone identifies are then not separable and the fit merges them (for the
    variance of the mean only their sum matters up to the coefficients)."""
    usable = np.isfinite(moments.moments)
    design, target = _DESIGN[usable], moments.moments[usable]
    weight = np.sqrt(moments.pairs[usable])
    if fit == "constrained":
        components, _ = nnls(design * weight[:, None], target * weight)
        return np.asarray(components, dtype=float)
    solution, *_ = np.linalg.lstsq(design * weight[:, None], target * weight, rcond=None)
    return np.asarray(solution, dtype=float)


def satterthwaite_df(parts: np.ndarray, df: np.ndarray) -> float:
    """Welch–Satterthwaite df of a sum of non-negative variance parts, each a scaled χ² on
    ``df``; parts ≤ 0 are left out. ``inf`` when nothing is positive."""
    positive = np.clip(np.asarray(parts, dtype=float), 0.0, None)
    denominator = float((positive**2 / df).sum())
    if denominator <= 0.0:
        return float("inf")
    return float(positive.sum() ** 2 / denominator)


def crossed_mean_variance(values: np.ndarray, cells: UnitCells, *, fit: ComponentFit
                          ) -> tuple[float, float]:
    """(Var(ȳ), Satterthwaite df) of the item mean of ``values`` in a donor × host design.

    ``constrained``: Σ c_k σ̂²_k over the non-negative fit, df over the same parts.
    ``unbiased``: Σ c_k σ̂²_k over the unconstrained components (may be ≤ 0: the caller
    floors it), df over its positive parts."""
    moments = crossed_moments(values, cells)
    components = crossed_components(moments, fit=fit)
    parts = moments.coefficients * components
    return float(parts.sum()), satterthwaite_df(parts, moments.df)
