"""Two-way method-of-moments variance of a mean in a crossed donor × host design."""

from __future__ import annotations

import numpy as np
import pytest

from lesiontrials.analysis.crossed_moments import (
    crossed_components,
    crossed_mean_variance,
    crossed_moments,
    satterthwaite_df,
)
from lesiontrials.analysis.resampling import unit_cells
from lesiontrials.analysis.simulate import DEMO


def _demo_layout(slices: int = 3) -> tuple[np.ndarray, np.ndarray]:
    donor, host = DEMO.pairs()
    return np.repeat(donor, slices), np.repeat(host, slices)


def _gaussian(rng, sd: tuple[float, float, float, float], slices: int = 3) -> tuple:
    donor, host = _demo_layout(slices)
    pair = np.repeat(np.arange(donor.size // slices), slices)
    y = (rng.normal(0, sd[0], 5)[donor] + rng.normal(0, sd[1], 5)[host]
         + rng.normal(0, sd[2], pair.max() + 1)[pair] + rng.normal(0, sd[3], donor.size))
    return y, unit_cells({"donor": donor, "host": host}, donor.size)


def test_unbiased_components_and_variance_match_the_truth_on_average():
    """Known components (0.5, 0.3, 0.2, 1.0): the unbiased fit recovers each on average, and
    the variance it implies matches the Monte-Carlo variance of the mean."""
    rng = np.random.default_rng(0)
    sd = (np.sqrt(0.5), np.sqrt(0.3), np.sqrt(0.2), 1.0)
    fits, variances, means = [], [], []
    for _ in range(3000):
        y, cells = _gaussian(rng, sd)
        fits.append(crossed_components(crossed_moments(y, cells), fit="unbiased"))
        variances.append(crossed_mean_variance(y, cells, fit="unbiased")[0])
        means.append(y.mean())
    assert np.mean(fits, axis=0) == pytest.approx([0.5, 0.3, 0.2, 1.0], abs=0.06)
    assert np.mean(variances) / np.var(means) == pytest.approx(1.0, abs=0.08)


def test_variance_coefficients_are_the_exact_variance_of_the_mean():
    """Var(ȳ) = Σ c_k σ²_k: the demo block has 9 items per donor and per host, 3 per pair,
    45 in all."""
    y, cells = _gaussian(np.random.default_rng(1), (1, 1, 1, 1))
    coefficients = crossed_moments(y, cells).coefficients
    assert coefficients == pytest.approx([5 * 81 / 45**2, 5 * 81 / 45**2, 15 * 9 / 45**2,
                                          1 / 45])


def test_constrained_fit_is_non_negative_and_no_larger_than_truncation():
    """No donor or host effect: the unbiased components scatter around 0, the constrained
    ones are ≥ 0 and their variance is on average below the component-wise truncation's."""
    rng = np.random.default_rng(2)
    constrained, truncated = [], []
    for _ in range(400):
        y, cells = _gaussian(rng, (0.0, 0.0, 0.3, 1.0))
        moments = crossed_moments(y, cells)
        fit = crossed_components(moments, fit="constrained")
        assert (fit >= 0).all()
        constrained.append(float(moments.coefficients @ fit))
        raw = crossed_components(moments, fit="unbiased")
        truncated.append(float(moments.coefficients @ np.clip(raw, 0, None)))
    assert np.mean(constrained) < np.mean(truncated)


def test_satterthwaite_df_ignores_components_estimated_at_zero():
    df = np.array([4.0, 4.0, 6.0, 30.0])
    assert satterthwaite_df(np.array([0.0, 0.0, 0.0, 1.0]), df) == pytest.approx(30.0)
    assert satterthwaite_df(np.array([1.0, -0.5, 0.0, 0.0]), df) == pytest.approx(4.0)
    assert 4.0 < satterthwaite_df(np.array([1.0, 1.0, 0.0, 0.0]), df) == pytest.approx(8.0)
    assert satterthwaite_df(np.zeros(4), df) == float("inf")


def test_one_slice_per_pair_still_gives_a_variance():
    """No two items share a pair: the within-pair moment is undefined and drops out; the
    pair and item components merge, the variance stays finite and positive."""
    y, cells = _gaussian(np.random.default_rng(3), (1, 1, 0.5, 1), slices=1)
    variance, df = crossed_mean_variance(y, cells, fit="constrained")
    assert np.isfinite(variance) and variance > 0 and df >= 1


def test_constant_values_have_zero_variance():
    _, cells = _gaussian(np.random.default_rng(4), (1, 1, 1, 1))
    variance, df = crossed_mean_variance(np.ones(45), cells, fit="constrained")
    assert variance == 0.0 and df == float("inf")


def test_needs_two_factors():
    cells = unit_cells({"case": np.repeat(np.arange(5), 3)}, 15)
    with pytest.raises(ValueError, match="two factors"):
        crossed_moments(np.ones(15), cells)
