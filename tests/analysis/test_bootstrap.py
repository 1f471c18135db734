"""Cluster-aware accuracy intervals and paired differences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from lesiontrials.analysis.bootstrap import accuracy_interval, paired_difference
from lesiontrials.errors import InputError


@pytest.mark.parametrize("units", [None, {"case": np.repeat(np.arange(4), 3)},
                                   {"donor": np.repeat(np.arange(4), 3),
                                    "host": np.tile(np.arange(3), 4)}])
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_twelve_of_twelve_is_never_a_zero_width_interval(units, value):
    ci = accuracy_interval(np.full(12, value), units=units, rng=np.random.default_rng(0))
    assert ci.estimate == value
    assert ci.high - ci.low > 0.1
    assert 0.0 <= ci.low <= ci.high <= 1.0
    assert ci.low <= value <= ci.high


def test_clustered_items_get_a_wider_interval_than_independent_ones():
    rng = np.random.default_rng(1)
    case = np.repeat(np.arange(10), 6)
    correct = (rng.random(10) < 0.6)[case].astype(float)  # each case all right or all wrong
    iid = accuracy_interval(correct, units=None, rng=np.random.default_rng(2))
    clustered = accuracy_interval(correct, units={"case": case}, rng=np.random.default_rng(2))
    assert iid.method == "wilson" and clustered.method == "wilson-design-effect"
    # 10 cases, not 60 items: the interval is at least twice as wide
    assert clustered.high - clustered.low > 2 * (iid.high - iid.low)


def test_one_case_says_nothing_beyond_itself():
    ci = accuracy_interval(np.array([1.0, 0.0, 1.0]), units={"case": np.zeros(3)},
                           rng=np.random.default_rng(0))
    assert (ci.low, ci.high, ci.method) == (0.0, 1.0, "single-unit")


def test_case_clustered_coverage_small_simulation():
    rng = np.random.default_rng(3)
    truth_logit, sd, cases = 0.85, 1.0, 12
    # population accuracy E[expit(β + u)], u ~ N(0, 1), by quadrature
    x, w = np.polynomial.hermite_e.hermegauss(40)
    truth = float((w / w.sum() * expit(truth_logit + sd * x)).sum())
    hits = []
    for _ in range(150):
        u = rng.normal(0, sd, cases)
        correct = (rng.random((cases, 3)) < expit(truth_logit + u[:, None])).astype(float)
        ci = accuracy_interval(correct.ravel(), units={"case": np.repeat(np.arange(cases), 3)},
                               rng=rng, replicates=400)
        hits.append(ci.low <= truth <= ci.high)
    assert 0.88 <= np.mean(hits) <= 0.995  # 0.95 ± ~3 Monte-Carlo SE at 150 data sets


def test_paired_difference_of_identical_answers_is_not_a_point():
    rng = np.random.default_rng(4)
    a = (rng.random(30) < 0.7).astype(float)
    ci = paired_difference(a, a, units={"case": np.repeat(np.arange(10), 3)},
                           rng=np.random.default_rng(5))
    assert ci.estimate == 0.0 and ci.low < 0.0 < ci.high
    assert ci.method == "newcombe-t"


def test_paired_difference_is_antisymmetric_and_contains_the_estimate():
    rng = np.random.default_rng(6)
    a = (rng.random(60) < 0.8).astype(float)
    b = (rng.random(60) < 0.5).astype(float)
    units = {"case": np.repeat(np.arange(20), 3)}
    ab = paired_difference(a, b, units=units, rng=np.random.default_rng(7))
    ba = paired_difference(b, a, units=units, rng=np.random.default_rng(7))
    assert ab.low < ab.estimate < ab.high
    assert ab.estimate == pytest.approx(-ba.estimate)
    assert ab.low == pytest.approx(-ba.high) and ab.high == pytest.approx(-ba.low)


def test_bad_inputs_name_the_field():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="correct"):
        accuracy_interval(np.array([0.0, 2.0]), units=None, rng=rng)
    with pytest.raises(InputError, match="case"):
        accuracy_interval(np.ones(3), units={"case": np.zeros(2)}, rng=rng)
    with pytest.raises(InputError, match="missing"):
        accuracy_interval(np.ones(2), units={"case": np.array([1.0, np.nan])}, rng=rng)
    with pytest.raises(InputError, match="same items"):
        paired_difference(np.ones(3), np.ones(4), units=None, rng=rng)


def test_paired_difference_without_discordant_pairs_is_never_a_point():
    """a = b with both at 0.5: Newcombe's method 10 alone gives [0, 0] (φ = 1)."""
    a = np.array([1, 1, 1, 0, 0, 0], dtype=float)
    for units in (None, {"case": np.array(["c1", "c1", "c2", "c2", "c3", "c3"])}):
        interval = paired_difference(a, a.copy(), units=units, rng=np.random.default_rng(0))
        assert interval.estimate == 0.0
        assert interval.low < 0.0 < interval.high
        assert interval.high == pytest.approx(-interval.low)


