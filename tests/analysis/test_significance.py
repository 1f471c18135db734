"""McNemar, Holm and Spearman ρ with its interval."""

from __future__ import annotations

import numpy as np
import pytest

from lesiontrials.analysis.significance import holm, mcnemar, spearman_interval


def test_mcnemar_one_discordant_pair_each_way_is_no_evidence():
    a = np.array([1, 0, 1, 1], dtype=bool)
    b = np.array([0, 1, 1, 1], dtype=bool)
    result = mcnemar(a, b)
    assert (result.b, result.c) == (1, 1)
    assert result.statistic == 0.0  # (|1 − 1| − 1)² would be 1: clipped at 0
    assert result.p_value == 1.0 and result.p_exact == 1.0


def test_mcnemar_exact_p_is_the_default():
    a = np.array([1] * 12 + [0] * 3 + [1] * 20, dtype=bool)
    b = np.array([0] * 12 + [1] * 3 + [1] * 20, dtype=bool)
    result = mcnemar(a, b)
    assert result.p_value == pytest.approx(2 * 576 / 32768)  # 2·P(X ≤ 3 | 15, ½)
    assert result.p_chi2 != result.p_value


def test_holm_against_a_hand_example():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 → max(0.06, 0.04) = 0.06
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])


def test_holm_ignores_missing_tests_and_caps_at_one():
    adjusted = holm([0.5, float("nan"), 0.6])
    assert np.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2]], [1.0, 1.0])  # 2 tests, not 3


def test_spearman_interval_contains_rho_and_excludes_zero_for_a_clear_relation():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 30)
    y = x + rng.normal(0, 0.15, 30)
    rho, low, high = spearman_interval(x, y, rng=np.random.default_rng(1), replicates=1000)
    assert low <= rho <= high and 0.0 < low < high <= 1.0


def test_duplicated_cells_do_not_narrow_the_interval_when_grouped():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, 8)
    y = x + rng.normal(0, 0.3, 8)
    copies = 4  # each cell repeated, as when cells share the same items
    xs, ys, groups = np.repeat(x, copies), np.repeat(y, copies), np.repeat(np.arange(8), copies)
    _, naive_low, naive_high = spearman_interval(xs, ys, rng=np.random.default_rng(3))
    _, low, high = spearman_interval(xs, ys, rng=np.random.default_rng(3), groups=groups)
    assert high - low > 1.5 * (naive_high - naive_low)


def test_spearman_interval_is_nan_without_variation():
    rho, low, high = spearman_interval(np.ones(5), np.arange(5.0), rng=np.random.default_rng(0))
    assert np.isnan(rho) and np.isnan(low) and np.isnan(high)
