"""What a cross design can tell apart: a small seeded simulation of its pairs.

For a design's realised (donor, host) pairs, simulate one binary answer per pair from an
additive logit model ``logit P(correct) = a_donor + b_host`` (accuracy 50 % on average,
where a binary answer carries the most information about nothing and the least about the
factors) and test each factor with the two-way fixed-effects F-test of the additive model
(type II: donor given host, host given donor). A task is *called* donor-driven when the
donor test rejects at ``alpha`` and the host test does not (and vice versa).

Reported, each over ``n_sims`` simulations: the rejection rate of each test with no effect
at all (its size), the power of each test at logit SD ``effect_sd``, and how often a task
driven by one factor only, or by both equally, is called donor- or host-driven. This is a
statement about the *design* under a simple, stated analysis; the project's diagnostic may
be more or less powerful, and its own calibration lives in ``benchmarks/``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lesiontrials.seeding import rng_for


def _residual_maker(columns: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """``(I − P, rank)`` for the column space of the given design blocks."""
    x = np.column_stack(columns)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    rank = int((s > s.max() * max(x.shape) * np.finfo(float).eps).sum())
    basis = u[:, :rank]
    return np.eye(x.shape[0]) - basis @ basis.T, rank


def _indicators(index: np.ndarray) -> np.ndarray:
    levels = int(index.max()) + 1
    out = np.zeros((len(index), levels))
    out[np.arange(len(index)), index] = 1.0
    return out


def design_power(donor: np.ndarray, host: np.ndarray, *, effect_sd: float = 1.0,
                 n_sims: int = 400, alpha: float = 0.05, seed: int = 0) -> dict[str, Any]:
    """Size and power of the donor and host F-tests on this design (see module docstring).

    ``donor`` and ``host`` are ``(P,)`` integer codes (0..D−1, 0..H−1) of each pair.
    Returns a JSON-ready dict; when the design leaves no residual degrees of freedom (e.g.
    one host per donor) the rates are ``None`` and ``separable`` is false."""
    donor, host = np.asarray(donor, dtype=int), np.asarray(host, dtype=int)
    n = len(donor)
    one = np.ones((n, 1))
    m_full, rank_full = _residual_maker([one, _indicators(donor), _indicators(host)])
    m_donor, rank_donor = _residual_maker([one, _indicators(donor)])
    m_host, rank_host = _residual_maker([one, _indicators(host)])
    df_res, df_d, df_h = n - rank_full, rank_full - rank_host, rank_full - rank_donor
    out: dict[str, Any] = {
        "method": "two-way additive F-tests (type II) on one simulated binary answer per "
                  "pair, logit P(correct) = donor + host effects, mean accuracy 50 %",
        "effect_logit_sd": effect_sd, "alpha": alpha, "simulations": n_sims, "seed": seed,
        "df_donor": df_d, "df_host": df_h, "df_residual": df_res,
        "separable": bool(df_res > 0 and df_d > 0 and df_h > 0),
    }
    keys = ("size_donor_test", "size_host_test", "power_donor_effect", "power_host_effect",
            "called_donor_driven_when_donor_only", "called_host_driven_when_donor_only",
            "called_host_driven_when_host_only", "called_donor_driven_when_host_only",
            "called_one_factor_when_equal")
    if not out["separable"]:
        return {**out, **dict.fromkeys(keys)}
    from scipy import stats  # here: every stage imports this package, few run this function

    crit_d = stats.f.ppf(1 - alpha, df_d, df_res)
    crit_h = stats.f.ppf(1 - alpha, df_h, df_res)
    rng = rng_for(seed, "cross-design-power")

    def verdicts(sd_donor: float, sd_host: float) -> tuple[np.ndarray, np.ndarray]:
        a = rng.normal(0.0, 1.0, (int(donor.max()) + 1, n_sims)) * sd_donor
        b = rng.normal(0.0, 1.0, (int(host.max()) + 1, n_sims)) * sd_host
        p = 1.0 / (1.0 + np.exp(-(a[donor] + b[host])))
        y = (rng.random((n, n_sims)) < p).astype(float)
        rss_full = np.einsum("ij,ij->j", m_full @ y, m_full @ y)
        rss_host_only = np.einsum("ij,ij->j", m_host @ y, m_host @ y)
        rss_donor_only = np.einsum("ij,ij->j", m_donor @ y, m_donor @ y)
        scale = np.maximum(rss_full / df_res, 1e-12)
        f_d = (rss_host_only - rss_full) / df_d / scale
        f_h = (rss_donor_only - rss_full) / df_h / scale
        return f_d > crit_d, f_h > crit_h

    null_d, null_h = verdicts(0.0, 0.0)
    don_d, don_h = verdicts(effect_sd, 0.0)
    host_d, host_h = verdicts(0.0, effect_sd)
    eq_d, eq_h = verdicts(effect_sd, effect_sd)
    rates = (null_d.mean(), null_h.mean(), don_d.mean(), host_h.mean(),
             (don_d & ~don_h).mean(), (don_h & ~don_d).mean(),
             (host_h & ~host_d).mean(), (host_d & ~host_h).mean(),
             ((eq_d & ~eq_h) | (eq_h & ~eq_d)).mean())
    return {**out, **{k: round(float(v), 3) for k, v in zip(keys, rates, strict=True)}}


def power_statement(summary: dict[str, Any]) -> str:
    """One sentence for the plan summary."""
    head = (f"cross design: {summary['donors']} donors x {summary['hosts']} hosts, "
            f"{summary['pairs']} pairs, {summary['hosts_per_donor_min']}-"
            f"{summary['hosts_per_donor_max']} hosts per donor, "
            f"{summary['donors_per_host_min']}-{summary['donors_per_host_max']} donors per host")
    power = summary["power"]
    if not power["separable"]:
        return head + "; it cannot separate donor from host effects (no residual df)"
    return (head + f"; at logit SD {power['effect_logit_sd']:g} a donor-only task is called "
            f"donor-driven {power['called_donor_driven_when_donor_only']:.0%} and a host-only "
            f"task host-driven {power['called_host_driven_when_host_only']:.0%} of the time "
            f"(F-tests at {power['alpha']:g}, sizes {power['size_donor_test']:.2f}/"
            f"{power['size_host_test']:.2f}, {power['simulations']} simulations)")
