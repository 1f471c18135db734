"""Scale-space blob candidates: Laplacian-of-Gaussian blobs of the lung-masked image.

The scale-normalised LoG responses ``−σ²∇²G_σ * image`` of ``num_sigma`` linearly spaced
scales form a cube ``(S, H, W)`` computed once per image (:func:`log_cube`: direct
separable filtering for small σ, one FFT of the image for large σ, where a filter of
length 8σ would dominate); its 3×3×3 local maxima above ``threshold``, less the smaller of
two blobs that overlap by more than half, are the blobs (:func:`log_blobs`, the rule of
scikit-image's ``blob_log``). Each blob is measured on the HU image: its region (pixels
above the midpoint between its core and the lung background, connected to the centre),
density, the air around it and — given the z±1 slices — how much of it persists there.

Every factor of a candidate's score except the response is at most 1, so the response
bounds the score: blobs are measured in order of response and measuring stops once no
remaining blob can beat the best score found (``best_only``), which gives the same best
candidate as measuring them all. Images are display-oriented ``(row, col)``; lengths in
pixels unless named ``_mm``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage

from lesiontrials.scoring.models.imaging import Candidate, cross_dilation, tube_discount

#: scales at or above this σ (pixels) are filtered through the FFT
FFT_MIN_SIGMA = 3.0
_CROSS = ndimage.generate_binary_structure(2, 1)


def _lung_crop(lung: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.flatnonzero(lung.any(axis=1)), np.flatnonzero(lung.any(axis=0))
    return (slice(max(rows[0] - 2, 0), rows[-1] + 3), slice(max(cols[0] - 2, 0), cols[-1] + 3))


def _scaled(hu: np.ndarray, lung: np.ndarray) -> np.ndarray:
    """Lung-masked image, 0 = air (−1000 HU) … 1 = water (0 HU), float32."""
    image = np.clip((hu.astype(np.float32) + 1000.0) / 1000.0, 0.0, 1.0)
    image[~lung] = 0.0
    return image


def log_cube(image: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """Scale-normalised LoG responses ``(S, H, W)`` float32 of a float32 ``(H, W)`` image
    (bright blobs positive), the image taken as 0 beyond its edges (the lung-masked image
    is 0 outside the lung, beyond a crop to the lung as inside it). σ < :data:`FFT_MIN_SIGMA`:
    sampled Gaussian-derivative filters (scipy); larger σ: the continuous LoG's transfer
    function ``σ²|ω|² exp(−σ²|ω|²/2)`` applied to one FFT of the image zero-padded by 4σ."""
    image = np.asarray(image, dtype=np.float32)
    cube = np.empty((len(sigmas), *image.shape), dtype=np.float32)
    large = [k for k, s in enumerate(sigmas) if s >= FFT_MIN_SIGMA]
    for k, sigma in enumerate(sigmas):
        if k not in large:
            ndimage.gaussian_laplace(image, float(sigma), output=cube[k], mode="constant")
            cube[k] *= -float(sigma) ** 2
    if large:
        from scipy import fft

        pad = math.ceil(4.0 * float(max(sigmas[k] for k in large)))
        shape = tuple(fft.next_fast_len(n + 2 * pad, real=True) for n in image.shape)
        spectrum = fft.rfft2(image, s=shape, workers=1)
        w2 = ((2.0 * np.pi * fft.fftfreq(shape[0]))[:, None] ** 2
              + (2.0 * np.pi * fft.rfftfreq(shape[1]))[None, :] ** 2).astype(np.float32)
        for k in large:
            s2 = np.float32(float(sigmas[k]) ** 2)
            response = fft.irfft2(spectrum * (s2 * w2 * np.exp(-0.5 * s2 * w2)), s=shape,
                                  workers=1)
            cube[k] = response[:image.shape[0], :image.shape[1]]
    return cube


def _disk_overlap(d: np.ndarray, r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Intersection area of disks (radii r1, r2, centres d apart) over the smaller disk's."""
    small = np.minimum(r1, r2)
    with np.errstate(divide="ignore", invalid="ignore"):
        a1 = np.arccos(np.clip((d * d + r1 * r1 - r2 * r2) / (2.0 * d * r1), -1.0, 1.0))
        a2 = np.arccos(np.clip((d * d + r2 * r2 - r1 * r1) / (2.0 * d * r2), -1.0, 1.0))
        lens = (r1 * r1 * a1 + r2 * r2 * a2 - 0.5 * np.sqrt(np.abs(
            (-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2))))
        fraction = lens / (np.pi * small * small)
    fraction = np.where(d >= r1 + r2, 0.0, fraction)
    return np.where(d <= np.abs(r1 - r2), 1.0, fraction)


