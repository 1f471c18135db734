"""The copula lesion texture: a real lesion's heavy-tailed HU distribution survives, the
spatial correlation is the Gaussian field's, bad input is refused, draws are repeatable."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from lesiontrials.geometry import NoduleMask
from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.render.appearance.fields import smooth_field
from lesiontrials.render.appearance.lesion import lesion_layer, sample_lesion_params
from lesiontrials.render.appearance.lesion_texture import (
    copula_texture,
    fit_texture_quantiles,
)
from lesiontrials.testing import ellipsoid_mask


def _heavy_tailed(n: int, seed: int = 0) -> np.ndarray:
    """A solid tumour's core: mostly 30 ± 40 HU, with 8 % air/necrosis pockets far below
    (negative skew, heavy left tail, like the pyradiomics lung2 lesion)."""
    rng = np.random.default_rng(seed)
    values = rng.normal(30.0, 40.0, n)
    pocket = rng.random(n) < 0.08
    values[pocket] = rng.normal(-600.0, 200.0, int(pocket.sum()))
    return values


def test_copula_keeps_skewness_and_kurtosis_of_a_heavy_tailed_sample() -> None:
    sample = _heavy_tailed(20_000)
    assert stats.skew(sample) < -2.5 and stats.kurtosis(sample) > 5.0  # the fixture is heavy
    quantiles = fit_texture_quantiles(sample, noise_sd_hu=0.0)
    field = smooth_field(3, (60, 60, 60), 1.5)
    texture = copula_texture(field, quantiles).ravel()
    assert stats.skew(texture) == pytest.approx(stats.skew(sample), rel=0.15)
    assert stats.kurtosis(texture) == pytest.approx(stats.kurtosis(sample), rel=0.25)
    assert texture.std() == pytest.approx(sample.std(), rel=0.05)
    # a Gaussian texture of the same SD — what the renderer drew before — cannot
    gaussian = sample.std() * field.ravel()
    assert abs(stats.skew(gaussian)) < 0.2 and abs(stats.kurtosis(gaussian)) < 0.5


def test_copula_keeps_the_fields_spatial_correlation() -> None:
    field = smooth_field(4, (48, 48, 48), 2.0)
    texture = copula_texture(field, fit_texture_quantiles(_heavy_tailed(5000),
                                                          noise_sd_hu=0.0))
    # neighbours are correlated (a monotone map of a smooth field), white noise would not be
    lag1 = np.corrcoef(texture[:-1].ravel(), texture[1:].ravel())[0, 1]
    assert lag1 > 0.6
    ranks = stats.spearmanr(field.ravel()[::7], texture.ravel()[::7]).statistic
    assert ranks > 0.999  # the value order is the field's


def test_fit_removes_the_scan_noise_variance() -> None:
    rng = np.random.default_rng(1)
    texture = _heavy_tailed(30_000, seed=2)
    observed = texture + rng.normal(0.0, 60.0, texture.size)
    quantiles = np.asarray(fit_texture_quantiles(observed, noise_sd_hu=60.0))
    assert np.all(np.diff(quantiles) >= 0)
    drawn = copula_texture(np.random.default_rng(3).standard_normal(40_000), tuple(quantiles))
    assert drawn.std() == pytest.approx(texture.std(), rel=0.05)
    assert abs(float(drawn.mean())) < 0.05 * texture.std()


def test_bad_texture_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        fit_texture_quantiles(np.zeros(5), noise_sd_hu=1.0)
    with pytest.raises(ValueError, match="NaN"):
        fit_texture_quantiles(np.r_[np.zeros(30), np.nan], noise_sd_hu=1.0)
    with pytest.raises(ValueError, match="noise"):
        fit_texture_quantiles(np.zeros(30), noise_sd_hu=-1.0)
    with pytest.raises(ValueError, match="ascending"):
        copula_texture(np.zeros(4), (3.0, 1.0))


def test_lesion_layer_draws_the_copula_texture_deterministically() -> None:
    spacing = (0.7, 0.7, 1.25)
    mask = ellipsoid_mask((6.0, 6.0, 6.0), spacing)
    nodule = NoduleMask(mask, (10, 10, 10))
    base = sample_lesion_params(LesionDescriptors(), rng=np.random.default_rng(2))
    params = replace(base, texture_quantiles_hu=fit_texture_quantiles(
        _heavy_tailed(4000), noise_sd_hu=0.0))
    first = lesion_layer(params, mask=nodule, spacing_mm=spacing, shape=(60, 60, 40))
    again = lesion_layer(params, mask=nodule, spacing_mm=spacing, shape=(60, 60, 40))
    assert first.hu.tobytes() == again.hu.tobytes()
    inside = first.alpha > 0.99
    assert stats.skew(first.hu[inside]) < -1.5  # the tail reaches the drawn lesion
    plain = lesion_layer(base, mask=nodule, spacing_mm=spacing, shape=(60, 60, 40))
    assert abs(stats.skew(plain.hu[inside])) < 0.5