def test_balanced_cases_never_claim_more_than_n_items():
    """A constant answer on cases of one positive + one negative slice has the same mean in
    every case resample (negative intra-case correlation): the interval must still be at
    least as wide as Wilson on the n slices themselves."""
    from lesiontrials.analysis.intervals import critical_value, wilson

    correct = np.array([*np.tile([1.0, 0.0], 11), 1.0, 0.0, 0.0])  # 11 cases (1, 0), one (1, 0, 0)
    cases = np.array([*np.repeat([f"c{i}" for i in range(11)], 2), "c11", "c11", "c11"])
    got = accuracy_interval(correct, units={"case": cases}, rng=np.random.default_rng(1))
    low, high = wilson(float(correct.mean()), correct.size, critical_value(0.95, None))
    assert got.method == "wilson-design-effect"
    assert got.low == pytest.approx(low) and got.high == pytest.approx(high)
    assert got.high - got.low > 0.3


def test_crossed_df_follows_the_dominant_variance_component():
    """Satterthwaite df of the two-way variance: G_donor − 1 when the donor excess over the
    pair variance dominates, G_pair − 1 when only pair-level noise is left, between when
    both contribute."""
    from lesiontrials.analysis.bootstrap import crossed_df

    donors, hosts, pairs = 5, 5, 15
    only_pairs = crossed_df([(1, 1.0, donors), (1, 1.0, hosts), (-1, 1.0, pairs)])
    only_donor = crossed_df([(1, 101.0, donors), (1, 1.0, hosts), (-1, 1.0, pairs)])
    both = crossed_df([(1, 3.0, donors), (1, 3.0, hosts), (-1, 1.0, pairs)])
    assert only_pairs == pytest.approx(pairs - 1)
    assert only_donor == pytest.approx(donors - 1, rel=0.05)
    assert donors - 1 < both < pairs - 1


def _crossed_answers(rng, beta, *, units):
    """5 donors × 5 hosts, 3 hosts per donor (the demo's cyclic block), 3 slices per pair,
    donor and host logit SD 1, image SD 0.5; ``units`` answering units share everything
    but their intercepts ``beta``."""
    from lesiontrials.analysis.simulate import DEMO, CrossedDesign, Effects, simulate_answers

    design = CrossedDesign("demo", DEMO.n_donors, DEMO.hosts_per_donor, DEMO.n_hosts,
                           DEMO.slices, units=units)
    return simulate_answers(design, Effects(donor_sd=1.0, host_sd=1.0), rng,
                            intercepts=np.asarray(beta, dtype=float))


def test_crossed_paired_difference_covers_near_nominal_small_simulation():
    """Two models on the same 45 crossed slices: their donor and host effects cancel in the
    difference, so t on (fewest levels − 1) df over-covered (0.996) and the bootstrap sum
    V_D + V_H − V_P 0.98; the unbiased two-way moments variance brings it near 0.95
    (bench: docs/diagnostic.md)."""
    from lesiontrials.analysis.simulate import Effects, true_accuracy

    effects = Effects(donor_sd=1.0, host_sd=1.0)
    betas = np.array([1.55, 0.85])
    truth = true_accuracy(effects, betas[0]) - true_accuracy(effects, betas[1])
    rng = np.random.default_rng(21)
    hits, widths = [], []
    for _ in range(200):
        answers = _crossed_answers(rng, betas, units=2)
        first = answers.unit == 0
        units = {"donor": answers.donor[first], "host": answers.host[first]}
        ci = paired_difference(answers.correct[first], answers.correct[~first], units=units,
                               rng=rng, replicates=200)
        hits.append(ci.low <= truth <= ci.high)
        widths.append(ci.high - ci.low)
    # t on (fewest levels − 1) = 4 df gave 0.995 on the same data sets
    assert 0.90 <= np.mean(hits) <= 0.985
    assert min(widths) > 0.0


