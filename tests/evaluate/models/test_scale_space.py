"""The blob detector's scale space: FFT and direct filtering agree, blobs are found where
they are, overlapping blobs are pruned, and stopping at the best candidate is exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from lesiontrials.scoring.models import scale_space
from lesiontrials.scoring.models.imaging import hu_estimate
from lesiontrials.scoring.models.scale_space import (
    _disk_overlap,
    log_blobs,
    log_candidates,
    log_cube,
)
from lesiontrials.slicing.overlays import GREEN, RED


def _disk(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    rows, cols = np.indices(shape)
    return np.hypot(rows - centre[0], cols - centre[1]) <= radius


def test_fft_scales_match_direct_filtering():
    rng = np.random.default_rng(0)
    image = ndimage.gaussian_filter(rng.random((90, 110)), 2.0).astype(np.float32)
    sigmas = np.array([1.0, 3.0, 5.5, 9.0])
    cube = log_cube(image, sigmas)
    for k, sigma in enumerate(sigmas):
        direct = -sigma ** 2 * ndimage.gaussian_laplace(image.astype(np.float64), sigma,
                                                        mode="constant")
        assert np.abs(cube[k] - direct).max() < 0.01 * np.abs(direct).max()


def test_blobs_are_found_at_their_place_and_scale_and_overlaps_pruned():
    image = np.zeros((120, 120), np.float32)
    image[_disk(image.shape, (40, 50), 8.0)] = 1.0
    image[_disk(image.shape, (90, 85), 3.0)] = 1.0
    sigmas = np.linspace(1.0, 10.0, 10)
    blobs = log_blobs(log_cube(image, sigmas), sigmas, threshold=0.2)
    found = {(int(r), int(c)): sigmas[int(k)] for r, c, k, _ in blobs}
    assert set(found) == {(40, 50), (90, 85)}  # the ring of weaker maxima is pruned
    assert found[(40, 50)] == pytest.approx(8.0 / math.sqrt(2.0), abs=1.0)
    assert found[(90, 85)] == pytest.approx(3.0 / math.sqrt(2.0), abs=1.0)
    assert list(blobs[:, 3]) == sorted(blobs[:, 3], reverse=True)


@pytest.mark.parametrize(("d", "r1", "r2"), [(0.0, 2.0, 5.0), (3.0, 4.0, 4.0),
                                             (6.0, 5.0, 2.0), (9.0, 4.0, 4.0)])
def test_disk_overlap_matches_counting_pixels(d, r1, r2):
    step = 0.02
    ys, xs = np.mgrid[-12:12:step, -12:12:step]
    one, two = np.hypot(ys, xs) <= r1, np.hypot(ys, xs - d) <= r2
    counted = (one & two).sum() / min(one.sum(), two.sum())
    value = float(_disk_overlap(np.array(d), np.array(r1), np.array(r2)))
    assert value == pytest.approx(counted, abs=0.01)


def _lung_slice(seed: int) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """HU image of a noisy lung with nodules and a vessel, its lung mask and z±1."""
    rng = np.random.default_rng(seed)
    hu = np.full((128, 128), 40.0, np.float32)
    lung = _disk(hu.shape, (64, 64), 55.0)
    hu[lung] = -850.0
    for _ in range(4):
        centre = tuple(rng.uniform(25, 103, 2))
        hu[_disk(hu.shape, centre, rng.uniform(1.5, 6.0)) & lung] = rng.uniform(-300, 30)
    hu[60:63, 20:100] = -100.0  # a vessel in plane
    context = tuple(hu + rng.normal(0, 40, hu.shape).astype(np.float32) for _ in range(2))
    hu[_disk(hu.shape, (40, 80), 5.0)] = 20.0  # a solid nodule, gone in z±1
    hu += rng.normal(0, 40, hu.shape).astype(np.float32)
    return hu, lung, context


@pytest.mark.parametrize("seed", range(6))
def test_stopping_at_the_best_candidate_gives_the_exhaustive_best(seed):
    hu, lung, context = _lung_slice(seed)
    every, n_all = log_candidates(hu, lung, spacing_mm=0.7, context_hu=context)
    best, n_best = log_candidates(hu, lung, spacing_mm=0.7, context_hu=context,
                                  best_only=True)
    assert n_all == n_best and len(every) > 1
    assert best[0] == every[0] and best[0].score > 0.3
    assert len(best) < len(every)  # it did stop early


def test_inpainting_in_the_overlay_box_equals_the_whole_image(monkeypatch):
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (96, 96), dtype=np.uint8)
    image = np.repeat(grey[..., None], 3, axis=2)
    image[30, 20:50], image[60, 20:50], image[30:61, 20], image[30:61, 49] = (GREEN,) * 4
    image[0:3, 80:96] = RED  # at the image edge
    near = hu_estimate(image, profile="lung")
    monkeypatch.setattr("lesiontrials.scoring.models.imaging._INPAINT_MARGIN", 10_000)
    assert np.array_equal(near, hu_estimate(image, profile="lung"))
    assert scale_space.FFT_MIN_SIGMA > 1.0


@pytest.mark.parametrize("radius", [1, 2, 5, 8])
def test_disk_closing_equals_binary_closing_with_the_disk(radius):
    from lesiontrials.scoring.models.imaging import _disk, disk_closing

    rng = np.random.default_rng(radius)
    for _ in range(5):
        blobs = ndimage.gaussian_filter(rng.random((60, 70)), 2.0) > 0.52
        mask = np.pad(blobs, radius + 1)
        expected = ndimage.binary_closing(mask, structure=_disk(radius))
        assert np.array_equal(disk_closing(mask, radius), expected)
