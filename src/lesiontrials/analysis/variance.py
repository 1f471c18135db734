"""Donor/host variance decomposition for crossed designs, with a two-way bootstrap.

Model: ``y[d, h] = μ + a[d] + b[h] + e[d, h]`` with independent random donor effects
``a`` (variance σ²_D), host effects ``b`` (σ²_H) and an interaction/residual ``e`` (σ²_E;
with one observation per donor × host cell the interaction and the residual cannot be
told apart). The design may be unbalanced (any subset of donor × host cells).

Estimator (method of moments on pairs): two observations that share a donor but not a
host covary by σ²_D; two that share a host but not a donor covary by σ²_H; so

    σ²_D = Σ_d [(Σ_h v_dh)² − Σ_h v_dh²] / Σ_d n_d (n_d − 1),     v = y − ȳ,

likewise σ²_H, and σ²_E = Var(y) − σ²_D − σ²_H, each corrected once for centring on the
estimated mean (which lowers them by Var(ȳ)). Shares are the components clipped at 0
over their sum. Confidence intervals come from the pigeonhole bootstrap: donors and
hosts are resampled with replacement independently and an observation enters with
multiplicity (times its donor was drawn) × (times its host was drawn); duplicated units
count as distinct units, which the weighted formulas below implement without copying.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Components:
    donor: float
    host: float
    residual: float

    @property
    def shares(self) -> tuple[float, float, float]:
        parts = np.clip([self.donor, self.host, self.residual], 0.0, None)
        total = parts.sum()
        if total <= 0:
            return (float("nan"), float("nan"), float("nan"))
        return tuple(float(p / total) for p in parts)  # type: ignore[return-value]

    @property
    def host_to_donor(self) -> float:
        donor = max(self.donor, 0.0)
        return float(max(self.host, 0.0) / donor) if donor > 0 else float("inf")


def _weighted_components(values: np.ndarray, donor: np.ndarray, host: np.ndarray,
                         donor_weight: np.ndarray, host_weight: np.ndarray) -> np.ndarray:
    """Components for each bootstrap replicate: weights are ``(B, n_donors)`` and
    ``(B, n_hosts)`` draw counts; returns ``(B, 3)`` (donor, host, residual)."""
    w = donor_weight[:, donor] * host_weight[:, host]  # (B, n) multiplicity per observation
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w * values).sum(axis=1) / total
        v = values[None, :] - mean[:, None]
        variance = (w * v**2).sum(axis=1) / total
        comps = []
        for groups, group_weight, other_weight in ((donor, donor_weight, host_weight[:, host]),
                                                   (host, host_weight, donor_weight[:, donor])):
            k = group_weight.shape[1]
            s = _group_sum(groups, other_weight * v, k)  # Σ over the other factor's units
            q = _group_sum(groups, other_weight * v**2, k)
            n = _group_sum(groups, other_weight, k)
            numerator = (group_weight * (s**2 - q)).sum(axis=1)
            denominator = (group_weight * (n * (n - 1))).sum(axis=1)
            comps.append(numerator / denominator)
    donor_var, host_var = comps
    residual = variance - donor_var - host_var
    # Centring on the estimated mean lowers every pairwise covariance and the variance by
    # Var(ȳ) ≈ σ²_D/n_D + σ²_H/n_H + σ²_E/N; add that back once (plug-in correction).
    n_donors = donor_weight.sum(axis=1)
    n_hosts = host_weight.sum(axis=1)
    mean_var = (np.clip(donor_var, 0, None) / n_donors + np.clip(host_var, 0, None) / n_hosts
                + np.clip(residual, 0, None) / total)
    return np.stack([donor_var + mean_var, host_var + mean_var, residual - mean_var], axis=1)


def _group_sum(groups: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Row-wise sums of ``values`` (B, n) into ``k`` groups → (B, k)."""
    out = np.zeros((values.shape[0], k))
    for row in range(values.shape[0]):
        out[row] = np.bincount(groups, weights=values[row], minlength=k)
    return out


def decompose(values: np.ndarray, donors: np.ndarray, hosts: np.ndarray) -> Components:
    """Point estimate of the three variance components."""
    donor_codes, donor_index = np.unique(np.asarray(donors), return_inverse=True)
    host_codes, host_index = np.unique(np.asarray(hosts), return_inverse=True)
    comps = _weighted_components(np.asarray(values, dtype=float), donor_index, host_index,
                                 np.ones((1, len(donor_codes))), np.ones((1, len(host_codes))))
    return Components(*map(float, comps[0]))


@dataclass(frozen=True)
class Decomposition:
    estimate: Components
    donor_share_ci: tuple[float, float]
    host_share_ci: tuple[float, float]
    difference_ci: tuple[float, float]  # donor share − host share
    ratio_ci: tuple[float, float]  # host-to-donor variance ratio
    n: int
    donors: int
    hosts: int
    replicate_shares: np.ndarray  # (B, 3) shares per bootstrap replicate


def bootstrap_decomposition(values: np.ndarray, donors: np.ndarray, hosts: np.ndarray, *,
                            replicates: int = 500, rng: np.random.Generator,
                            level: float = 0.95, chunk: int = 100) -> Decomposition:
    """Point estimate plus pigeonhole-bootstrap CIs of shares, their difference and the
    host-to-donor ratio."""
    values = np.asarray(values, dtype=float)
    donor_codes, donor_index = np.unique(np.asarray(donors), return_inverse=True)
    host_codes, host_index = np.unique(np.asarray(hosts), return_inverse=True)
    nd, nh = len(donor_codes), len(host_codes)
    estimate = decompose(values, donors, hosts)
    shares = []
    for start in range(0, replicates, chunk):
        size = min(chunk, replicates - start)
        dw = rng.multinomial(nd, np.full(nd, 1.0 / nd), size=size).astype(float)
        hw = rng.multinomial(nh, np.full(nh, 1.0 / nh), size=size).astype(float)
        comps = np.clip(_weighted_components(values, donor_index, host_index, dw, hw), 0, None)
        total = comps.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares.append(comps / total)
    share = np.concatenate(shares)
    alpha = (1 - level) / 2

    def ci(x: np.ndarray) -> tuple[float, float]:
        x = x[np.isfinite(x)]
        if x.size == 0:
            return (float("nan"), float("nan"))
        low, high = np.quantile(x, [alpha, 1 - alpha])
        return float(low), float(high)

    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = share[:, 1] / share[:, 0]
    return Decomposition(estimate, ci(share[:, 0]), ci(share[:, 1]),
                         ci(share[:, 0] - share[:, 1]), ci(ratio), len(values), nd, nh, share)


def verdict(decomposition: Decomposition) -> str:
    """``donor-driven`` / ``host-driven`` when the share difference's CI excludes 0."""
    low, high = decomposition.difference_ci
    if np.isfinite(low) and low > 0:
        return "donor-driven"
    if np.isfinite(high) and high < 0:
        return "host-driven"
    return "undetermined"


def crossed_frame(frame: pd.DataFrame, *, value: str = "correct") -> pd.DataFrame:
    """Rows usable for the decomposition: a value, a donor and a host."""
    keep = frame[value].notna() & (frame["donor_uid"].astype(str) != "") & (
        frame["host_ct_id"].astype(str) != "")
    return frame.loc[keep]
