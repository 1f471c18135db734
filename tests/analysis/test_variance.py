"""Donor/host decomposition: the repeated-answers bias, constant models, calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from lesiontrials.analysis.diagnostic import cell_diagnostics, task_verdicts
from lesiontrials.analysis.simulate import (
    CrossedDesign,
    Effects,
    simulate_answers,
    true_components,
    unit_intercepts,
)
from lesiontrials.analysis.variance import decompose, decomposition_intervals, verdict

MEDIUM = CrossedDesign("medium", n_donors=45, hosts_per_donor=3, n_hosts=45, units=4)


def _donor_only_repeated(seed: int, units: int = 16) -> tuple[np.ndarray, ...]:
    """Donor-only truth; every unit answers the same donor × host slices (repeated
    answers): 40 donors, each in 3 of 40 hosts, correctness Bernoulli(expit(a_d))."""
    rng = np.random.default_rng(seed)
    design = CrossedDesign("t", n_donors=40, hosts_per_donor=3, n_hosts=40, slices=1,
                           units=units)
    donor, host = design.pairs()
    a = rng.normal(0.0, 2.0, 40)
    p = np.tile(expit(a[donor]), units)
    correct = (rng.random(p.size) < p).astype(float)
    unit = np.repeat(np.arange(units), donor.size)
    return correct, np.tile(donor, units), np.tile(host, units), unit


def _all_pairs_host_share(y: np.ndarray, donor: np.ndarray, host: np.ndarray) -> float:
    """The earlier estimator: host covariance from every pair sharing a host, including
    the same slice answered by another unit (which shares the donor too)."""
    v = y - y.mean()
    sums = np.bincount(host, weights=v)
    squares = np.bincount(host, weights=v**2)
    counts = np.bincount(host).astype(float)
    host_cov = (sums**2 - squares).sum() / (counts * (counts - 1)).sum()
    return float(host_cov / v.var())


def test_repeated_answers_do_not_count_as_host_variance():
    y, donor, host, unit = _donor_only_repeated(seed=3)
    biased = _all_pairs_host_share(y, donor, host)
    assert biased > 0.05  # the bug of issue 14, reproduced (truth: 0)
    shares = decompose(y, donor, host, units=unit).shares
    assert shares[1] < 0.03
    assert shares[0] > 0.2  # donor variance found


def test_host_share_stays_near_zero_over_seeds():
    host_shares = [decompose(*_donor_only_repeated(seed)[:3],
                             units=_donor_only_repeated(seed)[3]).host
                   for seed in range(8)]
    assert abs(float(np.mean(host_shares))) < 0.005


def test_a_constant_answer_model_is_never_donor_or_host_driven():
    donor, host = MEDIUM.pairs()
    frame = pd.DataFrame({"donor_uid": donor.astype(str), "host_ct_id": host.astype(str),
                          "model": "always", "task": "lobe", "condition": "plain",
                          "correct": 1.0, "donor_dataset": np.where(donor % 2, "A", "B"),
                          "host_dataset": "H"})
    cells = cell_diagnostics(frame)
    assert list(cells["verdict"]) == ["undetermined"]
    assert cells.loc[0, "verdict_reason"].startswith("no variation")
    record = task_verdicts(frame)["lobe"]
    assert record["verdict"] == "undetermined" and record["prediction"] == "no prediction"
    assert record["leave_one_source_out"]["verdict_survives"] is None


def _frame(answers, design_name: str = "m") -> pd.DataFrame:
    return pd.DataFrame({"donor_uid": answers.donor.astype(str),
                         "host_ct_id": answers.host.astype(str),
                         "model": (answers.unit % 2).astype(str),
                         "condition": (answers.unit // 2).astype(str), "task": design_name,
                         "correct": answers.correct,
                         "donor_dataset": np.where(answers.donor % 2, "DA", "DB"),
                         "host_dataset": np.where(answers.host % 2, "HA", "HB")})


@pytest.mark.parametrize(("donor_sd", "host_sd", "expected"),
                         [(1.5, 0.0, "donor-driven"), (0.0, 1.5, "host-driven")])
def test_task_verdicts_find_the_driving_factor(donor_sd, host_sd, expected):
    effects = Effects(donor_sd=donor_sd, host_sd=host_sd)
    rng = np.random.default_rng(7)
    answers = simulate_answers(MEDIUM, effects, rng)
    record = task_verdicts(_frame(answers, "t"))["t"]
    assert record["verdict"] == expected
    assert record["answering_units"] == 4
    assert record["leave_one_source_out"]["checks"]  # checked because determined


def test_undetermined_verdicts_are_not_checked_for_stability():
    rng = np.random.default_rng(8)
    answers = simulate_answers(MEDIUM, Effects(donor_sd=0.0, host_sd=0.0), rng)
    record = task_verdicts(_frame(answers, "t"))["t"]
    assert record["verdict"] == "undetermined"
    assert record["leave_one_source_out"] == {
        "checks": [], "verdict_survives": None,
        "note": "not checked: the verdict is undetermined"}


def _calibration(effects: Effects, sims: int, seed: int) -> tuple[list[str], list[bool]]:
    intercepts = unit_intercepts(effects, MEDIUM.units, np.random.default_rng(seed))
    donor_var, _, total = true_components(effects, intercepts)
    rng = np.random.default_rng(seed + 1)
    verdicts, covered = [], []
    for _ in range(sims):
        a = simulate_answers(MEDIUM, effects, rng, intercepts=intercepts)
        dec = decomposition_intervals(a.correct, a.donor, a.host, units=a.unit)
        verdicts.append(verdict(dec))
        covered.append(dec.donor_share_ci[0] <= donor_var / total <= dec.donor_share_ci[1])
    return verdicts, covered


def test_null_wrong_verdict_rate_and_share_coverage_small_simulation():
    # Equal donor and host effects: any determined verdict is wrong. 60 data sets; at a
    # true rate of 0.05 more than 8 wrong calls has probability < 0.01.
    verdicts, covered = _calibration(Effects(donor_sd=1.0, host_sd=1.0), sims=60, seed=11)
    assert sum(v != "undetermined" for v in verdicts) <= 8
    # coverage of the donor share: 0.95 ± 3 Monte-Carlo SE (0.028) at 60 data sets
    assert 0.85 <= np.mean(covered) <= 1.0


def test_power_at_logit_sd_one_on_a_medium_design():
    verdicts, _ = _calibration(Effects(donor_sd=1.0, host_sd=0.0), sims=20, seed=12)
    assert sum(v == "donor-driven" for v in verdicts) >= 14
    assert "host-driven" not in verdicts


def test_true_components_match_a_large_monte_carlo_sample():
    effects = Effects(donor_sd=1.0, host_sd=0.5, image_sd=0.5)
    intercepts = np.array([0.3, 1.2])
    donor_var, host_var, total = true_components(effects, intercepts)
    rng = np.random.default_rng(9)
    a = rng.normal(0, 1.0, (2000, 1, 1))
    b = rng.normal(0, 0.5, (1, 400, 1))
    e = rng.normal(0, 0.5, (2000, 400, 1))
    p = expit(intercepts[None, None, :] + a + b + e)  # (donors, hosts, units)
    mc_donor = p.mean(axis=1).var(axis=0).mean()
    mc_host = p.mean(axis=0).var(axis=0).mean()
    mean = p.mean(axis=(0, 1))
    assert donor_var == pytest.approx(mc_donor, rel=0.1)
    assert host_var == pytest.approx(mc_host, rel=0.15)
    assert total == pytest.approx(float((mean * (1 - mean)).mean()), rel=0.01)


def test_a_factor_without_effect_has_exactly_zero_true_variance():
    donor_var, host_var, _ = true_components(Effects(donor_sd=1.0, host_sd=0.0),
                                             np.array([0.5, 1.5]))
    assert host_var == 0.0 and donor_var > 0.01


def test_share_intervals_are_never_degenerate_and_wider_above():
    # Donor-only truth on a 5 x 5 design: host shares often estimate below 0. The host
    # interval must still have a positive upper limit (never [0, 0]) and the upper side
    # uses the conservative SE, so it is at least as long as the lower side.
    design = CrossedDesign("demo-like", n_donors=5, hosts_per_donor=3, n_hosts=5, units=16)
    effects = Effects(donor_sd=1.0, host_sd=0.0)
    rng = np.random.default_rng(21)
    intercepts = unit_intercepts(effects, design.units, rng)
    negatives = 0
    for _ in range(25):
        a = simulate_answers(design, effects, rng, intercepts=intercepts)
        dec = decomposition_intervals(a.correct, a.donor, a.host, units=a.unit)
        shares = dec.estimate.donor / dec.estimate.total, dec.estimate.host / dec.estimate.total
        for share, (low, high) in zip(shares, (dec.donor_share_ci, dec.host_share_ci), strict=True):
            assert high > low >= 0.0
            if low > 0.0 and high < 1.0:  # neither limit clipped
                assert high - share >= share - low - 1e-12
        negatives += shares[1] < 0
    assert negatives > 0  # the case the rule is for occurred


def _zero_share_decomposition(share: float, se: float, low: float, high: float, *,
                              excludes: bool):
    from lesiontrials.analysis.variance import Components, Decomposition

    return Decomposition(Components(share, 0.0, 1.0 - share), (low, high), (0.0, high),
                         (low, high), (0.0, 1.0), 90, 5, 5, (se, se, se), 1, 0.95,
                         (excludes, False))


def test_boundary_test_is_one_sided_on_four_df():
    """Known answer at 5 donors × 5 hosts (t on 4 df): an estimate 2.5 SE above 0 is
    between the one-sided (2.13) and two-sided (2.78) quantiles, so 0 is outside the
    confidence set although the clipped lower limit is 0; a positive share is judged by
    the interval alone."""
    from lesiontrials.analysis.variance import share_covers

    design = CrossedDesign("demo-like", n_donors=5, hosts_per_donor=3, n_hosts=5, units=16)
    rng = np.random.default_rng(31)
    effects = Effects(donor_sd=1.0, host_sd=0.0)
    intercepts = unit_intercepts(effects, design.units, rng)
    seen = set()
    for _ in range(120):
        a = simulate_answers(design, effects, rng, intercepts=intercepts)
        dec = decomposition_intervals(a.correct, a.donor, a.host, units=a.unit)
        share = dec.estimate.donor / dec.estimate.total
        ratio = share / dec.standard_errors[0]
        assert dec.excludes_zero[0] == (ratio > 2.1318)  # t(0.95, 4 df)
        if dec.donor_share_ci[0] > 0:
            assert dec.excludes_zero[0]  # the two-sided test rejecting implies the one-sided
        seen.add((dec.excludes_zero[0], dec.donor_share_ci[0] > 0))
    assert (True, False) in seen  # the case the rule is for: (0, high]
    dec = _zero_share_decomposition(0.25, 0.1, 0.0, 0.6, excludes=True)
    assert not share_covers(dec, 0.0, factor=0)
    assert share_covers(dec, 0.01, factor=0) and share_covers(dec, 0.6, factor=0)
    assert not share_covers(dec, 0.61, factor=0)
    assert share_covers(dec, 0.0, factor=1)  # host: not excluded


def test_zero_share_coverage_small_simulation():
    """No donor or host variance at demo size: the confidence set contains 0 in about
    0.95 of data sets (bench: 0.94–0.95), where the clipped interval alone contains it in
    about 0.975 — it can only miss 0 from below."""
    from lesiontrials.analysis.variance import share_covers

    design = CrossedDesign("demo-like", n_donors=5, hosts_per_donor=3, n_hosts=5, units=16)
    rng = np.random.default_rng(32)
    effects = Effects(donor_sd=0.0, host_sd=0.0)
    intercepts = unit_intercepts(effects, design.units, rng)
    covered, clipped = [], []
    for _ in range(400):
        a = simulate_answers(design, effects, rng, intercepts=intercepts)
        dec = decomposition_intervals(a.correct, a.donor, a.host, units=a.unit)
        for factor, (low, _) in enumerate((dec.donor_share_ci, dec.host_share_ci)):
            covered.append(share_covers(dec, 0.0, factor=factor))
            clipped.append(low <= 0.0)
    # 800 share intervals (donor and host, correlated): 0.95 ± ~4 Monte-Carlo SE
    assert 0.91 <= np.mean(covered) <= 0.975
    assert np.mean(covered) < np.mean(clipped)