def test_crossed_paired_interval_does_not_depend_on_the_random_generator():
    """The crossed paired variance is computed from moments, not resampled: the same
    answers give the same interval whatever the generator."""
    answers = _crossed_answers(np.random.default_rng(8), [0.9, 0.4], units=2)
    first = answers.unit == 0
    units = {"donor": answers.donor[first], "host": answers.host[first]}
    a, b = answers.correct[first], answers.correct[~first]
    one = paired_difference(a, b, units=units, rng=np.random.default_rng(1))
    two = paired_difference(a, b, units=units, rng=np.random.default_rng(2))
    assert one.method == "newcombe-design-effect"
    assert (one.low, one.high) == (two.low, two.high)


def _balanced_crossed() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The demo's 15 donor × host pairs, 4 slices each; in every pair model a answers
    (1, 0, 1, 0) and model b (0, 1, 1, 0): every pair has the same difference (0) and the
    same accuracy (1/2), so donors, hosts and pairs vary less than independent items."""
    from lesiontrials.analysis.simulate import DEMO

    donor, host = DEMO.pairs()
    a = np.tile([1.0, 0.0, 1.0, 0.0], donor.size)
    b = np.tile([0.0, 1.0, 1.0, 0.0], donor.size)
    return a, b, {"donor": np.repeat(donor, 4), "host": np.repeat(host, 4)}


def test_crossed_paired_interval_under_the_floor_is_the_independent_items_one():
    """When the design's variance of a paired difference falls under the independent-items
    variance the interval is the independent-items one: n pairs and the normal quantile,
    not the design's t on a few df (which widened these intervals: crossed paired coverage
    0.970 at 5 × 5). A single accuracy keeps the design's quantile under its floor."""
    a, b, units = _balanced_crossed()
    rng = np.random.default_rng(5)
    paired = paired_difference(a, b, units=units, rng=rng)
    independent = paired_difference(a, b, units=None, rng=rng)
    assert paired.method == "newcombe-design-effect"
    assert (paired.low, paired.high) == pytest.approx((independent.low, independent.high))
    single = accuracy_interval(a, units=units, rng=rng, replicates=300)
    alone = accuracy_interval(a, units=None, rng=rng)
    assert single.method == "wilson-design-effect"
    assert single.low < alone.low and single.high > alone.high  # t on 4 df, n items
    assert paired.high - paired.low > 0.1 and single.high - single.low > 0.1


@pytest.mark.parametrize("wrong_items", [(0, 1, 2), (0, 1, 3), (0, 3, 6), (9, 21, 33)])
def test_three_errors_in_36_items_cover_accuracy_097_however_clustered(wrong_items):
    """Why the 12-case cell at accuracy 0.97 covers ≈ 0.973, not ≤ 0.97: with at most n
    independent items claimed, 3 errors in 36 slices (12 cases × 3) leave 0.97 inside the
    interval however the errors cluster, and independent-items Wilson excludes it only from
    4 errors on; coverage there is at least P(≤ 3 errors) (0.978 for independent items)."""
    from lesiontrials.analysis.intervals import critical_value, wilson

    cases = np.repeat(np.arange(12), 3)  # items 3c, 3c + 1, 3c + 2 belong to case c
    correct = np.ones(36)
    correct[list(wrong_items)] = 0.0
    got = accuracy_interval(correct, units={"case": cases}, rng=np.random.default_rng(3),
                            replicates=500)
    assert got.high >= 0.97
    z = critical_value(0.95, None)
    assert wilson(33 / 36, 36, z)[1] >= 0.97 > wilson(32 / 36, 36, z)[1]
