"""Donor/host variance decomposition for crossed designs, with multiway jackknife intervals.

Model, per answering unit ``c`` (one model under one guidance condition) of one task:
``y[c, d, h, s] = μ_c + a_c[d] + b_c[h] + e[c, d, h, s]`` — a donor (lesion) effect, a host
(anatomy) effect and a residual that holds the donor × host interaction, slice-to-slice
differences and, for 0/1 correctness, the Bernoulli noise. Components are on the scale
of ``y`` (for correctness: of the observed accuracy, not the logit).

Estimator (method of moments on pairs of answers, Rao's MINQUE-like U-statistics): within
one answering unit, two answers that share the donor but have *different hosts* covary by
σ²_D; two that share the host but have *different donors* covary by σ²_H; the total
variance is σ² and σ²_E = σ² − σ²_D − σ²_H. Pairs that share both donor and host (the
same image's neighbouring slices) and pairs across answering units (the same slice under
another model or condition) are never used: their covariance mixes donor, host and the
image's own effect, which is what biased the earlier all-pairs estimator (a donor-only
truth produced a host share of 0.15 with 16 answers per slice). Each unit is centred on
its own mean, with a one-step plug-in correction for the variance that centring removes.
The pooled per-task estimate sums every unit's pair products and pair counts (each unit
weighted by its number of informative pairs) and every unit's squared deviations: the
pooled share is (average donor covariance) / (average variance).

Uncertainty: delete-one-donor, delete-one-host and delete-one-pair jackknives combined
into a multiway cluster variance (see ``_multiway_variances`` for the interval's
construction and why not the pigeonhole bootstrap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats


@dataclass(frozen=True)
class Components:
    """Variance components on the scale of the values (``total`` = donor + host + residual)."""

    donor: float
    host: float
    residual: float

    @property
    def total(self) -> float:
        return self.donor + self.host + self.residual

    @property
    def shares(self) -> tuple[float, float, float]:
        """(donor, host, residual) as fractions of the total variance; NaN when the values
        do not vary (a constant-answer model has nothing to split)."""
        total = self.total
        if not np.isfinite(total) or total <= 1e-12:
            return (float("nan"), float("nan"), float("nan"))
        donor = float(np.clip(self.donor / total, 0.0, 1.0))
        host = float(np.clip(self.host / total, 0.0, 1.0))
        return donor, host, float(max(1.0 - donor - host, 0.0))

    @property
    def host_to_donor(self) -> float:
        donor = max(self.donor, 0.0)
        return float(max(self.host, 0.0) / donor) if donor > 0 else float("inf")


@dataclass(frozen=True)
class _Layout:
    """Answers collapsed into (unit, donor, host) triples with the sparse group maps."""

    n_units: int
    n_donors: int
    n_hosts: int
    unit: np.ndarray  # (K,) answering unit of each triple
    donor: np.ndarray  # (K,)
    host: np.ndarray  # (K,)
    total: np.ndarray  # (K,) Σ y
    square: np.ndarray  # (K,) Σ y²
    count: np.ndarray  # (K,) answers
    to_unit: sparse.csr_matrix  # (units, K)
    by_donor: tuple[sparse.csr_matrix, np.ndarray, sparse.csr_matrix]
    by_host: tuple[sparse.csr_matrix, np.ndarray, sparse.csr_matrix]
    donors_per_unit: np.ndarray  # (units,) distinct donors answered by each unit
    hosts_per_unit: np.ndarray  # (units,)
    pair: np.ndarray  # (K,) donor × host pair of each triple (shared across units)


def _indicator(rows: np.ndarray, n_rows: int) -> sparse.csr_matrix:
    """(n_rows, len(rows)) 0/1 matrix mapping column k to row ``rows[k]``."""
    cols = np.arange(rows.size)
    return sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_rows, rows.size))


def _grouping(unit: np.ndarray, level: np.ndarray, n_units: int
              ) -> tuple[sparse.csr_matrix, np.ndarray, sparse.csr_matrix]:
    """Groups of triples sharing (unit, level): triple→group map, group's level,
    group→unit map."""
    pairs, group = np.unique(np.stack([unit, level], axis=1), axis=0, return_inverse=True)
    group = group.ravel()
    return (_indicator(group, len(pairs)), pairs[:, 1],
            _indicator(pairs[:, 0], n_units))


def _layout(values: np.ndarray, donors: np.ndarray, hosts: np.ndarray,
            units: np.ndarray | None) -> _Layout:
    values = np.asarray(values, dtype=float)
    donor_index = np.unique(np.asarray(donors).astype(str), return_inverse=True)[1].ravel()
    host_index = np.unique(np.asarray(hosts).astype(str), return_inverse=True)[1].ravel()
    unit_index = (np.zeros(values.size, dtype=int) if units is None else
                  np.unique(np.asarray(units).astype(str), return_inverse=True)[1].ravel())
    keys = np.stack([unit_index, donor_index, host_index], axis=1)
    triples, triple = np.unique(keys, axis=0, return_inverse=True)
    triple = triple.ravel()
    k = len(triples)

    def sums(x: np.ndarray) -> np.ndarray:
        return np.bincount(triple, weights=x, minlength=k)

    n_units = int(unit_index.max()) + 1
    unit, donor, host = triples[:, 0], triples[:, 1], triples[:, 2]
    by_donor, by_host = _grouping(unit, donor, n_units), _grouping(unit, host, n_units)
    pair = np.unique(triples[:, 1:], axis=0, return_inverse=True)[1].ravel()
    return _Layout(n_units, int(donor_index.max()) + 1, int(host_index.max()) + 1,
                   unit, donor, host, sums(values), sums(values**2),
                   sums(np.ones(values.size)), _indicator(unit, n_units), by_donor, by_host,
                   np.asarray(by_donor[2].sum(axis=1)).ravel(),
                   np.asarray(by_host[2].sum(axis=1)).ravel(), pair)


def _rows_to(matrix: sparse.csr_matrix, x: np.ndarray) -> np.ndarray:
    """Sum the columns of ``x`` (B, K) into ``matrix``'s rows → (B, rows)."""
    return np.asarray(matrix @ x.T).T


