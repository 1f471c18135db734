"""Why the demo's share intervals over-cover where they do: alternative interval rules on
the calibration bench's own simulated data sets (issue 14, session 8). JSON out, one
object per scenario.

Same streams as ``bench_stat_calibration.py --part verdicts`` (seed, design, scenario):
each data set's point shares and its delete-one-donor, -host and -pair jackknife
variances (V_D, V_H, V_P) are computed once, and the rules below are applied to them.
Keys per scenario: ``mean_estimate_{donor,host}`` (bias at the true share),
``se_over_sd_{donor,host}`` (mean multiway SE / Monte-Carlo SD of the estimate),
``combined_not_positive_{donor,host}`` (share of data sets where V_D + V_H − V_P ≤ 0 and
the rule falls back), and ``coverage_{rule}_{donor,host}`` for

- ``current``: lower limit estimate − t₄·√V (V = V_D + V_H − V_P, else max(V_D, V_H)),
  upper limit from V_D + V_H, one-sided boundary test at a zero share (variance.py);
- ``satterthwaite_lower``: the lower limit and boundary test on the Welch–Satterthwaite
  df of the three jackknife parts (as ``bootstrap.crossed_df`` for accuracies);
- ``satterthwaite_both``: both limits on that df;
- ``normal_lower``: the normal quantile for the lower limit and the test;
- ``fallback_min`` / ``fallback_pairs``: min(V_D, V_H) / V_P when V_D + V_H − V_P ≤ 0.

With ``--bootstrap B`` (session 9), per data set a parametric bootstrap over the design
(``analysis/share_bootstrap.py``; its own stream ``rng_for(seed, design, scenario,
"pboot", i)``): θ_w the fitted world's share, θ* the B re-estimates, bias = mean θ* − θ_w.

- ``pboot_null_test``: current limits; 0 excluded when θ̂ exceeds the 95th percentile
  of the re-estimates in the null world (the factor's variance set to 0);
- ``pboot_basic``: [θ̂ − (q₀.₉₇₅ − θ_w), θ̂ − (q₀.₀₂₅ − θ_w)], null-world test;
- ``pboot_bc_t``: current limits and one-sided t test, both centred on θ̂ − bias;
- ``pboot_bc_t_basic_upper``: the same lower limit and test, basic upper limit;
- ``pboot_bc_test``: current limits, one-sided t test on θ̂ − bias (adopted in
  ``variance.decomposition_intervals``).

``--bias-only`` draws only the fitted world, not the null worlds; it prints the
``pboot_bc*`` rules only.

Usage: ``python benchmarks/bench_share_rules.py [--sims N] [--seed S] [--design D]``
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from lesiontrials.analysis import share_bootstrap, variance
from lesiontrials.analysis.simulate import (
    DEMO,
    PAPER,
    CrossedDesign,
    Effects,
    simulate_answers,
    true_components,
    unit_intercepts,
)
from lesiontrials.seeding import rng_for

SCENARIOS = {"zero_shares": (0.0, 0.0), "equal_shares": (1.0, 1.0),
             "donor_driven": (1.0, 0.0), "host_driven": (0.0, 1.0)}


@dataclass
class _Bootstraps:
    """Per data set: the fitted world's shares (sims, 2), the re-estimated shares from
    the fitted world (sims, B, 2) and from the null worlds (sims, B, 2; column 0 from
    the world without donor variance, 1 without host variance)."""

    world: list[list[float]] = field(default_factory=list)
    full: list[np.ndarray] = field(default_factory=list)
    null: list[np.ndarray] = field(default_factory=list)


def _bootstrap(answers: Any, replicates: int, rng: np.random.Generator,
               boots: _Bootstraps, *, bias_only: bool) -> None:
    data = (answers.correct, answers.donor, answers.host)
    fit = share_bootstrap.fit_shares_model(*data, units=answers.unit)
    boots.world.append(list(fit.shares()))
    boots.full.append(share_bootstrap.bootstrap_shares(
        *data, fit=fit, rng=rng, replicates=replicates, units=answers.unit)[:, :2])
    if bias_only:
        return
    boots.null.append(np.stack([share_bootstrap.bootstrap_shares(
        *data, fit=share_bootstrap.null_fit(fit, factor=factor), rng=rng,
        replicates=replicates, units=answers.unit)[:, factor] for factor in (0, 1)], axis=1))


def _draws(design: CrossedDesign, name: str, *, sims: int, seed: int, replicates: int = 0,
           boots: _Bootstraps | None = None, bias_only: bool = False
           ) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """(sims, 2) point shares, (sims, 3, 2) jackknife variances V_D, V_H, V_P, truth;
    with ``replicates`` > 0 also the parametric bootstraps into ``boots`` (their own
    streams: the data sets stay those of the calibration bench)."""
    donor_sd, host_sd = SCENARIOS[name]
    effects = Effects(donor_sd=donor_sd, host_sd=host_sd)
    intercepts = unit_intercepts(effects, design.units, rng_for(seed, design.name, "beta"))
    donor_var, host_var, total = true_components(effects, intercepts)
    rng = rng_for(seed, design.name, name)
    points, parts = [], []
    for i in range(sims):
        answers = simulate_answers(design, effects, rng, intercepts=intercepts)
        if replicates and boots is not None:
            _bootstrap(answers, replicates, rng_for(seed, design.name, name, "pboot", i), boots,
                       bias_only=bias_only)
        layout = variance._layout(answers.correct, answers.donor, answers.host, answers.unit)
        estimate = variance.decompose(answers.correct, answers.donor, answers.host,
                                      units=answers.unit)
        points.append([estimate.donor / estimate.total, estimate.host / estimate.total])
        parts.append([variance._jackknife_variance(layout, clusters, 1_000_000)[:2]
                      for clusters in (layout.donor, layout.host, layout.pair)])
    return np.array(points), np.array(parts), (donor_var / total, host_var / total)


def _satterthwaite(parts: np.ndarray, levels: tuple[int, int, int]) -> np.ndarray:
    v_d, v_h, v_p = parts
    pieces = ((np.maximum(v_d - v_p, 0), levels[0]), (np.maximum(v_h - v_p, 0), levels[1]),
              (v_p, levels[2]))
    total = sum(piece for piece, _ in pieces)
    denominator = sum(piece**2 / (g - 1) for piece, g in pieces)
    fallback = float(min(levels[:2]) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, total**2 / denominator, fallback)


def _coverage(point: np.ndarray, parts: np.ndarray, truth: float, *, rule: str,
              levels: tuple[int, int, int]) -> float:
    v_d, v_h, v_p = parts
    combined = v_d + v_h - v_p
    fallback = {"fallback_min": np.minimum(v_d, v_h), "fallback_pairs": v_p}.get(
        rule, np.maximum(v_d, v_h))
    multiway = np.where(combined > 0, combined, fallback)
    upper_variance = np.maximum(v_d + v_h, multiway)
    df = np.full(point.size, float(min(levels[:2]) - 1))
    df_low = {"satterthwaite_lower": _satterthwaite(parts, levels),
              "satterthwaite_both": _satterthwaite(parts, levels),
              "normal_lower": np.full(point.size, np.inf)}.get(rule, df)
    df_high = _satterthwaite(parts, levels) if rule == "satterthwaite_both" else df
    low = np.clip(point - stats.t.ppf(0.975, df_low) * np.sqrt(multiway), 0, 1)
    high = np.clip(np.maximum(point, 0) + stats.t.ppf(0.975, df_high)
                   * np.sqrt(upper_variance), 0, 1)
    covered = (low <= truth) & (truth <= high)
    if truth <= 0:
        covered &= ~(point - stats.t.ppf(0.95, df_low) * np.sqrt(multiway) > 0)
    return round(float(covered.mean()), 4)


BOOTSTRAP_RULES = ("pboot_null_test", "pboot_basic", "pboot_bc_t", "pboot_bc_t_basic_upper",
                   "pboot_bc_test")


def _bootstrap_coverage(point: np.ndarray, parts: np.ndarray, truth: float,
                        boots: _Bootstraps, factor: int, *, levels: tuple[int, int, int]
                        ) -> dict[str, float | None]:
    """Coverage of the parametric-bootstrap rules (module docstring) for one factor."""
    v_d, v_h, v_p = parts
    combined = v_d + v_h - v_p
    multiway = np.where(combined > 0, combined, np.maximum(v_d, v_h))
    upper_variance = np.maximum(v_d + v_h, multiway)
    t = stats.t.ppf(0.975, min(levels[:2]) - 1)
    full = np.array(boots.full)[:, :, factor]
    world = np.array(boots.world)[:, factor]
    bias_only = not boots.null
    reject_zero = (np.zeros(point.size, dtype=bool) if bias_only else
                   point > np.quantile(np.array(boots.null)[:, :, factor], 0.95, axis=1))
    q_low, q_high = np.quantile(full, [0.025, 0.975], axis=1)
    bias = full.mean(axis=1) - world
    corrected = point - bias
    one_sided = stats.t.ppf(0.95, min(levels[:2]) - 1)
    t_rejects = corrected - one_sided * np.sqrt(multiway) > 0
    limits = {  # rule → (low, high, zero rejected)
        "pboot_null_test": (point - t * np.sqrt(multiway),
                            np.maximum(point, 0) + t * np.sqrt(upper_variance), reject_zero),
        "pboot_basic": (point - (q_high - world), point - (q_low - world), reject_zero),
        "pboot_bc_t": (corrected - t * np.sqrt(multiway),
                       np.maximum(corrected, 0) + t * np.sqrt(upper_variance), t_rejects),
        "pboot_bc_t_basic_upper": (corrected - t * np.sqrt(multiway),
                                   point - (q_low - world), t_rejects),
        # adopted (variance.decomposition_intervals(share_bias=…)): current limits, the
        # one-sided boundary test on the corrected estimate
        "pboot_bc_test": (point - t * np.sqrt(multiway),
                          np.maximum(point, 0) + t * np.sqrt(upper_variance), t_rejects),
    }
    if bias_only:  # the null worlds were not drawn
        limits = {rule: value for rule, value in limits.items() if rule.startswith("pboot_bc")}
    out = {}
    for rule, (low, high, rejects) in limits.items():
        covered = (np.clip(low, 0, 1) <= truth) & (truth <= np.clip(high, 0, 1))
        if truth <= 0:
            covered &= ~rejects
        out[rule] = round(float(covered.mean()), 4)
    out["mean_bias"] = round(float(bias.mean()), 4)
    out["null_test_rejects"] = None if bias_only else round(float(reject_zero.mean()), 4)
    out["mean_bias_corrected"] = round(float(corrected.mean()), 4)
    return out


RULES = ("current", "satterthwaite_lower", "satterthwaite_both", "normal_lower",
         "fallback_min", "fallback_pairs")


def scenario(design: CrossedDesign, name: str, *, sims: int, seed: int, replicates: int = 0,
             bias_only: bool = False) -> dict[str, Any]:
    boots = _Bootstraps()
    points, parts, truth = _draws(design, name, sims=sims, seed=seed, replicates=replicates,
                                  boots=boots, bias_only=bias_only)
    levels = (design.n_donors, design.n_hosts, design.n_donors * design.hosts_per_donor)
    out: dict[str, Any] = {"bench": "share_rules", "design": design.name, "scenario": name,
                           "seed": seed, "sims": sims}
    for factor, label in enumerate(("donor", "host")):
        point, factor_parts = points[:, factor], parts[:, :, factor].T
        v_d, v_h, v_p = factor_parts
        combined = v_d + v_h - v_p
        multiway = np.where(combined > 0, combined, np.maximum(v_d, v_h))
        out[f"true_{label}_share"] = round(truth[factor], 4)
        out[f"mean_estimate_{label}"] = round(float(point.mean()), 4)
        out[f"se_over_sd_{label}"] = round(float(np.sqrt(multiway).mean() / point.std()), 3)
        out[f"combined_not_positive_{label}"] = round(float((combined <= 0).mean()), 3)
        for rule in RULES:
            out[f"coverage_{rule}_{label}"] = _coverage(point, factor_parts, truth[factor],
                                                        rule=rule, levels=levels)
        if replicates:
            extra = _bootstrap_coverage(point, factor_parts, truth[factor], boots, factor,
                                        levels=levels)
            out[f"null_test_rejects_{label}"] = extra.pop("null_test_rejects")
            out[f"mean_estimate_bias_corrected_{label}"] = extra.pop("mean_bias_corrected")
            out[f"mean_bootstrap_bias_{label}"] = extra.pop("mean_bias")
            for rule, value in extra.items():
                out[f"coverage_{rule}_{label}"] = value
    if replicates:
        out["bootstrap_replicates"] = replicates
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--design", choices=("demo", "paper"), default="demo")
    parser.add_argument("--bootstrap", type=int, default=0,
                        help="parametric-bootstrap replicates per data set (0: skip those rules)")
    parser.add_argument("--bias-only", action="store_true",
                        help="draw only the fitted world (the bias-corrected rules), not the "
                             "null worlds")
    parser.add_argument("--scenario", choices=tuple(SCENARIOS), action="append")
    args = parser.parse_args()
    design = DEMO if args.design == "demo" else PAPER
    for name in args.scenario or SCENARIOS:
        start, cpu = time.perf_counter(), time.process_time()
        record = scenario(design, name, sims=args.sims, seed=args.seed,
                          replicates=args.bootstrap, bias_only=args.bias_only)
        record.update({"wall_s": round(time.perf_counter() - start, 1),
                       "cpu_s": round(time.process_time() - cpu, 1)})
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
