"""Calibration of the statistics by simulation: verdict error rates, power, CI coverage.

Prints one JSON object per design (demo, paper) on its own line. Data come from
:mod:`lesiontrials.analysis.simulate`: binary correctness from a logistic model with donor
and host random effects (plus a donor × host image effect of logit SD 0.5), 16 answering
units (model × condition cells, intercepts around the task's baseline accuracy with SD
0.5) answering the same 3 slices of every donor × host pair. Designs: the cyclic
incomplete blocks the cross design plans (docs/trials.md): demo = 5 donors × 5 hosts,
3 hosts per donor and 3 donors per host (15 pairs); paper = 42 donors × 42 hosts, 6 hosts
per donor and 6 donors per host (252 pairs).

Keys: ``null_wrong_verdict_rate_*`` (any determined verdict when donor and host shares
are zero / equal at logit SD 1), ``power_paper_*`` (paper design: the right verdict at
logit SD 1 of the driving factor), ``coverage_*`` (95 % intervals: donor/host shares,
accuracy in case-clustered and crossed designs incl. few units and accuracy near 1,
paired differences), each with ``*_mcse`` (Monte-Carlo standard error) and the number of
simulated data sets; ``reference_iid_wilson_coverage_accuracy_*`` is the coverage of the
Wilson interval that treats items as independent on the same data sets (a floor for
any interval that admits clustering where accuracy 0.97 leaves only a few errors).

``judged_by_<accuracy cell>``: ``pointwise`` (the cell's own coverage must lie in
[0.93, 0.97]) or ``window_mean`` (no non-randomised interval can reach the band at that
truth with that many items, see ``pointwise_attainable``: the cell's mean coverage over
true accuracies 0.955–0.98, ``--part window``, must), with
``attainable_coverages_straddling_band_<cell>``.

At a true share of 0 (``coverage_host_share_donor_driven``, ``coverage_*_zero_shares``) an
interval clipped to [0, 1] can only miss from below; the share's confidence set therefore
tests 0 one-sided (``variance.share_covers``: 0 is outside when the boundary test rejects
it), which is what brings those cells to 0.95 rather than 0.975.

Usage: ``python benchmarks/bench_stat_calibration.py [--quick] [--sims N] [--design D] [--part P]``
(P: verdicts, accuracy, paired = the crossed paired-difference cell alone, or window = the
accuracy-0.97 cells over a window of true accuracies, see ``accuracy_window``).
``variance_ratio_{donor,host}_share_*``: mean multiway jackknife variance of the share /
Monte-Carlo variance of the share estimate (1: unbiased; > 1: the interval is wider than
the sampling spread needs). The paired cell also prints
``variance_ratio_paired_difference_crossed``: mean estimated variance / Monte-Carlo
variance of the difference.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import expit

from lesiontrials.analysis.bootstrap import accuracy_interval, paired_difference
from lesiontrials.analysis.crossed_moments import crossed_mean_variance
from lesiontrials.analysis.intervals import critical_value, wilson
from lesiontrials.analysis.resampling import unit_cells
from lesiontrials.analysis.share_bootstrap import share_bias
from lesiontrials.analysis.simulate import (
    DEMO,
    PAPER,
    CrossedDesign,
    Effects,
    simulate_answers,
    true_accuracy,
    true_components,
    unit_intercepts,
)
from lesiontrials.analysis.variance import decomposition_intervals, share_covers, verdict
from lesiontrials.seeding import rng_for

SCENARIOS = {  # name → (donor SD, host SD) on the logit scale
    "zero_shares": (0.0, 0.0),
    "equal_shares": (1.0, 1.0),
    "donor_driven": (1.0, 0.0),
    "host_driven": (0.0, 1.0),
}
RIGHT = {"donor_driven": "donor-driven", "host_driven": "host-driven"}


def _rate(hits: list[bool]) -> tuple[float, float]:
    p = float(np.mean(hits))
    return round(p, 4), round(float(np.sqrt(max(p * (1 - p), 1e-12) / len(hits))), 4)


def verdict_scenarios(design: CrossedDesign, *, sims: int, seed: int) -> dict[str, Any]:
    """Verdict rates and share-CI coverage for each scenario."""
    out: dict[str, Any] = {}
    for name, (donor_sd, host_sd) in SCENARIOS.items():
        effects = Effects(donor_sd=donor_sd, host_sd=host_sd)
        intercepts = unit_intercepts(effects, design.units, rng_for(seed, design.name, "beta"))
        donor_var, host_var, total = true_components(effects, intercepts)
        truth = (donor_var / total, host_var / total)
        rng = rng_for(seed, design.name, name)
        verdicts, covered_d, covered_h = [], [], []
        shares, squared_se = [], []
        for i in range(sims):
            answers = simulate_answers(design, effects, rng, intercepts=intercepts)
            data = (answers.correct, answers.donor, answers.host)
            bias = share_bias(*data, units=answers.unit,
                              rng=rng_for(seed, design.name, name, "pboot", i))
            dec = decomposition_intervals(*data, units=answers.unit, share_bias=bias)
            verdicts.append(verdict(dec))
            shares.append((dec.estimate.donor / dec.estimate.total,
                           dec.estimate.host / dec.estimate.total))
            squared_se.append(np.square(dec.standard_errors[:2]))
            covered_d.append(share_covers(dec, truth[0], factor=0))
            covered_h.append(share_covers(dec, truth[1], factor=1))
        called = np.array(verdicts)
        if name in RIGHT:
            wrong = RIGHT["host_driven" if name == "donor_driven" else "donor_driven"]
            out[f"wrong_verdict_rate_{name}"], out[f"wrong_verdict_rate_{name}_mcse"] = _rate(
                list(called == wrong))
            key = f"power_paper_{name}" if design.name == "paper" else f"detection_rate_{name}"
            out[key], out[f"{key}_mcse"] = _rate(list(called == RIGHT[name]))
        else:
            key = f"null_wrong_verdict_rate_{name}"
            out[key], out[f"{key}_mcse"] = _rate(list(called != "undetermined"))
        out[f"true_donor_share_{name}"] = round(truth[0], 4)
        out[f"true_host_share_{name}"] = round(truth[1], 4)
        for label, hits in (("donor", covered_d), ("host", covered_h)):
            out[f"coverage_{label}_share_{name}"], out[f"coverage_{label}_share_{name}_mcse"] = (
                _rate(hits))
        # mean multiway jackknife variance / Monte-Carlo variance of the share estimate
        ratio = np.mean(squared_se, axis=0) / np.var(shares, axis=0, ddof=1)
        out[f"variance_ratio_donor_share_{name}"] = round(float(ratio[0]), 3)
        out[f"variance_ratio_host_share_{name}"] = round(float(ratio[1]), 3)
    out["verdict_sims_per_scenario"] = sims
    out["decomposition_interval"] = (
        "lower: multiway jackknife (donors + hosts - pairs); upper: donors + hosts; t; "
        "0 excluded when the one-sided boundary test of the estimate less its "
        "parametric-bootstrap bias (200 replicates) rejects it")
    return out


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _case_clustered(cases: int, slices: int, accuracy: float, rng: np.random.Generator,
                    case_sd: float = 1.0) -> tuple[np.ndarray, np.ndarray, float]:
    """Correctness of ``slices`` items in each of ``cases`` cases (random case effect)."""
    effects = Effects(donor_sd=case_sd, host_sd=0.0, image_sd=0.0)
    beta = _intercept_for(effects, accuracy)
    u = rng.normal(0.0, case_sd, cases)
    correct = (rng.random((cases, slices)) < expit(beta + u[:, None])).astype(float)
    return correct.ravel(), np.repeat(np.arange(cases), slices), true_accuracy(effects, beta)


def _intercept_for(effects: Effects, accuracy: float) -> float:
    """The intercept whose population accuracy is ``accuracy`` (bisection on the logit)."""
    low, high = -12.0, 12.0
    for _ in range(60):
        mid = (low + high) / 2
        if true_accuracy(effects, mid) < accuracy:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _iid_wilson_covers(correct: np.ndarray, truth: float) -> bool:
    """Whether the 95 % Wilson interval that treats the items as independent — narrower
    than any interval that admits clustering — covers ``truth``. At accuracy 0.97 with a
    few dozen items most data sets have 0–3 errors and every such interval covers 0.97,
    so this is a floor under the coverage any honest interval can reach there."""
    low, high = wilson(float(correct.mean()), correct.size, critical_value(0.95, None))
    return low <= truth <= high


BAND = (0.93, 0.97)


def pointwise_attainable(items: int, accuracy: float, *, band: tuple[float, float] = BAND
                         ) -> tuple[bool, list[float]]:
    """Whether a non-randomised interval for ``items`` independent items can cover
    ``accuracy`` with a probability inside ``band``, and the two attainable coverages
    that straddle it.

    Near accuracy 1 every honest interval covers at the smallest error counts and misses
    only above some count k (its lower limit at n/n is already below the truth), so its
    coverage is one of the values P(errors ≤ k) of Binomial(items, 1 − accuracy). When
    none of them falls in the band (36 items at 0.97: 0.907 then 0.978), no interval of
    any shape can meet the band at that truth; the cell is then judged by its mean
    coverage over a window of true accuracies (``accuracy_window``), the way exact and
    score intervals for a proportion are assessed (Brown, Cai & DasGupta 2001).
    """
    cdf = stats.binom.cdf(np.arange(items + 1), items, 1.0 - accuracy)
    inside = bool(((cdf >= band[0]) & (cdf <= band[1])).any())
    below = cdf[cdf < band[0]]
    above = cdf[cdf > band[1]]
    straddle = [round(float(below.max()), 4) if below.size else 0.0,
                round(float(above.min()), 4) if above.size else 1.0]
    return inside, straddle


def _judging_rule(key: str, items: int, accuracy: float) -> dict[str, Any]:
    """Which rule judges the cell ``key`` (see :func:`pointwise_attainable`)."""
    inside, straddle = pointwise_attainable(items, accuracy)
    return {f"judged_by_{key}": "pointwise" if inside else "window_mean",
            f"attainable_coverages_straddling_band_{key}": straddle}


def _accuracy_cells(design: CrossedDesign, *, sims: int, replicates: int, seed: int
                    ) -> dict[str, Any]:
    """Coverage of ``accuracy_interval`` and ``paired_difference`` against the population
    value, case-clustered (cases × 3 slices, case logit SD 1) and crossed (donor and host
    logit SD 1, one answering unit)."""
    out: dict[str, Any] = {}
    case_counts = (5, 12) if design.name == "demo" else (100,)
    for accuracy in (0.7, 0.97):
        tag = f"acc{round(accuracy * 100)}"
        for cases in case_counts:
            rng = rng_for(seed, design.name, "cases", cases, tag)
            hits, reference = [], []
            for _ in range(sims):
                correct, case, truth = _case_clustered(cases, 3, accuracy, rng)
                ci = accuracy_interval(correct, units={"case": case}, rng=rng,
                                       replicates=replicates)
                hits.append(ci.low <= truth <= ci.high)
                reference.append(_iid_wilson_covers(correct, truth))
            key = f"coverage_accuracy_cases{cases}_{tag}"
            out[key], out[f"{key}_mcse"] = _rate(hits)
            out.update(_judging_rule(key, cases * 3, accuracy))
            out[f"reference_iid_wilson_{key}"] = _rate(reference)[0]
        effects = Effects(donor_sd=1.0, host_sd=1.0)
        beta = _intercept_for(effects, accuracy)
        truth = true_accuracy(effects, beta)
        one_unit = CrossedDesign(design.name, design.n_donors, design.hosts_per_donor,
                                 design.n_hosts, design.slices, units=1)
        rng = rng_for(seed, design.name, "crossed", tag)
        hits, reference = [], []
        for _ in range(sims):
            answers = simulate_answers(one_unit, effects, rng, intercepts=np.array([beta]))
            units = {"donor": answers.donor, "host": answers.host}
            ci = accuracy_interval(answers.correct, units=units, rng=rng,
                                   replicates=replicates)
            hits.append(ci.low <= truth <= ci.high)
            reference.append(_iid_wilson_covers(answers.correct, truth))
        key = f"coverage_accuracy_crossed_{tag}"
        out[key], out[f"{key}_mcse"] = _rate(hits)
        out.update(_judging_rule(key, answers.correct.size, accuracy))
        out[f"reference_iid_wilson_{key}"] = _rate(reference)[0]
    out.update(_paired_coverage(design, sims=sims, replicates=replicates, seed=seed))
    return out


WINDOW_TRUTHS = (0.955, 0.96, 0.965, 0.97, 0.975, 0.98)


def accuracy_window(design: CrossedDesign, *, sims: int, replicates: int, seed: int,
                    cells: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Coverage of the accuracy-0.97 cells as a function of the true accuracy (0.955–0.98).

    With a few dozen items the number of errors is a small integer, so the coverage of
    any interval at one true accuracy is a sum of whole error counts and jumps as the
    truth moves (Brown, Cai & DasGupta 2001, "lucky" and "unlucky" p); the average over
    a window of truths is the interval's calibration, the single cell is where in that
    oscillation 0.97 falls. ``window_coverage_*`` lists the design interval's coverage at
    each truth (``window_iid_wilson_*``: Wilson on independent items, the narrowest upper
    limit an interval with at most n independent items can have); ``window_mean_*`` their
    averages. ``cells``: which cells (``cases5``, ``cases12``, ``crossed`` at demo size;
    ``cases100``, ``crossed`` at paper size), default the largest case count and crossed.
    A cell judged by its window mean passes when that mean lies in [0.93, 0.97].
    """
    out: dict[str, Any] = {"window_truths": list(WINDOW_TRUTHS), "window_sims": sims}
    default = ("cases12", "crossed") if design.name == "demo" else ("cases100", "crossed")
    one_unit = CrossedDesign(design.name, design.n_donors, design.hosts_per_donor,
                             design.n_hosts, design.slices, units=1)
    effects = Effects(donor_sd=1.0, host_sd=1.0)
    for cell in cells or default:
        design_hits, iid_hits = [], []
        for accuracy in WINDOW_TRUTHS:
            rng = rng_for(seed, design.name, "window", cell, str(accuracy))
            beta = _intercept_for(effects, accuracy)
            hits, reference = [], []
            for _ in range(sims):
                if cell == "crossed":
                    answers = simulate_answers(one_unit, effects, rng, intercepts=np.array([beta]))
                    correct, truth = answers.correct, true_accuracy(effects, beta)
                    units = {"donor": answers.donor, "host": answers.host}
                else:
                    correct, case, truth = _case_clustered(int(cell[5:]), 3, accuracy, rng)
                    units = {"case": case}
                ci = accuracy_interval(correct, units=units, rng=rng, replicates=replicates)
                hits.append(ci.low <= truth <= ci.high)
                reference.append(_iid_wilson_covers(correct, truth))
            design_hits.append(round(float(np.mean(hits)), 4))
            iid_hits.append(round(float(np.mean(reference)), 4))
        out[f"window_coverage_accuracy_{cell}"] = design_hits
        out[f"window_iid_wilson_accuracy_{cell}"] = iid_hits
        out[f"window_mean_coverage_accuracy_{cell}"] = round(float(np.mean(design_hits)), 4)
        out[f"window_mean_iid_wilson_accuracy_{cell}"] = round(float(np.mean(iid_hits)), 4)
    return out