def _max3(cube: np.ndarray) -> np.ndarray:
    """``ndimage.maximum_filter(cube, size=3, mode="nearest")`` by shifted maxima along each
    axis (the same values; a replicated edge is the pixel itself), several times faster."""
    out = cube
    for axis in range(cube.ndim):
        step = out.copy()
        head = [slice(None)] * cube.ndim
        tail = [slice(None)] * cube.ndim
        head[axis], tail[axis] = slice(1, None), slice(None, -1)
        np.maximum(step[tuple(head)], out[tuple(tail)], out=step[tuple(head)])
        np.maximum(step[tuple(tail)], out[tuple(head)], out=step[tuple(tail)])
        out = step
    return out


def log_blobs(cube: np.ndarray, sigmas: np.ndarray, *, threshold: float,
              overlap: float = 0.5) -> np.ndarray:
    """Blobs ``(n, 4)``: row, col, sigma index, response — 3×3×3 local maxima of the cube
    above ``threshold``; of two blobs (radius σ√2) overlapping by more than ``overlap`` of the
    smaller one's area, the one of smaller σ (equal σ: smaller response) is dropped.
    Sorted by response, strongest first."""
    peaks = (cube >= threshold) & (cube == _max3(cube))
    k, rows, cols = np.nonzero(peaks)
    if k.size == 0:
        return np.empty((0, 4))
    response = cube[k, rows, cols].astype(np.float64)
    order = np.lexsort((-response, -k))  # larger σ first, then stronger
    k, rows, cols, response = k[order], rows[order], cols[order], response[order]
    radius = np.asarray(sigmas, dtype=np.float64)[k] * math.sqrt(2.0)
    first, second = np.triu_indices(k.size, k=1)  # pairs (i, j), i ranked before j
    d = np.hypot(rows[first] - rows[second], cols[first] - cols[second]).astype(float)
    near = d < radius[first] + radius[second]
    first, second = first[near], second[near]
    covered = _disk_overlap(d[near], radius[first], radius[second]) > overlap
    first, second = first[covered], second[covered]
    keep = np.ones(k.size, dtype=bool)
    for i, j in zip(first.tolist(), second.tolist(), strict=True):  # sorted by i, then j
        if keep[i]:  # a blob is dropped by a kept blob ranked before it
            keep[j] = False
    blobs = np.column_stack([rows, cols, k, response])[keep]
    return blobs[np.argsort(-blobs[:, 3], kind="stable")]


def log_candidates(hu: np.ndarray, lung: np.ndarray, *, spacing_mm: float,
                   min_diameter_mm: float = 3.0, max_diameter_mm: float = 40.0,
                   num_sigma: int = 6, threshold: float = 0.2,
                   context_hu: tuple[np.ndarray, ...] = (),
                   best_only: bool = False,
                   max_measured: int | None = None,
                   measure_on: tuple[np.ndarray, int] | None = None
                   ) -> tuple[list[Candidate], int]:
    """Laplacian-of-Gaussian blobs of the lung-masked image, scored by their scale-normalised
    response, size, density and the air around them; with neighbour slices, blobs whose
    response persists there (vessels along z) are discounted. Returns the candidates (best
    first) and the number of LoG blobs found; ``best_only`` stops measuring once the best
    candidate is certain (the list then holds the candidates measured); ``max_measured``
    measures only that many of the strongest blobs. ``measure_on``: ``(hu, factor)``, the
    image's HU at its own pixels when ``hu``/``lung`` are its working grid (block size
    ``factor``, ``spacing_mm`` theirs): blobs are found there and measured on the image's
    pixels (``context_hu`` then on those pixels too; positions returned in them)."""
    if not lung.any():
        return [], 0
    crop = _lung_crop(lung)
    image = _scaled(hu[crop], lung[crop])
    to_sigma = 1.0 / (2.0 * math.sqrt(2.0) * spacing_mm)  # diameter (mm) -> sigma (px)
    sigmas = np.linspace(max(min_diameter_mm * to_sigma, 0.5),
                         max(max_diameter_mm * to_sigma, 1.0), num_sigma)
    blobs = log_blobs(log_cube(image, sigmas), sigmas, threshold=threshold)
    factor = 1
    if measure_on is not None:
        hu, factor = measure_on
    out: list[Candidate] = []
    best = 0.0
    for crop_row, crop_col, k, response in blobs[:max_measured]:
        if best_only and out and response <= best:
            break  # score <= response: no remaining blob can beat the best
        row = (crop_row + crop[0].start + 0.5) * factor - 0.5  # image pixels
        col = (crop_col + crop[1].start + 0.5) * factor - 0.5
        blob = _blob_region(hu, lung, row=row, col=col, factor=factor,
                            radius=math.sqrt(2.0) * float(sigmas[int(k)]) * factor)
        if blob is None:
            continue
        diameter = 2.0 * math.sqrt(float(blob.area) / math.pi) * spacing_mm / factor
        score = (max(float(response), 0.0) * _logistic(diameter, 4.5, 1.0)
                 * _logistic(blob.mean_hu, -350.0, 80.0))
        if best_only and out and score <= best:
            continue  # the remaining factors are at most 1
        ring_air = blob.ring_air()
        persistence = blob.persistence(context_hu)
        score *= _logistic(ring_air, 0.8, 0.06) * tube_discount(persistence)
        best = max(best, score)
        out.append(Candidate(row=float(row), col=float(col), diameter_mm=diameter,
                             mean_hu=blob.mean_hu, compactness=1.0, isolation=ring_air,
                             persistence=persistence, score=score))
    return sorted(out, key=lambda c: -c.score), len(blobs)


