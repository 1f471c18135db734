"""The edge-width measure recovers the blur of a known blurred disc and cylinder."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from lesiontrials.render.fidelity.edge_width import WIDTH_PER_SIGMA, edge_width_mm

SPACING = (0.6, 0.6, 5.0)


def _blurred_disc(radius_mm: float, sigma_mm: float, noise_sd: float = 0.0) -> tuple[
        np.ndarray, np.ndarray]:
    n = 96
    axis = (np.arange(n) - n / 2 + 0.3) * SPACING[0]
    x, y = np.meshgrid(axis, axis, indexing="ij")
    fine = (np.hypot(x, y) <= radius_mm).astype(np.float32)
    image = -850.0 + 900.0 * ndimage.gaussian_filter(fine, sigma_mm / SPACING[0])
    volume = np.repeat(image[:, :, None], 5, axis=2)
    volume += np.random.default_rng(0).normal(0.0, noise_sd, volume.shape).astype(np.float32)
    obj = np.repeat((np.hypot(x, y) <= radius_mm)[:, :, None], 5, axis=2)
    return volume, obj


@pytest.mark.parametrize("sigma", [0.6, 1.0, 1.5])
def test_recovers_the_blur_of_a_disc(sigma: float) -> None:
    image, obj = _blurred_disc(6.0, sigma)
    measured = edge_width_mm(image, obj, ~obj, SPACING)
    assert measured is not None
    assert measured.width_mm == pytest.approx(WIDTH_PER_SIGMA * sigma, rel=0.15)
    assert measured.step_hu == pytest.approx(900.0, rel=0.1)


def test_noise_does_not_decide_the_width() -> None:
    clean = edge_width_mm(*_blurred_disc(6.0, 1.0), ~_blurred_disc(6.0, 1.0)[1], SPACING)
    noisy_image, obj = _blurred_disc(6.0, 1.0, noise_sd=20.0)
    noisy = edge_width_mm(noisy_image, obj, ~obj, SPACING)
    assert clean is not None and noisy is not None
    assert noisy.width_mm == pytest.approx(clean.width_mm, rel=0.15)


def test_no_core_or_no_contrast_is_no_answer() -> None:
    image, obj = _blurred_disc(0.5, 0.6)
    assert edge_width_mm(image, obj, ~obj, SPACING) is None
    flat = np.zeros((20, 20, 3), np.float32)
    box = np.zeros_like(flat, bool)
    box[5:15, 5:15] = True
    assert edge_width_mm(flat, box, ~box, SPACING) is None
