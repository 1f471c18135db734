"""Homogeneous-patch selection of the noise measurement, against a plain scan."""

from __future__ import annotations

import numpy as np
import pytest

from lesiontrials.render.fidelity.noise_measure import homogeneous_patches


def _scanned(image: np.ndarray, region: np.ndarray, *, patch: int, stride: int,
             max_trend_hu: float = 60.0) -> list[tuple[int, int, int]]:
    """Window origins, scanned one by one (the definition the selection must keep)."""
    from scipy import ndimage

    nx, ny, nz = image.shape
    found = []
    for z in range(nz):
        if not region[:, :, z].any():
            continue
        low = ndimage.uniform_filter(image[:, :, z].astype(np.float32), size=5)
        for x in range(0, nx - patch + 1, stride):
            for y in range(0, ny - patch + 1, stride):
                if not region[x:x + patch, y:y + patch, z].all():
                    continue
                trend = low[x + 3:x + patch - 3, y + 3:y + patch - 3]
                if float(trend.max() - trend.min()) <= max_trend_hu:
                    found.append((x, y, z))
    return found


@pytest.mark.parametrize(("patch", "stride"), [(32, 24), (16, 8), (24, 10), (20, 20)])
def test_patches_are_the_scanned_windows_in_scan_order(patch: int, stride: int) -> None:
    rng = np.random.default_rng(patch + stride)
    x, y, z = np.indices((150, 133, 6))
    region = ((x - 75) ** 2 + (y - 66) ** 2 < 60 ** 2) & (z != 2)
    image = rng.normal(40.0, 12.0, region.shape).astype(np.float32)
    image[90:, :, :] += 90.0  # an edge: windows across it fail the trend test
    origins = _scanned(image, region, patch=patch, stride=stride)
    assert 0 < len(origins) < len(range(0, 150 - patch + 1, stride)) ** 2 * 5
    patches = homogeneous_patches(image, region, patch=patch, stride=stride, max_patches=10**6)
    expected = np.stack([image[a:a + patch, b:b + patch, c] for a, b, c in origins])
    np.testing.assert_array_equal(patches, expected)
