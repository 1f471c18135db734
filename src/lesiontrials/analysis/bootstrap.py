"""Confidence intervals for accuracies and paired accuracy differences.

``accuracy_interval`` and ``paired_difference`` respect the design: the units the design
reuses (cases; donors × hosts in crossed designs) are resampled, never items (see
:mod:`.resampling`), and the interval is a score interval at the resulting effective
sample size (see :mod:`.intervals`), so it is never of zero width and never leaves
[0, 1] (or [−1, 1] for a difference). Which construction was used is recorded in
``Interval.method``; ``benchmarks/bench_stat_calibration.py`` measures their coverage.

``bootstrap_metric`` keeps the multinomial bootstrap of a confusion matrix for metrics
that are not a mean of per-item values (balanced accuracy); it treats items as
independent and says so in its method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from lesiontrials.analysis.crossed_moments import ComponentFit, crossed_mean_variance
from lesiontrials.analysis.intervals import critical_value, newcombe_paired, wilson
from lesiontrials.analysis.metrics import Confusion, metrics_from_counts
from lesiontrials.analysis.resampling import (
    UnitCells,
    cluster_weights,
    clusterings,
    unit_cells,
)
from lesiontrials.errors import InputError


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval at ``level``; ``method`` names the
    construction (e.g. ``wilson``, ``wilson-design-effect``, ``newcombe-design-effect``)."""

    estimate: float
    low: float
    high: float
    level: float = 0.95
    method: str = "percentile-bootstrap"

    def as_dict(self, prefix: str) -> dict[str, float | str]:
        return {prefix: self.estimate, f"{prefix}_ci_low": self.low,
                f"{prefix}_ci_high": self.high, f"{prefix}_ci_method": self.method}


def _percentiles(values: np.ndarray, estimate: float, level: float, method: str) -> Interval:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Interval(estimate, float("nan"), float("nan"), level, method)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return Interval(float(estimate), float(low), float(high), level, method)


def bootstrap_metric(conf: Confusion, *, metric: str = "accuracy", replicates: int = 1000,
                     rng: np.random.Generator, level: float = 0.95) -> Interval:
    """Percentile CI of ``metric`` (accuracy, balanced_accuracy, unparsed_rate), items
    resampled as if independent. For accuracy prefer :func:`accuracy_interval`."""
    flat = conf.counts.ravel()
    n = int(flat.sum())
    estimate = float(metrics_from_counts(conf.counts)[metric])
    if n == 0:
        return Interval(estimate, float("nan"), float("nan"), level, "empty")
    draws = rng.multinomial(n, flat / n, size=replicates).reshape(replicates, *conf.counts.shape)
    return _percentiles(metrics_from_counts(draws)[metric], estimate, level,
                        "percentile-bootstrap-items")


