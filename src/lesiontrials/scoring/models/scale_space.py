"""Scale-space blob candidates: Laplacian-of-Gaussian blobs of the lung-masked image.

Each blob found by scikit-image's ``blob_log`` is measured on the HU image: its region
(pixels above the midpoint between its core and the lung background, connected to the
centre), density, the air around it and — given the z±1 slices — how much of it persists
there. Images are display-oriented ``(row, col)``; lengths in pixels unless named ``_mm``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from lesiontrials.scoring.models.imaging import Candidate, tube_discount


def _lung_crop(hu: np.ndarray, lung: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.flatnonzero(lung.any(axis=1)), np.flatnonzero(lung.any(axis=0))
    return (slice(max(rows[0] - 2, 0), rows[-1] + 3), slice(max(cols[0] - 2, 0), cols[-1] + 3))


def _scaled(hu: np.ndarray, lung: np.ndarray) -> np.ndarray:
    """Lung-masked image, 0 = air (−1000 HU) … 1 = water (0 HU)."""
    image = np.clip((hu + 1000.0) / 1000.0, 0.0, 1.0)
    image[~lung] = 0.0
    return image


def _responses(image: np.ndarray, sigmas: np.ndarray) -> dict[float, np.ndarray]:
    """Scale-normalised LoG response (bright blobs positive) per sigma."""
    return {float(s): -float(s) ** 2 * ndimage.gaussian_laplace(image, float(s))
            for s in np.unique(sigmas)}


def log_candidates(hu: np.ndarray, lung: np.ndarray, *, spacing_mm: float,
                   min_diameter_mm: float = 3.0, max_diameter_mm: float = 40.0,
                   num_sigma: int = 6, threshold: float = 0.2,
                   context_hu: tuple[np.ndarray, ...] = ()) -> list[Candidate]:
    """Laplacian-of-Gaussian blobs of the lung-masked image, scored by their scale-normalised
    response, size, density and the air around them; with neighbour slices, blobs whose response
    persists there (vessels along z) are discounted."""
    from skimage.feature import blob_log

    if not lung.any():
        return []
    crop = _lung_crop(hu, lung)
    image = _scaled(hu[crop], lung[crop])
    to_sigma = 1.0 / (2.0 * math.sqrt(2.0) * spacing_mm)  # diameter (mm) -> sigma (px)
    blobs = blob_log(image, min_sigma=max(min_diameter_mm * to_sigma, 0.5),
                     max_sigma=max(max_diameter_mm * to_sigma, 1.0),
                     num_sigma=num_sigma, threshold=threshold, overlap=0.5)
    if not len(blobs):
        return []
    here = _responses(image, blobs[:, 2])
    out = []
    for crop_row, crop_col, sigma in blobs:
        row, col = crop_row + crop[0].start, crop_col + crop[1].start
        blob = _blob_region(hu, lung, row=row, col=col, radius=math.sqrt(2.0) * sigma)
        if blob is None:
            continue
        diameter = 2.0 * math.sqrt(float(blob.region.sum()) / math.pi) * spacing_mm
        response = float(here[float(sigma)][int(crop_row), int(crop_col)])
        score = (max(response, 0.0) * _logistic(diameter, 4.5, 1.0)
                 * _logistic(blob.ring_air, 0.8, 0.06) * _logistic(blob.mean_hu, -350.0, 80.0))
        persistence = blob.persistence(context_hu)
        score *= tube_discount(persistence)
        out.append(Candidate(row=float(row), col=float(col), diameter_mm=diameter,
                             mean_hu=blob.mean_hu, compactness=1.0, isolation=blob.ring_air,
                             persistence=persistence, score=score))
    return sorted(out, key=lambda c: -c.score)


def _logistic(value: float, centre: float, scale: float) -> float:
    return 1.0 / (1.0 + math.exp(-(value - centre) / scale))


@dataclass(frozen=True)
class _Blob:
    """A blob's pixels (``region`` within ``window`` of the image), threshold and stats."""

    window: tuple[slice, slice]
    region: np.ndarray
    level_hu: float
    mean_hu: float
    ring_air: float

    def persistence(self, context_hu: tuple[np.ndarray, ...]) -> float:
        """Mean share of the region (grown by 1 px) above the level in z±1 (NaN: none)."""
        if not context_hu:
            return float("nan")
        grown = ndimage.binary_dilation(self.region)
        return float(np.mean([((c[self.window] > self.level_hu) & grown).sum()
                              for c in context_hu])) / float(self.region.sum())


def _blob_region(hu: np.ndarray, lung: np.ndarray, *, row: float, col: float,
                 radius: float) -> _Blob | None:
    """The blob at ``(row, col)``: pixels above the midpoint between its core (disk of
    radius/√2, ≥ 1 px) and the lung background (median of lung pixels beyond 2×radius),
    connected to the centre; ``None`` when the centre is below that level."""
    reach = math.ceil(3.0 * radius) + 2
    r0, c0 = max(int(row) - reach, 0), max(int(col) - reach, 0)
    window = (slice(r0, int(row) + reach + 1), slice(c0, int(col) + reach + 1))
    values, inside = hu[window], lung[window]
    rows, cols = np.indices(values.shape)
    distance = np.hypot(rows + r0 - row, cols + c0 - col)
    core = distance <= max(radius / math.sqrt(2.0), 1.0)
    far = inside & (distance > 2.0 * radius)
    background = float(np.median(values[far])) if far.any() else -850.0
    level = (float(values[core].mean()) + background) / 2.0
    labels, _ = ndimage.label(values > level)
    centre = labels[int(row) - r0, int(col) - c0]
    if centre == 0:
        return None
    region = labels == centre
    ring = ndimage.binary_dilation(region, iterations=2) & ~region
    ring_air = float((values[ring] < -400.0).mean()) if ring.any() else 0.0
    return _Blob(window, region, level, float(values[region].mean()), ring_air)
