"""Parametric bootstrap of the donor and host shares over the design's own incidence.

Why: the multiway jackknife of :mod:`.variance` reads the data only through three
variances, and at 5 donors × 5 hosts the share estimate is biased (+0.008 when neither
factor varies, −0.004 when the other one drives, from the mean-centring plug-in) in a
way no variance rule can see. A parametric bootstrap draws whole data sets from a fitted
model on the *same* donors × hosts × answering-unit incidence and the same number of
answers, re-runs the estimator on each, and so carries the estimator's bias and skew at
that design into the interval and the boundary test.

Fitted model, one task, answering units ``u``: a linear predictor
``η[u, d, h] = β_u + a[d] + a_u[d] + b[h] + b_u[h] + g[d, h] + g_u[d, h]`` and each answer
``y ~ Bernoulli(expit(η))`` for 0/1 correctness (``η + N(0, σ²_ε)``, with β_u the unit's
mean, for other values). ``a`` is the part of the donor effect every unit shares (the same
donor is hard for every model) and ``a_u`` the unit's own part; likewise hosts and the
donor × host image effect ``g``. The variances come from moments on the values' scale:

- within-unit donor and host components: the estimator's own pooled components
  (:func:`.variance.decompose`, clipped at 0);
- the shared parts: the covariance of answers from *different* units that share the
  donor and not the host (the host and not the donor; the donor × host pair);
- the unit-specific image part: the within-unit covariance of different slices of one
  pair, less the donor, host and shared image parts.

Each variance is clipped at 0. For 0/1 values they are carried to the logit scale by the
delta method and the donor and host ones rescaled until the world's own
probability-scale components (Gauss–Hermite quadrature) equal the estimator's: a world
on the probability scale clips at 0 and 1 and lost 40 % of its share at logit
SD 1. The draws are vectorised over replicates (one sparse product per block), so 200
replicates cost about as much as the jackknife's deletions.

Use: :func:`share_bias` — the estimator's bias at the observed design, subtracted from the
share estimate that the one-sided boundary test reads
(``variance.decomposition_intervals(share_bias=…)``). Measured and *not* used
(benchmarks/bench_share_rules.py, docs/diagnostic.md): the basic bootstrap interval
(0.67–0.74 at positive shares), a boundary test against the bootstrap distribution under
a null world (rejects 7–8 % of true zeros), and limits centred on the corrected estimate
(the driving factor's share fell to 0.925 on a fresh seed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse
from scipy.special import expit

from lesiontrials.analysis import variance
from lesiontrials.analysis.simulate import Effects, true_components


@dataclass(frozen=True)
class ShareFit:
    """The fitted world: per-unit intercepts and effect variances on the world's scale
    (logit for 0/1 values, the values' own scale otherwise)."""

    intercept: np.ndarray  # (units,)
    donor_shared: float
    donor_unit: float
    host_shared: float
    host_unit: float
    image_shared: float
    image_unit: float
    noise: float  # Gaussian answer noise; 0 for 0/1 values (Bernoulli noise instead)
    binary: bool

    def shares(self) -> tuple[float, float]:
        """(donor, host) share of the fitted world on the scale of the values — the
        bootstrap's truth (by Gauss–Hermite quadrature for 0/1 values)."""
        donor = self.donor_shared + self.donor_unit
        host = self.host_shared + self.host_unit
        image = self.image_shared + self.image_unit
        if not self.binary:
            total = donor + host + image + self.noise
            return (donor / total, host / total) if total > 0 else (0.0, 0.0)
        d, h, total = _world_components(self)
        return d / total, h / total


@dataclass(frozen=True)
class _Codes:
    """Integer codes of each answer: unit, donor, host, donor × host pair, triple."""

    unit: np.ndarray
    donor: np.ndarray
    host: np.ndarray
    pair: np.ndarray
    triple: np.ndarray
    n_units: int
    n_donors: int
    n_hosts: int
    n_pairs: int


def _codes(donors: np.ndarray, hosts: np.ndarray, units: np.ndarray | None, size: int
           ) -> _Codes:
    """The same integer coding as :func:`.variance._layout` (sorted string labels)."""
    donor = np.unique(np.asarray(donors).astype(str), return_inverse=True)[1].ravel()
    host = np.unique(np.asarray(hosts).astype(str), return_inverse=True)[1].ravel()
    unit = (np.zeros(size, dtype=int) if units is None else
            np.unique(np.asarray(units).astype(str), return_inverse=True)[1].ravel())
    pair = np.unique(np.stack([donor, host], axis=1), axis=0, return_inverse=True)[1].ravel()
    triple = np.unique(np.stack([unit, donor, host], axis=1), axis=0,
                       return_inverse=True)[1].ravel()
    return _Codes(unit, donor, host, pair, triple, int(unit.max()) + 1,
                  int(donor.max()) + 1, int(host.max()) + 1, int(pair.max()) + 1)


def _shared_sum(deviation: np.ndarray, *keys: np.ndarray) -> tuple[float, float]:
    """Σ d_i d_j and the count over ordered pairs i ≠ j of answers equal on every key."""
    group = np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True)[1].ravel()
    sums = np.bincount(group, weights=deviation)
    counts = np.bincount(group).astype(float)
    return (float((sums**2).sum() - (deviation**2).sum()),
            float((counts**2).sum() - deviation.size))


