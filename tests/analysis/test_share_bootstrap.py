"""Parametric bootstrap of the donor/host shares: the fit recovers known components, the
re-estimation is the estimator itself, and the null bootstrap test holds its level."""

from __future__ import annotations

import numpy as np

from lesiontrials.analysis import share_bootstrap, variance
from lesiontrials.analysis.simulate import DEMO, CrossedDesign, Effects, simulate_answers
from lesiontrials.seeding import rng_for


def _gaussian_answers(rng: np.random.Generator, *, donor: float, donor_shared: float,
                      host: float, image: float, noise: float, design: CrossedDesign
                      ) -> tuple[np.ndarray, ...]:
    """Continuous answers with known variances: donor effect split into a part every
    unit shares and a unit-specific part."""
    d, h = design.pairs()
    units, slices = design.units, design.slices
    a = rng.normal(0, np.sqrt(donor_shared), design.n_donors)
    a_u = rng.normal(0, np.sqrt(donor - donor_shared), (units, design.n_donors))
    b = rng.normal(0, np.sqrt(host), design.n_hosts)
    g = rng.normal(0, np.sqrt(image), d.size)
    mean = a[d][None, :] + a_u[:, d] + b[h][None, :] + g[None, :]  # (units, pairs)
    values = mean[:, :, None] + rng.normal(0, np.sqrt(noise), (units, d.size, slices))
    shape = values.shape
    unit = np.broadcast_to(np.arange(units)[:, None, None], shape).ravel()
    donor_id = np.broadcast_to(d[None, :, None], shape).ravel()
    host_id = np.broadcast_to(h[None, :, None], shape).ravel()
    return values.ravel(), donor_id, host_id, unit


def test_fit_recovers_shared_and_unit_specific_variances() -> None:
    design = CrossedDesign("fit", n_donors=60, hosts_per_donor=6, n_hosts=60, units=8)
    fits = [share_bootstrap.fit_shares_model(*answers[:3], units=answers[3])
            for answers in (_gaussian_answers(rng_for(1, "fit", i), donor=0.4,
                                              donor_shared=0.3, host=0.2, image=0.1,
                                              noise=0.5, design=design) for i in range(6))]
    mean = {name: np.mean([getattr(f, name) for f in fits])
            for name in ("donor_shared", "donor_unit", "host_shared", "host_unit",
                         "image_shared", "image_unit", "noise")}
    assert abs(mean["donor_shared"] - 0.3) < 0.08
    assert abs(mean["donor_unit"] - 0.1) < 0.04
    assert abs(mean["host_shared"] - 0.2) < 0.06
    assert mean["host_unit"] < 0.03
    assert abs(mean["image_shared"] - 0.1) < 0.03
    assert mean["image_unit"] < 0.03
    assert abs(mean["noise"] - 0.5) < 0.03
    assert not fits[0].binary


def test_replicates_are_the_estimator_on_the_drawn_data() -> None:
    """The vectorised re-estimation equals ``variance.decompose`` run on each drawn data
    set, so the bootstrap distribution is the estimator's own."""
    answers = simulate_answers(DEMO, Effects(donor_sd=1.0, host_sd=0.5), rng_for(2, "draw"))
    data = (answers.correct, answers.donor, answers.host)
    fit = share_bootstrap.fit_shares_model(*data, units=answers.unit)
    assert fit.binary
    codes = share_bootstrap._codes(answers.donor, answers.host, answers.unit,
                                   answers.correct.size)
    draws = share_bootstrap._draw_values(fit, codes, 5, rng_for(2, "boot"))
    replicates = share_bootstrap.bootstrap_shares(*data, fit=fit, rng=rng_for(2, "boot"),
                                                  replicates=5, units=answers.unit)
    for row, shares in zip(draws, replicates, strict=True):
        estimate = variance.decompose(row, answers.donor, answers.host, units=answers.unit)
        expected = (estimate.donor / estimate.total, estimate.host / estimate.total)
        np.testing.assert_allclose(shares[:2], expected, rtol=1e-9, atol=1e-12)
        assert set(np.unique(row)) <= {0.0, 1.0}


def test_world_matches_the_estimated_components_on_the_probability_scale() -> None:
    answers = simulate_answers(DEMO, Effects(donor_sd=1.0, host_sd=1.0), rng_for(3, "world"))
    data = (answers.correct, answers.donor, answers.host)
    fit = share_bootstrap.fit_shares_model(*data, units=answers.unit)
    estimate = variance.decompose(*data, units=answers.unit)
    donor, host, _ = share_bootstrap._world_components(fit)
    assert abs(donor - max(estimate.donor, 0.0)) < 0.05 * max(estimate.donor, 1e-3) + 1e-6
    assert abs(host - max(estimate.host, 0.0)) < 0.05 * max(estimate.host, 1e-3) + 1e-6