def _pair_moments(grouping: tuple[sparse.csr_matrix, np.ndarray, sparse.csr_matrix],
                  weight: np.ndarray, deviation: np.ndarray, count: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per answering unit: Σ w_i w_j v_i v_j over pairs that share this factor's level but
    not the other factor's, and Σ w_i w_j n_i n_j (the weighted number of such pairs).

    Triples of one (unit, level) group all differ in the other factor, so removing each
    triple's own square removes exactly the pairs that share both (same image's slices).
    ``weight`` (B, K) is each triple's resampling weight, ``deviation`` (B, K) its
    Σ (y − unit mean).
    """
    to_group, _, group_unit = grouping
    weighted = weight * deviation
    same_level = _rows_to(to_group, weighted) ** 2 - _rows_to(to_group, weighted**2)
    counts = weight * count
    pairs = _rows_to(to_group, counts) ** 2 - _rows_to(to_group, counts**2)
    return _rows_to(group_unit, same_level), _rows_to(group_unit, pairs)


def _replicate_components(layout: _Layout, weight: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Components for each row of triple weights ``weight`` (B, K): per unit (B, units, 3)
    and pooled (B, 3), each as (donor, host, total variance)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        answers = _rows_to(layout.to_unit, weight * layout.count)
        mean = _rows_to(layout.to_unit, weight * layout.total) / answers
        m = mean[:, layout.unit]
        deviation = layout.total - layout.count * m
        squares = layout.square - 2 * m * layout.total + layout.count * m**2
        total = _rows_to(layout.to_unit, weight * squares) / answers
        donor_sum, donor_pairs = _pair_moments(layout.by_donor, weight, deviation,
                                               layout.count)
        host_sum, host_pairs = _pair_moments(layout.by_host, weight, deviation, layout.count)
        donor = donor_sum / donor_pairs
        host = host_sum / host_pairs
        # Centring on the unit's estimated mean lowers the variance and each pair
        # covariance by Var(mean) ≈ σ²_D/n_D + σ²_H/n_H + σ²_E/N: add it back once.
        residual = total - donor - host
        correction = (np.clip(donor, 0, None) / layout.donors_per_unit
                      + np.clip(host, 0, None) / layout.hosts_per_unit
                      + np.clip(residual, 0, None) / answers)
        donor, host, total = donor + correction, host + correction, total + correction
        per_unit = np.stack([donor, host, total], axis=2)
        pooled = np.stack([
            np.nansum(donor * donor_pairs, axis=1) / donor_pairs.sum(axis=1),
            np.nansum(host * host_pairs, axis=1) / host_pairs.sum(axis=1),
            np.nansum(total * answers, axis=1) / answers.sum(axis=1)], axis=1)
    return per_unit, pooled


def _components(row: np.ndarray) -> Components:
    donor, host, total = (float(v) for v in row)
    return Components(donor, host, total - donor - host)


def decompose(values: np.ndarray, donors: np.ndarray, hosts: np.ndarray, *,
              units: np.ndarray | None = None) -> Components:
    """Point estimate of the pooled components; ``units`` = answering unit per answer
    (model × condition), ``None`` when all answers come from one unit."""
    layout = _layout(values, donors, hosts, units)
    _, pooled = _replicate_components(layout, np.ones((1, layout.unit.size)))
    return _components(pooled[0])


@dataclass(frozen=True)
class Decomposition:
    estimate: Components
    donor_share_ci: tuple[float, float]
    host_share_ci: tuple[float, float]
    difference_ci: tuple[float, float]  # donor share − host share
    ratio_ci: tuple[float, float]  # host-to-donor variance ratio (conservative bound)
    n: int
    donors: int
    hosts: int
    standard_errors: tuple[float, float, float]  # donor share, host share, difference
    units: int = 1  # answering units pooled
    level: float = 0.95
    # (donor, host): whether the share's confidence set excludes 0 — the boundary test
    # (one-sided, see ``decomposition_intervals``) rejects a zero share. When it does and the
    # lower limit is 0, the set is (0, high]: a positive share of at most ``high``.
    excludes_zero: tuple[bool, bool] = (False, False)
    # (donor, host) parametric-bootstrap bias of the share estimates (share_bootstrap.py),
    # subtracted from the estimate that the boundary test (``excludes_zero``) reads.
    share_bias: tuple[float, float] = (0.0, 0.0)


def _raw_shares(pooled: np.ndarray) -> np.ndarray:
    """(B, 3) pooled components → (B, 3) donor share, host share, their difference, each
    unclipped (a share estimate may fall below 0 by sampling error)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        donor = pooled[:, 0] / pooled[:, 2]
        host = pooled[:, 1] / pooled[:, 2]
    return np.stack([donor, host, donor - host], axis=1)