def _covariance(plus: list[tuple[float, float]], minus: list[tuple[float, float]]) -> float:
    """(Σ of products over + sets − over − sets) / (same for counts); 0 when no pairs."""
    products = sum(p for p, _ in plus) - sum(p for p, _ in minus)
    count = sum(c for _, c in plus) - sum(c for _, c in minus)
    return products / count if count > 0 else 0.0


def fit_shares_model(values: np.ndarray, donors: np.ndarray, hosts: np.ndarray, *,
                     units: np.ndarray | None = None) -> ShareFit:
    """Moment fit of the bootstrap's model (module docstring) to one task's answers."""
    values = np.asarray(values, dtype=float)
    codes = _codes(donors, hosts, units, values.size)
    estimate = variance.decompose(values, donors, hosts, units=units)
    unit_mean = (np.bincount(codes.unit, weights=values, minlength=codes.n_units)
                 / np.bincount(codes.unit, minlength=codes.n_units))
    dev = values - unit_mean[codes.unit]
    u, d, h = codes.unit, codes.donor, codes.host
    s_d, s_h, s_dh = _shared_sum(dev, d), _shared_sum(dev, h), _shared_sum(dev, d, h)
    s_ud, s_uh, s_udh = _shared_sum(dev, u, d), _shared_sum(dev, u, h), _shared_sum(dev, u, d, h)
    donor_within = max(estimate.donor, 0.0)
    host_within = max(estimate.host, 0.0)
    donor_shared = float(np.clip(_covariance([s_d, s_udh], [s_dh, s_ud]), 0.0, donor_within))
    host_shared = float(np.clip(_covariance([s_h, s_udh], [s_dh, s_uh]), 0.0, host_within))
    pair_across = _covariance([s_dh], [s_udh])
    image_shared = max(pair_across - donor_shared - host_shared, 0.0)
    pair_within = _covariance([s_udh], [])  # different slices of one pair, one unit
    image_unit = max(pair_within - donor_within - host_within - image_shared, 0.0)
    binary = bool(np.isin(values, (0.0, 1.0)).all())
    parts = np.array([donor_shared, donor_within - donor_shared, host_shared,
                      host_within - host_shared, image_shared, image_unit])
    if binary:
        # Probability-scale moments → logit-scale variances by the delta method
        # (dp = p(1 − p) dη at each unit's mean): a world on the probability scale
        # would clip at 0 and 1 (it lost 40 % of its share in a demo-size data set).
        counts = np.bincount(codes.unit, minlength=codes.n_units)
        mean = np.clip(unit_mean, 0.5 / counts, 1 - 0.5 / counts)
        slope = float(np.average(mean * (1 - mean), weights=counts))
        return _match_world(_fit_from(np.log(mean / (1 - mean)), parts / slope**2,
                                      noise=0.0, binary=True), donor_within, host_within)
    noise = max(float(estimate.total) - float(parts.sum()), 0.0)
    return _fit_from(unit_mean, parts, noise=noise, binary=False)


def _fit_from(intercept: np.ndarray, parts: np.ndarray, *, noise: float, binary: bool
              ) -> ShareFit:
    """A :class:`ShareFit` from the six effect variances in field order."""
    donor_shared, donor_unit, host_shared, host_unit, image_shared, image_unit = (
        float(v) for v in parts)
    return ShareFit(intercept, donor_shared, donor_unit, host_shared, host_unit,
                    image_shared, image_unit, noise, binary)


def _world_components(fit: ShareFit) -> tuple[float, float, float]:
    """(donor, host, total) variance of a 0/1 world on the probability scale, by
    quadrature."""
    effects = Effects(donor_sd=float(np.sqrt(fit.donor_shared + fit.donor_unit)),
                      host_sd=float(np.sqrt(fit.host_shared + fit.host_unit)),
                      image_sd=float(np.sqrt(fit.image_shared + fit.image_unit)))
    donor, host, total = true_components(effects, fit.intercept, nodes=24)
    return float(donor), float(host), float(total)


