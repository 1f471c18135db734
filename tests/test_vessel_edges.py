"""The edge-width measure recovers the blur of a known blurred disc and cylinder; a
host's vessels give its in-plane blur; a two-level edge is measured at its outer level."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from lesiontrials.vessel_edges import (
    WIDTH_PER_SIGMA,
    edge_width_mm,
    vessel_edge_sigma_mm,
    vessel_edge_width,
)

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


def _vessel_host(sigma_mm: float, *, vessels: bool = True, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """A lung slab (−850 HU, 0.6×0.6×2 mm) crossed along z by 3–5 mm vessels (+40 HU),
    blurred in-plane by ``sigma_mm``, with 12 HU noise; and its lung mask."""
    spacing = (0.6, 0.6, 2.0)
    n = 120
    axis = np.arange(n) * spacing[0]
    x, y = np.meshgrid(axis, axis, indexing="ij")
    image = np.full((n, n), -850.0, np.float32)
    if vessels:
        for cx, cy, r in ((20, 20, 2.5), (50, 25, 1.6), (30, 50, 2.0), (55, 55, 2.5)):
            image[np.hypot(x - cx, y - cy) <= r] = 40.0
    image = ndimage.gaussian_filter(image, sigma_mm / spacing[0])
    volume = np.repeat(image[:, :, None], 8, axis=2)
    volume += np.random.default_rng(seed).normal(0.0, 12.0, volume.shape).astype(np.float32)
    return volume, np.ones(volume.shape, bool), spacing


@pytest.mark.parametrize("sigma", [0.7, 1.0, 1.3])  # ≳ a pixel: below, the grid shows
def test_vessel_edges_give_the_hosts_blur(sigma: float) -> None:
    ct, lung, spacing = _vessel_host(sigma)
    measured = vessel_edge_sigma_mm(ct, lung, spacing)
    assert measured == pytest.approx(sigma, rel=0.2)


def test_no_vessels_or_excluded_vessels_give_no_blur() -> None:
    ct, lung, spacing = _vessel_host(0.8, vessels=False)
    assert vessel_edge_sigma_mm(ct, lung, spacing) is None
    ct, lung, spacing = _vessel_host(0.8)
    everything = np.zeros(ct.shape, bool)
    everything[60, 60, 4] = True  # every vessel lies within 50 mm of it
    assert vessel_edge_sigma_mm(ct, lung, spacing, exclude=everything) is not None
    assert vessel_edge_width(ct, lung, spacing, exclude=everything, exclude_mm=60.0) is None


def test_the_outer_shell_level_measures_a_two_level_edge() -> None:
    """A 'part-solid' disc: ground glass (−600 HU) with a dense centre (+40 HU). The
    core's median is the dense part, so the step — and the width — is overstated; the
    level from a shell just inside the outer boundary measures the ground-glass edge."""
    n = 120
    axis = (np.arange(n) - n / 2) * SPACING[0]
    x, y = np.meshgrid(axis, axis, indexing="ij")
    r = np.hypot(x, y)
    image = np.where(r <= 12.0, -600.0, -850.0).astype(np.float32)
    image[r <= 8.0] = 40.0
    image = ndimage.gaussian_filter(image, 0.8 / SPACING[0])
    volume = np.repeat(image[:, :, None], 5, axis=2)
    obj = np.repeat((r <= 12.0)[:, :, None], 5, axis=2)
    core = edge_width_mm(volume, obj, ~obj, SPACING)
    outer = edge_width_mm(volume, obj, ~obj, SPACING, shell_mm=1.0)
    assert core is not None and outer is not None
    assert outer.width_mm == pytest.approx(WIDTH_PER_SIGMA * 0.8, rel=0.15)
    assert core.width_mm > 1.5 * outer.width_mm


def test_a_vessel_through_ground_glass_does_not_set_its_edge() -> None:
    """A ground-glass disc (−600 HU on −850 HU, blurred 0.8 mm) crossed by a dense vessel
    (+40 HU, sharper): the outer-level measure keeps the ground glass's own width; the
    plain one takes the vessel's steeper slope for the 250 HU step's and comes out narrow."""
    n = 120
    axis = (np.arange(n) - n / 2) * SPACING[0]
    x, y = np.meshgrid(axis, axis, indexing="ij")
    glass = ndimage.gaussian_filter(np.where(np.hypot(x, y) <= 10.0, 250.0, 0.0), 0.8 / 0.6)
    vessel = ndimage.gaussian_filter(np.where(np.abs(x - 3.0) <= 1.5, 890.0, 0.0), 0.4 / 0.6)
    image = (-850.0 + np.maximum(glass, vessel)).astype(np.float32)
    volume = np.repeat(image[:, :, None], 5, axis=2)
    obj = np.repeat((np.hypot(x, y) <= 10.0)[:, :, None], 5, axis=2)
    background = ~obj & np.repeat((np.abs(x - 3.0) > 4.0)[:, :, None], 5, axis=2)
    plain = edge_width_mm(volume, obj, background, SPACING)
    outer = edge_width_mm(volume, obj, background, SPACING, shell_mm=1.0)
    assert plain is not None and outer is not None
    assert outer.width_mm == pytest.approx(WIDTH_PER_SIGMA * 0.8, rel=0.2)
    assert plain.width_mm < 0.7 * outer.width_mm


def test_exclusion_zone_equals_the_whole_volume_distance_transform() -> None:
    """The lesion's exclusion zone is computed on a box around it (memory); it must be the
    same voxels as the whole-volume distance transform gives, on anisotropic grids."""
    from lesiontrials.vessel_edges import _within_mm
    rng = np.random.default_rng(3)
    for _ in range(6):
        mask = np.zeros((60, 50, 30), dtype=bool)
        centre = rng.integers(0, [60, 50, 30])
        mask[tuple(slice(max(0, int(c) - 2), int(c) + 3) for c in centre)] = True
        spacing = tuple(float(s) for s in rng.uniform(0.5, 3.0, 3))
        distance = float(rng.uniform(3.0, 25.0))
        whole = ndimage.distance_transform_edt(~mask, sampling=spacing) <= distance
        assert np.array_equal(_within_mm(mask, distance, spacing), whole)
