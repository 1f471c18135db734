"""In-plane 10–90 % edge width of an object in a CT image (mm), measured the same way for
a rendered nodule and for a host's own vessels, and the host's in-plane blur that its
vessels show (:func:`vessel_edge_sigma_mm`: what a lesion drawn with the sharpest margin
is blurred by, so that it is as sharp as the host's vessels).

A step of height ``H`` blurred by a Gaussian of SD ``σ`` rises from 10 % to 90 % over
``2·1.2816·σ`` and has a maximal slope ``H / (σ·sqrt(2π))``. So ``σ = H / (g·sqrt(2π))``
with ``H`` the median HU of the object's core minus the median HU of the background next to
it, and ``g`` a high percentile (90th) of the in-plane gradient magnitude on the object's
boundary band. In-plane only: thick slices smear edges along z by partial volume, which
the slice profile — not the edge — decides. Noise raises gradients, so the image is
smoothed lightly (``smooth_mm``) and that smoothing is taken out of ``σ`` in quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

WIDTH_PER_SIGMA = 2.0 * 1.2815516  # 10–90 % of a Gaussian-blurred step


@dataclass(frozen=True)
class EdgeWidth:
    """The measured width (mm), the step height (HU) and the boundary voxels used."""

    width_mm: float
    step_hu: float
    voxels: int


def _in_plane(mask: np.ndarray, radius_mm: float, spacing_mm: tuple[float, float, float],
              *, erode: bool) -> np.ndarray:
    r = [max(1, round(radius_mm / s)) for s in spacing_mm[:2]]
    grid = np.ogrid[-r[0]:r[0] + 1, -r[1]:r[1] + 1]
    disc = ((grid[0] * spacing_mm[0]) ** 2 + (grid[1] * spacing_mm[1]) ** 2) <= radius_mm**2
    structure = disc[:, :, None]
    op = ndimage.binary_erosion if erode else ndimage.binary_dilation
    return np.asarray(op(mask, structure=structure))


def edge_width_mm(image: np.ndarray, obj: np.ndarray, background: np.ndarray,
                  spacing_mm: tuple[float, float, float], *, core_mm: float = 1.5,
                  band_mm: float = 1.0, smooth_mm: float = 0.5,
                  percentile: float = 90.0, shell_mm: float | None = None
                  ) -> EdgeWidth | None:
    """10–90 % width of the edge between ``obj`` (bool, the object at its half-maximum
    level) and ``background`` (bool, what surrounds it) in float HU ``image``; ``None``
    when the object has no core after an in-plane erosion of ``core_mm``, the background
    is empty, or the step is under 100 HU.

    The object's level is the median of its core (``obj`` eroded in-plane by
    ``core_mm``); with ``shell_mm``, of the core's outer ``shell_mm`` only — for a
    two-level object (a part-solid nodule's ground glass around a solid core) that is the
    level of the outer boundary, the edge being measured — and the slope is then taken only
    where the (smoothed) image lies between the two levels (± 10 % of the step), so that
    denser structures crossing a faint boundary (vessels seen through ground glass, a
    solid core reaching the boundary) do not stand in for its slope."""
    obj = np.asarray(obj, dtype=bool)
    core = _in_plane(obj, core_mm, spacing_mm, erode=True)
    level = core
    if shell_mm is not None:  # the object's level just inside its boundary only
        level = core & ~_in_plane(obj, core_mm + shell_mm, spacing_mm, erode=True)
    near = (_in_plane(obj, 5.0, spacing_mm, erode=False)
            & ~_in_plane(obj, 2.5, spacing_mm, erode=False))  # beyond the blur's reach
    near &= np.asarray(background, dtype=bool)
    if not level.any() or not near.any():
        return None
    step = float(np.median(image[level]) - np.median(image[near]))
    if abs(step) < 100.0:
        return None
    sigma_px = tuple(smooth_mm / s for s in spacing_mm[:2]) + (0.0,)
    smooth = ndimage.gaussian_filter(np.asarray(image, dtype=np.float32), sigma_px)
    gx, gy = np.gradient(smooth, spacing_mm[0], spacing_mm[1], axis=(0, 1))
    band = (_in_plane(obj, band_mm, spacing_mm, erode=False)
            & ~_in_plane(obj, band_mm, spacing_mm, erode=True))
    band &= _in_plane(core, core_mm + band_mm + 0.5, spacing_mm, erode=False)
    if shell_mm is not None:  # only where the image lies between the two levels: a denser
        # structure crossing a faint edge (a vessel through ground glass) is not that edge
        low = float(np.median(image[near]))
        lo, hi = sorted((low, low + step))
        reach = 0.1 * abs(step)
        band &= (smooth >= lo - reach) & (smooth <= hi + reach)
    if not band.any():
        return None
    slope = float(np.percentile(np.hypot(gx, gy)[band], percentile))
    sigma = abs(step) / (slope * np.sqrt(2.0 * np.pi))
    sigma = float(np.sqrt(max(sigma**2 - smooth_mm**2, 1e-6)))
    return EdgeWidth(width_mm=WIDTH_PER_SIGMA * sigma, step_hu=step, voxels=int(band.sum()))


#: Plausible in-plane blur (SD, mm) of a CT image's vessel edges; outside it the measure
#: is taken as failed (e.g. a lung mask that holds no vessels), not as the host's blur.
PLAUSIBLE_SIGMA_MM = (0.15, 2.0)
VESSEL_FROM_HU = -500.0  # lung voxels above this are vessels (or other solid tissue)
PARENCHYMA_BELOW_HU = -700.0


def _within_mm(mask: np.ndarray, distance_mm: float,
               spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """Voxels at most ``distance_mm`` (Euclidean, world mm) from ``mask`` (bool, not empty).
    The distance transform runs only on ``mask``'s bounding box grown by ``distance_mm``:
    every voxel outside it is farther than that along one axis, and the box holds every
    voxel of ``mask``, so the result equals the whole-volume transform's at a fraction of
    its memory (a 512² CT's float64 distances and int32 indices are ~0.5 GB)."""
    sub = []
    for axis, step in enumerate(spacing_mm):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        where = np.flatnonzero(np.any(mask, axis=other))
        pad = int(np.ceil(distance_mm / step))
        sub.append(slice(max(0, int(where[0]) - pad), int(where[-1]) + 1 + pad))
    box = tuple(sub)
    near = np.zeros(mask.shape, dtype=bool)
    near[box] = ndimage.distance_transform_edt(~mask[box], sampling=spacing_mm) <= distance_mm
    return near


def vessel_edge_width(ct: np.ndarray, lung: np.ndarray, spacing_mm: tuple[float, float, float],
                      *, exclude: np.ndarray | None = None, exclude_mm: float = 20.0,
                      max_slices: int | None = None) -> EdgeWidth | None:
    """The 10–90 % in-plane edge width of the host's vessels: lung voxels above −500 HU
    (opened in-plane by 2×2 voxels, so that single noisy voxels do not count) against
    parenchyma below −700 HU, by :func:`edge_width_mm` (its 1.5 mm core keeps vessels at
    least 3 mm wide). ``exclude``: voxels (a lesion) whose ``exclude_mm`` surroundings are
    left out; ``max_slices``: measure on at most that many lung slices spread evenly over
    the lung (every operation is in-plane, so a subset of slices is the same measure on
    fewer samples); in-plane, only the lung's bounding box (+ 8 mm) is looked at.
    ``None`` when nothing is measurable."""
    lung = np.asarray(lung, dtype=bool)
    vessels = lung & (ct > VESSEL_FROM_HU)
    if exclude is not None and np.any(exclude):
        vessels &= ~_within_mm(np.asarray(exclude, bool), exclude_mm, spacing_mm)
    with_lung = np.flatnonzero(lung.any(axis=(0, 1)))
    if with_lung.size == 0:
        return None
    if max_slices is not None and with_lung.size > max_slices:
        with_lung = np.unique(with_lung[np.linspace(0, with_lung.size - 1, max_slices)
                                        .round().astype(int)])
    in_plane: np.ndarray = np.any(lung[:, :, with_lung], axis=2)  # lung's in-plane box + 8 mm
    pad = [int(np.ceil(8.0 / s)) for s in spacing_mm[:2]]
    xs = np.flatnonzero(np.any(in_plane, axis=1))
    ys = np.flatnonzero(np.any(in_plane, axis=0))
    crop = (slice(max(0, xs[0] - pad[0]), xs[-1] + 1 + pad[0]),
            slice(max(0, ys[0] - pad[1]), ys[-1] + 1 + pad[1]), with_lung)
    vessels = ndimage.binary_opening(vessels[crop], structure=np.ones((2, 2, 1), bool))
    image = np.asarray(ct[crop], dtype=np.float32)
    parenchyma = lung[crop] & (image < PARENCHYMA_BELOW_HU)
    return edge_width_mm(image, vessels, parenchyma, spacing_mm)


def vessel_edge_sigma_mm(ct: np.ndarray, lung: np.ndarray,
                         spacing_mm: tuple[float, float, float], *,
                         exclude: np.ndarray | None = None,
                         max_slices: int | None = 32) -> float | None:
    """The in-plane blur (Gaussian SD, mm) that the host's vessel edges show: their
    10–90 % width (:func:`vessel_edge_width`) over ``2·1.2816``. It lumps the scanner's
    kernel with whatever else widens a vessel's edge in this image (partial volume of
    vessels crossing thick slices, the vessel wall): the blur every sharp edge of this
    host shows, hence the blur a lesion with the sharpest margin gets. ``None`` when no
    vessel edge is measurable or the value is outside :data:`PLAUSIBLE_SIGMA_MM`."""
    measured = vessel_edge_width(ct, lung, spacing_mm, exclude=exclude, max_slices=max_slices)
    if measured is None:
        return None
    sigma = measured.width_mm / WIDTH_PER_SIGMA
    low, high = PLAUSIBLE_SIGMA_MM
    return sigma if low <= sigma <= high else None