def _jackknife_variance(layout: _Layout, clusters: np.ndarray, chunk_cells: int
                        ) -> np.ndarray:
    """Delete-one-cluster jackknife variance of (donor share, host share, difference);
    ``clusters`` is the (K,) cluster of each triple (donor, host or pair)."""
    levels = int(clusters.max()) + 1
    per_chunk = max(1, chunk_cells // max(clusters.size, 1))
    parts = []
    for start in range(0, levels, per_chunk):
        deleted = np.arange(start, min(start + per_chunk, levels))
        weight = (clusters[None, :] != deleted[:, None]).astype(float)
        parts.append(_raw_shares(_replicate_components(layout, weight)[1]))
    shares = np.concatenate(parts)
    if not np.isfinite(shares).all():  # deleting one cluster left nothing to estimate
        return np.full(3, np.nan)
    return (levels - 1) / levels * ((shares - shares.mean(axis=0)) ** 2).sum(axis=0)


def _multiway_variances(layout: _Layout, chunk_cells: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Two variances of (donor share, host share, difference) for a crossed design:
    the multiway one and its conservative version.

    Delete-one-cluster jackknives over donors (V_D), over hosts (V_H) and over donor × host
    pairs (V_P; each deletion applies to every answering unit). The multiway cluster
    variance of Cameron, Gelbach & Miller (2011) is V_D + V_H − V_P (when that is not
    positive, the larger one-way variance); the conservative version drops the
    intersection term, V_D + V_H (never smaller). Why two: a share's sampling distribution
    is right-skewed and its multiway SE is small exactly when the estimate is low, so an
    upper limit from the multiway SE misses positive shares (coverage 0.84 at 5 × 5 in the
    calibration bench) while the lower limit is well calibrated; the interval takes its
    lower limit from the multiway SE and its upper limit from the conservative one
    (docs/diagnostic.md). Why not the pigeonhole bootstrap: a resampled donor drawn twice
    pairs the same images as "different donors", which inflates every replicate's
    components; its share intervals covered 1.00 instead of 0.95.
    """
    donor = _jackknife_variance(layout, layout.donor, chunk_cells)
    host = _jackknife_variance(layout, layout.host, chunk_cells)
    pair = _jackknife_variance(layout, layout.pair, chunk_cells)
    combined = donor + host - pair
    multiway = np.where(combined > 0, combined, np.maximum(donor, host))
    return multiway, np.maximum(donor + host, multiway)


def decomposition_intervals(values: np.ndarray, donors: np.ndarray, hosts: np.ndarray, *,
                            units: np.ndarray | None = None, level: float = 0.95,
                            chunk_cells: int = 1_000_000,
                            share_bias: tuple[float, float] = (0.0, 0.0)) -> Decomposition:
    """Pooled point estimate plus CIs of the donor and host shares and their difference.

    ``units`` = answering unit (model × condition) of each answer, ``None`` for one unit.
    Deterministic (jackknife, no random draws); Student's t on (fewer of donors and
    hosts − 1) degrees of freedom. A share's interval is
    ``[estimate − t · SE_multiway, max(estimate, 0) + t · SE_conservative]`` (see
    ``_multiway_variances``), clipped to [0, 1]: the upper limit starts from 0 when the
    estimate is negative, so the interval is never the degenerate [0, 0]. A share of 0 is
    a boundary value: only positive alternatives exist, so the test of "share = 0" is
    one-sided (Self & Liang 1987; Stram & Lee 1994 for variance components) and 0 is
    excluded from the confidence set when ``estimate − t₁₋α · SE_multiway > 0`` (t₁₋α the
    one-sided quantile, 2.13 instead of 2.78 on 4 df): ``excludes_zero``. Inverting the
    two-sided test there as well (the clipped lower limit alone) covers a zero share in
    0.975 of data sets instead of 0.95, because a clipped interval cannot miss 0 from above;
    positive shares are unaffected (their tests stay two-sided). The difference
    (donor share − host share) is ``estimate ± t · SE_multiway`` clipped to [−1, 1]. The
    host-to-donor ratio's interval is the conservative
    [host low / donor high, host high / donor low]. ``standard_errors`` are the multiway
    ones (what the verdict reads). A design with fewer than 2 donors or hosts, or values
    that do not vary, gets NaN intervals.

    ``share_bias``: the estimator's (donor, host) share bias at this design
    (:func:`.share_bootstrap.share_bias`); the boundary test reads ``estimate − bias``.
    At 5 donors × 5 hosts the estimate is biased by +0.008 at zero shares and −0.004 at a
    zero share while the other factor drives, which moved the test's size to 5 % and
    2.4–2.8 %; the corrected test is the one measured in docs/diagnostic.md. The limits
    keep the uncorrected estimate: centring them on the corrected one lowered the
    donor-driven donor share's coverage to 0.925 on a fresh seed (the multiway SE is
    0.80–0.89 of the estimate's spread there, and the bias had been offsetting it). The
    difference, the ratio, the standard errors and the verdict keep it too.
    """
    values = np.asarray(values, dtype=float)
    layout = _layout(values, donors, hosts, units)
    nd, nh = layout.n_donors, layout.n_hosts
    estimate = decompose(values, donors, hosts, units=units)
    point = _raw_shares(np.array([[estimate.donor, estimate.host, estimate.total]]))[0]
    usable = np.isfinite(point).all() and estimate.total > 1e-12 and min(nd, nh) >= 2
    variances = _multiway_variances(layout, chunk_cells) if usable else None
    if variances is None or not np.isfinite(np.concatenate(variances)).all():
        nan2 = (float("nan"), float("nan"))
        return Decomposition(estimate, nan2, nan2, nan2, nan2, int(values.size), nd, nh,
                             (float("nan"),) * 3, layout.n_units, level)
    se, se_upper = np.sqrt(variances[0]), np.sqrt(variances[1])
    q = float(stats.t.ppf(0.5 + level / 2, df=min(nd, nh) - 1))
    low = point - q * se
    high = np.maximum(point, 0.0) + q * se_upper
    donor_ci = (float(np.clip(low[0], 0, 1)), float(np.clip(high[0], 0, 1)))
    host_ci = (float(np.clip(low[1], 0, 1)), float(np.clip(high[1], 0, 1)))
    ratio_ci = (host_ci[0] / donor_ci[1] if donor_ci[1] > 0 else float("nan"),
                host_ci[1] / donor_ci[0] if donor_ci[0] > 0 else float("inf"))
    difference_ci = (float(max(point[2] - q * se[2], -1)), float(min(point[2] + q * se[2], 1)))
    one_sided = float(stats.t.ppf(level, df=min(nd, nh) - 1))
    centre = point[:2] - np.asarray(share_bias, dtype=float)
    excludes_zero = (bool(centre[0] - one_sided * se[0] > 0),
                     bool(centre[1] - one_sided * se[1] > 0))
    return Decomposition(estimate, donor_ci, host_ci, difference_ci, ratio_ci,
                         int(values.size), nd, nh, (float(se[0]), float(se[1]), float(se[2])),
                         layout.n_units, level, excludes_zero,
                         (float(share_bias[0]), float(share_bias[1])))


def share_covers(decomposition: Decomposition, share: float, *, factor: int) -> bool:
    """Whether the confidence set of the donor (``factor`` 0) or host (1) share contains
    ``share``: inside [low, high], except that 0 is outside when the boundary test rejects
    it (``Decomposition.excludes_zero``)."""
    low, high = (decomposition.donor_share_ci, decomposition.host_share_ci)[factor]
    if share <= 0.0 and decomposition.excludes_zero[factor]:
        return False
    return bool(low <= share <= high)


VERDICT_LEVEL = 0.99
"""Two-sided level of the intervals the verdict reads (the reported intervals stay at the
decomposition's level, 0.95). At 0.95 the paper design's wrong-verdict rate under equal
donor and host effects was 0.09 ± 0.03 in the calibration bench; at 0.99 it is within
0.05 with power still ≥ 0.80 (docs/diagnostic.md)."""


def verdict(decomposition: Decomposition, *, level: float = VERDICT_LEVEL) -> str:
    """``donor-driven`` when the ``level`` interval of (donor share − host share) lies
    above 0 *and* the donor share's lies above 0; ``host-driven`` symmetrically; else
    ``undetermined``.

    The second condition keeps a task with no donor or host variance at all (where the
    difference is noise around 0) from being called either way; a constant-answer model
    has no variance and is always undetermined.
    """
    estimate = decomposition.estimate
    se = np.asarray(decomposition.standard_errors, dtype=float)
    if not np.isfinite(estimate.shares[0]) or not np.isfinite(se).all():
        return "undetermined"
    donor, host = estimate.donor / estimate.total, estimate.host / estimate.total
    q = float(stats.t.ppf(0.5 + level / 2, df=min(decomposition.donors,
                                                     decomposition.hosts) - 1))
    if donor - host - q * se[2] > 0 and donor - q * se[0] > 0:
        return "donor-driven"
    if host - donor - q * se[2] > 0 and host - q * se[1] > 0:
        return "host-driven"
    return "undetermined"


def crossed_frame(frame: pd.DataFrame, *, value: str = "correct") -> pd.DataFrame:
    """Rows usable for the decomposition: a value, a donor and a host."""
    keep = frame[value].notna() & (frame["donor_uid"].astype(str) != "") & (
        frame["host_ct_id"].astype(str) != "")
    return frame.loc[keep]
