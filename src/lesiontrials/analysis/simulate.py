"""Simulated answers with known truth, for calibrating the statistics (bench and tests).

A crossed design is a cyclic incomplete block design as planned by the cross design
(design 13): donor ``d`` meets hosts ``d + 0, 1, 3, 6, …`` (triangular offsets, mod the
number of hosts; consecutive offsets when those do not fit), so every donor has ``k``
hosts and, with as many hosts as donors, every host ``k`` donors. Correctness is drawn from a
logistic model with donor and host random effects shared by every answering unit (model
× condition cell), a donor × host image effect, a fixed offset per unit around the
task's baseline, and several slices per donor × host pair, so every unit answers the
same slices (repeated answers). The true donor and host shares on the scale of the
observed 0/1 correctness follow by Gauss–Hermite quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit


@dataclass(frozen=True)
class CrossedDesign:
    """``n_donors`` donors, each in ``hosts_per_donor`` of ``n_hosts`` hosts (cyclic),
    ``slices`` answers per pair and unit, ``units`` answering units (model × condition)."""

    name: str
    n_donors: int
    hosts_per_donor: int
    n_hosts: int
    slices: int = 3
    units: int = 16

    def offsets(self) -> np.ndarray:
        """Host offsets 0, 1, 3, 6, … (k of them); 0, 1, …, k − 1 when those do not fit."""
        k = np.arange(self.hosts_per_donor)
        triangular = k * (k + 1) // 2
        return triangular if triangular[-1] < self.n_hosts else k

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(donor, host) index of every donor × host pair of the design."""
        donor = np.repeat(np.arange(self.n_donors), self.hosts_per_donor)
        start = (np.arange(self.n_donors) * self.n_hosts) // self.n_donors
        step = np.tile(self.offsets(), self.n_donors)
        return donor, (start[donor] + step) % self.n_hosts


DEMO = CrossedDesign("demo", n_donors=5, hosts_per_donor=3, n_hosts=5)
PAPER = CrossedDesign("paper", n_donors=42, hosts_per_donor=6, n_hosts=42)


@dataclass(frozen=True)
class Effects:
    """Logit-scale standard deviations and the task's baseline accuracy."""

    donor_sd: float
    host_sd: float
    image_sd: float = 0.5
    unit_sd: float = 0.5
    baseline: float = 0.7


@dataclass(frozen=True)
class Answers:
    """Long arrays, one entry per answer."""

    correct: np.ndarray
    donor: np.ndarray
    host: np.ndarray
    unit: np.ndarray
    unit_logit: np.ndarray  # (units,) the units' intercepts, for the truth


def unit_intercepts(effects: Effects, units: int, rng: np.random.Generator) -> np.ndarray:
    """Per-unit logit intercepts around the task's baseline accuracy."""
    base = np.log(effects.baseline / (1 - effects.baseline))
    return base + rng.normal(0.0, effects.unit_sd, units)


def simulate_answers(design: CrossedDesign, effects: Effects, rng: np.random.Generator,
                     *, intercepts: np.ndarray | None = None) -> Answers:
    """One simulated data set of the design: effects redrawn, units answer the same slices."""
    donor, host = design.pairs()
    beta = (unit_intercepts(effects, design.units, rng) if intercepts is None
            else np.asarray(intercepts, dtype=float))
    a = rng.normal(0.0, effects.donor_sd, design.n_donors)
    b = rng.normal(0.0, effects.host_sd, design.n_hosts)
    image = rng.normal(0.0, effects.image_sd, donor.size)
    pair_logit = a[donor] + b[host] + image  # (pairs,)
    logit = beta[:, None, None] + pair_logit[None, :, None]  # (units, pairs, 1)
    shape = (beta.size, donor.size, design.slices)
    correct = (rng.random(shape) < expit(logit)).astype(float)
    unit = np.broadcast_to(np.arange(beta.size)[:, None, None], shape)
    return Answers(correct.ravel(), np.broadcast_to(donor[None, :, None], shape).ravel(),
                   np.broadcast_to(host[None, :, None], shape).ravel(), unit.ravel(), beta)


def true_components(effects: Effects, intercepts: np.ndarray, *, nodes: int = 40
                    ) -> tuple[float, float, float]:
    """Pooled (donor, host, total) variance of 0/1 correctness over units with these
    intercepts: Var_a E[y | a], Var_b E[y | b] and P(1 − P), averaged over units."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    a = effects.donor_sd * x[:, None, None]
    b = effects.host_sd * x[None, :, None]
    e = effects.image_sd * x[None, None, :]
    donor = host = total = 0.0
    for beta in np.asarray(intercepts, dtype=float):
        p = expit(beta + a + b + e)  # (nodes, nodes, nodes)
        weights = w[:, None, None] * w[None, :, None] * w[None, None, :]
        mean = float((weights * p).sum())
        given_a = (p * (w[None, :, None] * w[None, None, :])).sum(axis=(1, 2))
        given_b = (p * (w[:, None, None] * w[None, None, :])).sum(axis=(0, 2))
        # A factor without an effect has exactly zero variance (the quadrature would
        # leave ~1e-32, which turns a [0, 0] interval into a "miss" in coverage counts).
        donor += float((w * (given_a - mean) ** 2).sum()) if effects.donor_sd > 0 else 0.0
        host += float((w * (given_b - mean) ** 2).sum()) if effects.host_sd > 0 else 0.0
        total += mean * (1 - mean)
    k = len(intercepts)
    return donor / k, host / k, total / k


def true_accuracy(effects: Effects, intercept: float, *, nodes: int = 40) -> float:
    """Population accuracy E[expit(β + a + b + e)] of one unit."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    sd = float(np.sqrt(effects.donor_sd**2 + effects.host_sd**2 + effects.image_sd**2))
    return float((w * expit(intercept + sd * x)).sum())
