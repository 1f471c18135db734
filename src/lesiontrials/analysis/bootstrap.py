"""Bootstrap confidence intervals without materialising resampled items.

Resampling N items with replacement and recomputing a metric that depends only on
category counts is the same as drawing those counts from a multinomial with the observed
category frequencies. So a bootstrap replicate is one multinomial draw over the cells of a
confusion matrix (one model) or of the joint correctness table (two models, paired):
1,000 replicates over 50,000 items cost a few milliseconds and no memory per item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lesiontrials.analysis.metrics import Confusion, metrics_from_counts


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    level: float = 0.95

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {prefix: self.estimate, f"{prefix}_ci_low": self.low,
                f"{prefix}_ci_high": self.high}


def _percentiles(values: np.ndarray, estimate: float, level: float) -> Interval:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Interval(estimate, float("nan"), float("nan"), level)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return Interval(float(estimate), float(low), float(high), level)


def bootstrap_metric(conf: Confusion, *, metric: str = "accuracy", replicates: int = 1000,
                     rng: np.random.Generator, level: float = 0.95) -> Interval:
    """Percentile CI of ``metric`` (accuracy, balanced_accuracy, unparsed_rate)."""
    flat = conf.counts.ravel()
    n = int(flat.sum())
    estimate = float(metrics_from_counts(conf.counts)[metric])
    if n == 0:
        return Interval(estimate, float("nan"), float("nan"), level)
    draws = rng.multinomial(n, flat / n, size=replicates).reshape(replicates, *conf.counts.shape)
    return _percentiles(metrics_from_counts(draws)[metric], estimate, level)


def paired_difference(correct_a: np.ndarray, correct_b: np.ndarray, *, replicates: int = 1000,
                      rng: np.random.Generator, level: float = 0.95) -> Interval:
    """CI of accuracy(a) − accuracy(b) on the same items (paired bootstrap)."""
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("paired comparison needs the same items for both")
    n = a.size
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), level)
    # joint cells: a-only right, b-only right, both, neither
    cells = np.array([(a & ~b).sum(), (~a & b).sum(), (a & b).sum(), (~a & ~b).sum()])
    estimate = (cells[0] - cells[1]) / n
    draws = rng.multinomial(n, cells / n, size=replicates)
    return _percentiles((draws[:, 0] - draws[:, 1]) / n, float(estimate), level)