def accuracy_coverage(design: CrossedDesign, *, sims: int, replicates: int, seed: int,
                      paired_only: bool = False) -> dict[str, Any]:
    """Coverage of ``accuracy_interval`` and ``paired_difference`` (see
    :func:`_accuracy_cells`); ``paired_only``: the paired cell alone."""
    out = (_paired_coverage(design, sims=sims, replicates=replicates, seed=seed)
           if paired_only else _accuracy_cells(design, sims=sims, replicates=replicates,
                                               seed=seed))
    out["accuracy_sims_per_scenario"] = sims
    out["accuracy_bootstrap_replicates"] = replicates
    return out


def _paired_coverage(design: CrossedDesign, *, sims: int, replicates: int, seed: int
                     ) -> dict[str, Any]:
    """Two answering units on the same crossed items (accuracies 0.75 and 0.65)."""
    effects = Effects(donor_sd=1.0, host_sd=1.0)
    betas = np.array([_intercept_for(effects, 0.75), _intercept_for(effects, 0.65)])
    truth = true_accuracy(effects, betas[0]) - true_accuracy(effects, betas[1])
    two = CrossedDesign(design.name, design.n_donors, design.hosts_per_donor, design.n_hosts,
                        design.slices, units=2)
    rng = rng_for(seed, design.name, "paired")
    hits, estimates, variances = [], [], []
    for _ in range(sims):
        answers = simulate_answers(two, effects, rng, intercepts=betas)
        first = answers.unit == 0
        units = {"donor": answers.donor[first], "host": answers.host[first]}
        ci = paired_difference(answers.correct[first], answers.correct[~first],
                               units=units, rng=rng, replicates=replicates)
        hits.append(ci.low <= truth <= ci.high)
        difference = answers.correct[first] - answers.correct[~first]
        estimates.append(float(difference.mean()))
        variances.append(_crossed_variance(difference, units))
    rate, mcse = _rate(hits)
    return {"coverage_paired_difference_crossed": rate,
            "coverage_paired_difference_crossed_mcse": mcse,
            "variance_ratio_paired_difference_crossed": _variance_ratio(variances, estimates)}