def test_null_world_has_no_variance_in_the_tested_factor() -> None:
    answers = simulate_answers(DEMO, Effects(donor_sd=1.0, host_sd=1.0), rng_for(4, "null"))
    fit = share_bootstrap.fit_shares_model(answers.correct, answers.donor, answers.host,
                                           units=answers.unit)
    donor_null = share_bootstrap.null_fit(fit, factor=0)
    assert donor_null.donor_shared == donor_null.donor_unit == 0.0
    assert donor_null.host_shared == fit.host_shared
    assert donor_null.shares()[0] == 0.0


def test_same_generator_gives_identical_replicates() -> None:
    answers = simulate_answers(DEMO, Effects(donor_sd=1.0, host_sd=0.0), rng_for(5, "same"))
    data = (answers.correct, answers.donor, answers.host)
    fit = share_bootstrap.fit_shares_model(*data, units=answers.unit)
    first, second = (share_bootstrap.bootstrap_shares(*data, fit=fit, rng=rng_for(5, "b"),
                                                      replicates=50, units=answers.unit)
                     for _ in range(2))
    np.testing.assert_array_equal(first, second)


def _mean_bias(effects: Effects, sims: int, label: str) -> np.ndarray:
    rng = rng_for(6, label)
    biases = []
    for i in range(sims):
        answers = simulate_answers(DEMO, effects, rng)
        biases.append(share_bootstrap.share_bias(
            answers.correct, answers.donor, answers.host, units=answers.unit,
            rng=rng_for(6, label, i), replicates=100))
    return np.mean(biases, axis=0)


def test_bias_has_the_sign_the_estimator_has_at_five_by_five() -> None:
    """Known truth at the demo design (5 donors × 5 hosts, 16 units): the estimator is
    biased up at zero shares (+0.008 in the bench) and down at positive shares (−0.01 to
    −0.02); the bootstrap bias must carry those signs, so subtracting it moves the
    centre towards the truth."""
    zero = _mean_bias(Effects(donor_sd=0.0, host_sd=0.0), 30, "zero")
    equal = _mean_bias(Effects(donor_sd=1.0, host_sd=1.0), 30, "equal")
    assert (zero > 0.001).all() and (zero < 0.012).all()
    assert (equal < -0.003).all() and (equal > -0.04).all()


def test_constant_answers_have_no_bias_to_correct() -> None:
    donors = np.repeat(np.arange(4), 6).astype(str)
    hosts = np.tile(np.arange(6), 4).astype(str)
    assert share_bootstrap.share_bias(np.ones(24), donors, hosts, rng=rng_for(7)) == (0.0, 0.0)


def test_diagnostic_records_the_bias_and_repeats_it_byte_for_byte() -> None:
    import pandas as pd

    from lesiontrials.analysis.diagnostic import cell_diagnostics, task_verdicts

    answers = simulate_answers(CrossedDesign("t", 5, 3, 5, units=2),
                               Effects(donor_sd=1.0, host_sd=0.0), rng_for(8, "diag"))
    frame = pd.DataFrame({"model": answers.unit.astype(str), "task": "lobe",
                          "condition": "plain", "donor_uid": answers.donor.astype(str),
                          "host_ct_id": answers.host.astype(str), "correct": answers.correct})
    first, again = (cell_diagnostics(frame, seed=3) for _ in range(2))
    pd.testing.assert_frame_equal(first, again)
    assert (first["donor_share_bias"] != 0).all()
    other = cell_diagnostics(frame, seed=4)
    assert not np.allclose(first["donor_share_bias"], other["donor_share_bias"])
    record = task_verdicts(frame, seed=3)["lobe"]
    low, high = record["donor_share_ci"]
    assert low <= record["donor_share"] <= high
    assert record["donor_share_bias"] != 0.0


def test_the_bias_moves_the_boundary_test_and_not_the_limits() -> None:
    answers = simulate_answers(CrossedDesign("b", 12, 4, 12, units=4),
                               Effects(donor_sd=1.5, host_sd=0.0), rng_for(9, "bound"))
    data = (answers.correct, answers.donor, answers.host)
    plain = variance.decomposition_intervals(*data, units=answers.unit)
    assert plain.excludes_zero[0]
    point = plain.estimate.donor / plain.estimate.total
    shifted = variance.decomposition_intervals(*data, units=answers.unit,
                                               share_bias=(point, 0.0))
    assert not shifted.excludes_zero[0]
    assert shifted.donor_share_ci == plain.donor_share_ci
    assert shifted.excludes_zero[1] == plain.excludes_zero[1]