def _logistic(value: float, centre: float, scale: float) -> float:
    return 1.0 / (1.0 + math.exp(-(value - centre) / scale))


def _blocks_at(mask: np.ndarray, factor: int, origin: tuple[int, int],
               shape: tuple[int, ...]) -> np.ndarray:
    """The window ``shape`` at ``origin`` (image pixels) of a mask on ``factor × factor``
    blocks, on the image's pixels (only the window's blocks are repeated)."""
    if factor == 1:
        return mask[origin[0]:origin[0] + shape[0], origin[1]:origin[1] + shape[1]]
    top, left = origin[0] // factor, origin[1] // factor
    blocks = mask[top:(origin[0] + shape[0] - 1) // factor + 1,
                  left:(origin[1] + shape[1] - 1) // factor + 1]
    grown = np.repeat(np.repeat(blocks, factor, axis=0), factor, axis=1)
    r, c = origin[0] - top * factor, origin[1] - left * factor
    return grown[r:r + shape[0], c:c + shape[1]]


@dataclass(frozen=True)
class _Blob:
    """A blob's pixels (``region`` within ``window`` of the image), threshold and stats;
    the ring and persistence are measured on demand (they only lower a score)."""

    window: tuple[slice, slice]
    values: np.ndarray
    region: np.ndarray
    area: int
    level_hu: float
    mean_hu: float

    @cached_property
    def grown(self) -> np.ndarray:
        """The region grown by one pixel (4-connected)."""
        return cross_dilation(self.region)

    def ring_air(self) -> float:
        """Share of air (< −400 HU) in the 2-px ring around the region (0 without a ring)."""
        ring = cross_dilation(self.grown) & ~self.region
        return float((self.values[ring] < -400.0).mean()) if ring.any() else 0.0

    def persistence(self, context_hu: tuple[np.ndarray, ...]) -> float:
        """Mean share of the region (grown by 1 px) above the level in z±1 (NaN: none)."""
        if not context_hu:
            return float("nan")
        return float(np.mean([np.count_nonzero((c[self.window] > self.level_hu) & self.grown)
                              for c in context_hu])) / float(self.area)


def _median(values: np.ndarray) -> float:
    """``np.median`` of a non-empty 1-D array (the same value, without its overhead)."""
    n = values.size
    half = n // 2
    if n % 2:
        return float(np.partition(values, half)[half])
    part = np.partition(values, (half - 1, half))
    return float((part[half - 1] + part[half]) / 2)


def _blob_region(hu: np.ndarray, lung: np.ndarray, *, row: float, col: float,
                 radius: float, factor: int = 1) -> _Blob | None:
    """The blob at ``(row, col)``: pixels above the midpoint between its core (disk of
    radius/√2, ≥ 1 px) and the lung background (median of lung pixels beyond 2×radius),
    connected to the centre; ``None`` when the centre is below that level. ``lung``: the
    silhouette on a grid of ``factor × factor`` blocks of ``hu``'s pixels."""
    reach = math.ceil(3.0 * radius) + 2
    r0, c0 = max(int(row) - reach, 0), max(int(col) - reach, 0)
    window = (slice(r0, int(row) + reach + 1), slice(c0, int(col) + reach + 1))
    values = hu[window]
    inside = _blocks_at(lung, factor, (r0, c0), values.shape)
    rows = np.arange(values.shape[0], dtype=np.float64)[:, None] + (r0 - row)
    cols = np.arange(values.shape[1], dtype=np.float64)[None, :] + (c0 - col)
    distance2 = rows * rows + cols * cols
    core = distance2 <= max(radius / math.sqrt(2.0), 1.0) ** 2
    far = inside & (distance2 > 4.0 * radius * radius)
    background = _median(values[far]) if far.any() else -850.0
    level = (float(values[core].mean()) + background) / 2.0
    above = values > level
    centre_at = (int(row) - r0, int(col) - c0)
    if not above[centre_at]:
        return None
    labels, _ = ndimage.label(above)
    region = labels == labels[centre_at]
    return _Blob(window, values, region, int(np.count_nonzero(region)), level,
                 float(values[region].mean()))