def _crossed_variance(values: np.ndarray, units: dict[str, np.ndarray]) -> float:
    """The paired interval's variance of the mean: the unbiased two-way moments variance,
    floored at the independent-items variance (the interval's n_eff ≤ n cap)."""
    variance, _ = crossed_mean_variance(values, unit_cells(units, values.size), fit="unbiased")
    return max(variance, float(np.var(values)) / values.size)


def _variance_ratio(variances: list[float], estimates: list[float]) -> float:
    """Mean estimated variance / Monte-Carlo variance of the estimate over the data sets
    (1: unbiased on average; the diagnostic for over- or under-coverage)."""
    return round(float(np.mean(variances) / np.var(estimates, ddof=1)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=None,
                        help="data sets per verdict scenario (default: demo 1000, paper 400)")
    parser.add_argument("--accuracy-sims", type=int, default=1000)
    parser.add_argument("--accuracy-replicates", type=int, default=500)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--quick", action="store_true", help="a few sims, for smoke tests")
    parser.add_argument("--design", choices=("demo", "paper"), action="append",
                        help="run only these designs (default: both)")
    parser.add_argument("--part", choices=("verdicts", "accuracy", "paired", "window"),
                        action="append",
                        help="run only these parts (default: verdicts and accuracy; "
                             "paired = the crossed paired-difference cell alone; window = "
                             "the accuracy-0.97 cells over true accuracies 0.955-0.98)")
    parser.add_argument("--window-cell", action="append",
                        help="with --part window: cells to run (cases5, cases12, cases100, "
                             "crossed; default the largest case count and crossed)")
    args = parser.parse_args()
    if args.quick:
        args.sims, args.accuracy_sims = 20, 40
    for design in (DEMO, PAPER):
        if args.design and design.name not in args.design:
            continue
        start = time.perf_counter()
        record: dict[str, Any] = {
            "bench": "stat_calibration", "design": design.name, "donors": design.n_donors,
            "hosts": design.n_hosts, "hosts_per_donor": design.hosts_per_donor,
            "host_offsets": design.offsets().tolist(),
            "donors_per_host": design.n_donors * design.hosts_per_donor // design.n_hosts,
            "pairs": design.n_donors * design.hosts_per_donor, "slices_per_pair": design.slices,
            "answering_units": design.units, "seed": args.seed}
        sims = args.sims or {"demo": 1000, "paper": 400}[design.name]
        if not args.part or "verdicts" in args.part:
            record.update(verdict_scenarios(design, sims=sims, seed=args.seed))
        if not args.part or "accuracy" in args.part or "paired" in args.part:
            record.update(accuracy_coverage(
                design, sims=args.accuracy_sims, replicates=args.accuracy_replicates,
                seed=args.seed, paired_only=bool(args.part) and "accuracy" not in args.part))
        if args.part and "window" in args.part:
            record.update(accuracy_window(design, sims=args.accuracy_sims,
                                          replicates=args.accuracy_replicates, seed=args.seed,
                                          cells=tuple(args.window_cell or ()) or None))
        record["seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps(record, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