def _unit_values(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise InputError(f"{name} must be a non-empty 1-D array of per-item values, got "
                         f"shape {array.shape}", column=name, fix="pass one value per item")
    if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
        raise InputError(f"{name} has values outside [0, 1] or missing values", column=name,
                         fix="pass correctness as 0/1 (or a score in [0, 1]) for every item")
    return array


@dataclass(frozen=True)
class ClusterVariance:
    """Variance of a mean under the design's clustering, with the degrees of freedom of
    its quantile (``None``: normal quantile)."""

    variance: float
    df: float | None


def bootstrap_mean_variance(columns: np.ndarray, cells: UnitCells, *, contrast: np.ndarray,
                            replicates: int, rng: np.random.Generator,
                            moments: ComponentFit | None = None) -> ClusterVariance:
    """Multiway cluster-bootstrap variance of ``contrast · mean(columns)`` and its df.

    ``moments``: for two crossed factors, use the two-way method-of-moments variance of
    :mod:`.crossed_moments` with those components and its Satterthwaite df instead of the
    bootstrap (what ``paired_difference`` does, see there); ``None``: the bootstrap below.

    ``columns`` is (items, k). Each factor and each intersection of factors is
    bootstrapped on its own, one-way, and every one-way variance gets the CR1 factor
    G/(G − 1), G its number of clusters (a bootstrap over G clusters underestimates the
    variance by (G − 1)/G, a fifth at 5 cases or donors). One factor: that variance with
    the normal quantile (Student's t on top over-covered, 0.99 at 5 cases). Crossed
    factors: combined by inclusion–exclusion, V = V_donor + V_host − V_donor×host
    (Cameron, Gelbach & Miller 2011), floored at the largest one-way variance; resampling
    donors and hosts together (the pigeonhole bootstrap) instead counts the residual — and
    in sparse incomplete designs the other factor — twice (coverage 1.00, not 0.95). Its
    degrees of freedom: see :func:`crossed_df`.
    """
    if moments is not None and len(cells.levels) == 2:
        variance, df = crossed_mean_variance(columns @ contrast, cells, fit=moments)
        return ClusterVariance(variance, df)
    sums = cells.cell_sums(columns) @ contrast
    counts = cells.cell_sums(np.ones(columns.shape[0]))
    terms: list[tuple[int, float, int]] = []
    for sign, clusters in clusterings(cells):
        stats_: list[np.ndarray] = []
        for weight in cluster_weights(clusters, replicates=replicates, rng=rng):
            stats_.append((weight @ sums) / (weight @ counts))
        values = np.concatenate(stats_)
        variance = float(np.var(values, ddof=1)) if values.size > 1 else 0.0
        groups = int(clusters.max()) + 1
        if groups > 1:
            variance *= groups / (groups - 1)
        terms.append((sign, variance, groups))
    if len(cells.levels) == 1:
        return ClusterVariance(terms[0][1], None)
    combined = sum(sign * variance for sign, variance, _ in terms)
    largest = max(variance for sign, variance, _ in terms if sign > 0)
    if len(cells.levels) != 2:
        return ClusterVariance(max(combined, largest), float(cells.fewest_levels - 1))
    return ClusterVariance(max(combined, largest), crossed_df(terms))


def crossed_df(terms: list[tuple[int, float, int]]) -> float:
    """Welch–Satterthwaite degrees of freedom of a two-way (donor × host) cluster variance.

    ``terms`` = (sign, CR1 variance, clusters) for donors, hosts and donor × host pairs, as
    :func:`clusterings` orders them. The pair-clustered variance V_P holds everything that
    varies between pairs; V_D − V_P and V_H − V_P are what the donor and the host add on
    top, each estimated from G_D resp. G_H clusters. The combined variance is treated as
    the sum of the three (negative excesses count as 0), each a scaled χ² on (its clusters
    − 1) df: ν = (Σ c_i)² / Σ c_i² / (G_i − 1). Why not (fewest levels − 1), the usual
    conservative rule: when the donor and host effects cancel (a paired difference of two
    models answering the same slices) or are small next to the slice-level noise, the
    variance rests on the pairs, not on 5 donors, and t on 4 df covered 0.996 instead of
    0.95 at 5 donors × 5 hosts; ν moves from G − 1 towards G_P − 1 as the pair-level part
    dominates. Calibration bench: docs/diagnostic.md.
    """
    (_, donor, donors), (_, host, hosts), (_, pair, pairs) = terms
    parts = ((max(donor - pair, 0.0), donors), (max(host - pair, 0.0), hosts), (pair, pairs))
    total = sum(value for value, _ in parts)
    denominator = sum(value**2 / (groups - 1) for value, groups in parts if groups > 1)
    if total <= 0.0 or denominator <= 0.0:
        return float(min(donors, hosts) - 1)
    return float(total**2 / denominator)


def design_quantile(level: float, variance: ClusterVariance) -> float:
    """Quantile for a design-effect interval: normal for one clustering factor (with the
    CR1-scaled variance), Student's t on the Welch–Satterthwaite df of the two-way
    variance for crossed factors (:func:`crossed_df`, or the method-of-moments df of
    :mod:`.crossed_moments`; normal when that df is infinite). Calibration bench:
    docs/diagnostic.md."""
    return critical_value(level, None if variance.df is None else variance.df + 1.0)


def _floored_size(spread: float, measured: ClusterVariance, *, cap: float, level: float
                  ) -> tuple[float, float]:
    """(n_eff, quantile) of a paired design-effect interval: ``n_eff = spread / V`` with the
    design's quantile (:func:`design_quantile`), unless V is at most the independent-items
    variance ``spread / cap`` — then the interval *is* the independent-items one: n_eff =
    ``cap`` and the normal quantile. Why: for a difference of two models on the same items
    the donor, host and pair components are near 0 (1–2 % of its variance at 5 × 5) and
    their unbiased estimates fall under 0 in half the data sets; the design then adds
    nothing measurable, and keeping its t on a few df on top of the floor widened exactly
    those intervals (crossed paired differences at 5 donors × 5 hosts, where the floor binds
    in 53 % of data sets, covered 0.970–0.971; with this rule 0.966). Accuracies keep the
    design's quantile under their floor (see :func:`accuracy_interval`)."""
    variance = measured.variance
    if variance <= 0.0 or spread / variance >= cap:
        return cap, critical_value(level, None)
    return spread / variance, design_quantile(level, measured)


def accuracy_interval(correct: np.ndarray, *, units: Mapping[str, np.ndarray] | None,
                      rng: np.random.Generator, replicates: int = 2000,
                      level: float = 0.95, answers: float | None = None) -> Interval:
    """CI of the mean of a 0/1 (or [0, 1]) per-item vector, aware of the design's units.

    ``units`` maps unit names to per-item ids: ``{"case": case_uid}`` for items clustered
    in cases, ``{"donor": donor_uid, "host": host_ct_id}`` for a crossed design (multiway
    cluster bootstrap); ``None`` when items are independent (plain Wilson). Methods:

    - ``wilson``: independent items;
    - ``wilson-design-effect``: Wilson at ``n_eff = p(1 − p) / Var_bootstrap``, quantile
      from ``design_quantile`` (normal for cases, t on the Welch–Satterthwaite df of the
      two-way variance for crossed donors × hosts);
    - ``wilson-t``: the estimate is 0 or 1, so there is no variation to measure the
      clustering with; Wilson at n items with the t quantile on (fewest units − 1) df (it is
      what keeps 12/12 in 4 cases from looking like 12 independent successes);
    - ``single-unit``: one case/donor/host only: nothing beyond it can be said, [0, 1].

    ``answers``: how many 0/1 answers ``correct`` summarises when its items are means (a
    slice's correctness averaged over k prompt paraphrases: k × items); the effective
    sample size is capped there instead of at the number of items.
    """
    y = _unit_values(correct, "correct")
    n = y.size
    p = float(y.mean())
    if units is None:
        low, high = wilson(p, n, critical_value(level, None))
        return Interval(p, low, high, level, "wilson")
    cells = unit_cells(units, n)
    clusters = cells.fewest_levels
    if clusters < 2:
        return Interval(p, 0.0, 1.0, level, "single-unit")
    z = critical_value(level, clusters)
    spread = p * (1.0 - p)
    if spread <= 0.0:
        low, high = wilson(p, n, z)
        return Interval(p, low, high, level, "wilson-t")
    measured = bootstrap_mean_variance(y[:, None], cells, contrast=np.ones(1),
                                       replicates=replicates, rng=rng)
    # at most n (answers): a negative intra-cluster correlation (e.g. a constant answer on
    # cases that each hold one positive and one negative slice) must not claim more than
    # n items — or than the answers behind them when items are means over paraphrases
    cap = float(n) if answers is None else max(float(n), float(answers))
    variance = measured.variance
    n_eff = min(spread / variance, cap) if variance > 0 else cap
    # the design's quantile also when the cap binds (unlike paired_difference): with the
    # normal quantile there the demo's crossed accuracy 0.70 fell from 0.9285 / 0.936 to
    # 0.925 / 0.934 (benchmarks/RESULTS.md, session 7)
    low, high = wilson(p, n_eff, design_quantile(level, measured))
    return Interval(p, low, high, level, "wilson-design-effect")


def paired_difference(correct_a: np.ndarray, correct_b: np.ndarray, *,
                      units: Mapping[str, np.ndarray] | None, rng: np.random.Generator,
                      replicates: int = 2000, level: float = 0.95) -> Interval:
    """CI of mean(a) − mean(b) on the same items, aware of the design's units.

    Newcombe's paired score interval at the effective number of pairs: ``n`` when items
    are independent (``newcombe``), ``n / deff`` otherwise (``newcombe-design-effect``:
    cluster bootstrap of the difference over cases; for crossed donors × hosts the
    unbiased two-way method-of-moments variance of the per-item differences, see
    :mod:`.crossed_moments`; quantile from ``design_quantile``; when that variance is at
    most the independent-items one, n pairs and the normal quantile, see
    :func:`_floored_size`), n when no item is discordant (``newcombe-t``, with the t quantile
    on (fewest units − 1) df); [−1, 1] with a single unit.
    """
    a = _unit_values(correct_a, "correct_a")
    b = _unit_values(correct_b, "correct_b")
    if a.shape != b.shape:
        raise InputError(f"paired comparison needs the same items: {a.size} vs {b.size}",
                         column="correct_b", fix="align both models' answers on slice_uid")
    n = a.size
    joint_items = np.stack([a * b, a * (1 - b), (1 - a) * b, (1 - a) * (1 - b)], axis=1)
    joint = joint_items.mean(axis=0)
    diff = float(joint[1] - joint[2])
    if units is None:
        low, high = newcombe_paired(joint, n, critical_value(level, None))
        return Interval(diff, low, high, level, "newcombe")
    cells = unit_cells(units, n)
    clusters = cells.fewest_levels
    if clusters < 2:
        return Interval(diff, -1.0, 1.0, level, "single-unit")
    z = critical_value(level, clusters)
    spread = float(joint[1] + joint[2] - diff**2)  # per-item variance of a − b
    if spread <= 0.0:
        low, high = newcombe_paired(joint, n, z)
        return Interval(diff, low, high, level, "newcombe-t")
    # unbiased components: the donor and host effects of a difference on the same items
    # largely cancel, and truncating their noise at 0 inflated the variance 1.5–1.9× there
    measured = bootstrap_mean_variance(joint_items, cells,
                                       contrast=np.array([0.0, 1.0, -1.0, 0.0]),
                                       replicates=replicates, rng=rng, moments="unbiased")
    n_eff, z = _floored_size(spread, measured, cap=float(n), level=level)  # at most n
    low, high = newcombe_paired(joint, n_eff, z)
    return Interval(diff, low, high, level, "newcombe-design-effect")