def _match_world(fit: ShareFit, donor: float, host: float, *, steps: int = 6) -> ShareFit:
    """Rescale the logit donor and host variances until the world's probability-scale
    donor and host variances equal the estimator's (the delta method alone leaves them
    short: expit flattens large effects, 0.075 for an estimated 0.106 at logit SD 1)."""
    for _ in range(steps):
        world_donor, world_host, _ = _world_components(fit)
        d = donor / world_donor if world_donor > 0 else 1.0
        h = host / world_host if world_host > 0 else 1.0
        fit = replace(fit, donor_shared=fit.donor_shared * d, donor_unit=fit.donor_unit * d,
                      host_shared=fit.host_shared * h, host_unit=fit.host_unit * h)
    return fit


def null_fit(fit: ShareFit, *, factor: int) -> ShareFit:
    """The fit with the donor (``factor`` 0) or host (1) component set to 0: the null
    world of the boundary test "share = 0"."""
    if factor == 0:
        return replace(fit, donor_shared=0.0, donor_unit=0.0)
    return replace(fit, host_shared=0.0, host_unit=0.0)


def _draw_values(fit: ShareFit, codes: _Codes, replicates: int, rng: np.random.Generator
                 ) -> np.ndarray:
    """(replicates, answers) data sets from the fitted model on the observed incidence."""
    b, n_u = replicates, codes.n_units

    def effect(variance_: float, shape: tuple[int, ...]) -> np.ndarray:
        return rng.normal(0.0, np.sqrt(variance_), shape) if variance_ > 0 else np.zeros(shape)

    u, d, h, p = codes.unit, codes.donor, codes.host, codes.pair
    eta = fit.intercept[u][None, :] + (
        effect(fit.donor_shared, (b, codes.n_donors))[:, d]
        + effect(fit.donor_unit, (b, n_u, codes.n_donors))[:, u, d]
        + effect(fit.host_shared, (b, codes.n_hosts))[:, h]
        + effect(fit.host_unit, (b, n_u, codes.n_hosts))[:, u, h]
        + effect(fit.image_shared, (b, codes.n_pairs))[:, p]
        + effect(fit.image_unit, (b, n_u, codes.n_pairs))[:, u, p])
    if fit.binary:
        return (rng.random(eta.shape) < expit(eta)).astype(float)
    return eta + effect(fit.noise, eta.shape)


def bootstrap_shares(values: np.ndarray, donors: np.ndarray, hosts: np.ndarray, *,
                     fit: ShareFit, rng: np.random.Generator, replicates: int = 400,
                     units: np.ndarray | None = None, block: int = 100) -> np.ndarray:
    """(replicates, 3) donor share, host share and their difference, re-estimated by
    :func:`.variance.decompose`'s estimator on data sets drawn from ``fit`` with the
    observed donors × hosts × units incidence and answer count."""
    values = np.asarray(values, dtype=float)
    layout = variance._layout(values, donors, hosts, units)
    codes = _codes(donors, hosts, units, values.size)
    to_triple = sparse.csr_matrix(
        (np.ones(values.size), (codes.triple, np.arange(values.size))),
        shape=(layout.unit.size, values.size))
    ones = np.ones((1, layout.unit.size))
    out = []
    for start in range(0, replicates, block):
        draws = _draw_values(fit, codes, min(block, replicates - start), rng)
        total = np.asarray(to_triple @ draws.T).T
        square = np.asarray(to_triple @ (draws**2).T).T
        pooled = variance._replicate_components(
            replace(layout, total=total, square=square), ones)[1]
        out.append(variance._raw_shares(pooled))
    return np.concatenate(out)


BIAS_REPLICATES = 200
"""Replicates for the bias of the shares: its Monte-Carlo SE is the shares' bootstrap SD
/ √200 (≈ 0.003 at 5 × 5, ≈ 0.0015 at 42 × 42), a tenth of the interval's half-width."""


def share_bias(values: np.ndarray, donors: np.ndarray, hosts: np.ndarray, *,
               rng: np.random.Generator, units: np.ndarray | None = None,
               replicates: int = BIAS_REPLICATES) -> tuple[float, float]:
    """Bias of the estimator's (donor, host) shares at this design, by parametric
    bootstrap: mean re-estimated share in the fitted world minus that world's share.

    ``decomposition_intervals(..., share_bias=…)`` subtracts it from the estimate that
    the one-sided boundary test reads (the limits stay on the estimate). (0, 0) when the design
    cannot be split (fewer than 2 donors or hosts, or values that do not vary)."""
    values = np.asarray(values, dtype=float)
    if (values.size < 2 or np.ptp(values) == 0 or np.unique(np.asarray(donors)).size < 2
            or np.unique(np.asarray(hosts)).size < 2):
        return 0.0, 0.0
    fit = fit_shares_model(values, donors, hosts, units=units)
    draws = bootstrap_shares(values, donors, hosts, fit=fit, rng=rng, replicates=replicates,
                             units=units)[:, :2]
    world = fit.shares()
    mean = np.nanmean(draws, axis=0)
    if not np.isfinite(mean).all():
        return 0.0, 0.0
    return float(mean[0] - world[0]), float(mean[1] - world[1])
