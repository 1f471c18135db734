"""Through-plane partial volume of thick slices.

A label map with thick slices samples the anatomy at the slice centres. A surface that is
oblique to the slices moves in plane from one slice to the next, and a real slice — the
anatomy weighted by the slice sensitivity profile (SSP) — holds a ramp of mixed values
across the band it sweeps (the pleura over the diaphragm, ribs, vessels running through
the slice). Painting each slice from its own labels and blurring along z leaves the band
almost hard-edged. Here the boundary is interpolated between slices the way shape-based
interpolation does it: for a voxel whose material changes between slices ``z`` and
``z ± 1``, with in-plane distances ``d₀`` (in slice ``z``) and ``d₁`` (in slice ``z ± 1``)
to the other material, the boundary crosses it at ``t* = d₀ / (d₀ + d₁)`` of the slice
gap ``S``; under a Gaussian SSP of SD ``σ`` the neighbour's material then holds the
weight ``Q(t*·S/σ)``. The scanner's z-blur already mixes in ``Q(S/2σ)`` (the boundary
half-way), so the voxel gets the difference where it is positive::

    v ← v + max(0, Q(t*·S/σ) − Q(S/2σ)) · (v[z ± 1] − v)

Materials are three classes of the painted HU: air-like (lung, airway, outside, below
−400 HU), soft tissue, and dense (bone, cartilage, ≥ 100 HU); distances are capped at
``CAP_SLICES`` slice gaps (a structure that ends between two slices closes like a dome).
Label maps with slices of at most :data:`MIN_SPACING_MM` resolve the anatomy; nothing is
done there.
"""

from __future__ import annotations

from typing import Final

import edt
import numpy as np
from scipy.special import ndtr

from lesiontrials.render.backends.scanner import FWHM_TO_SIGMA

MIN_SPACING_MM: Final = 2.0
CAP_SLICES: Final = 2.0
AIR_BELOW_HU: Final = -400.0
DENSE_FROM_HU: Final = 100.0


def material_classes(volume: np.ndarray) -> np.ndarray:
    """uint8 class of each voxel of painted HU: 0 air-like, 1 soft tissue, 2 dense."""
    classes = (volume >= AIR_BELOW_HU).view(np.uint8).copy()
    classes += volume >= DENSE_FROM_HU
    return classes


def _changes(classes: np.ndarray, step: int) -> tuple[tuple[np.ndarray, ...], np.ndarray,
                                                      np.ndarray]:
    """Voxels ``(x, y, z)`` whose class differs from slice ``z + step``, with both classes."""
    n = classes.shape[2]
    own = classes[:, :, 0:n - 1] if step > 0 else classes[:, :, 1:n]
    other = classes[:, :, 1:n] if step > 0 else classes[:, :, 0:n - 1]
    x, y, z = np.nonzero(own != other)
    own_class, other_class = own[x, y, z], other[x, y, z]
    if step < 0:
        z += 1
    return (x, y, z), own_class, other_class


def _distances(classes: np.ndarray, spacing_mm: tuple[float, float, float], cap_mm: float,
               ) -> list[tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]]:
    """Per side (z + 1, z − 1): the changing voxels, the in-plane distance (mm, capped) to
    the neighbour's material in their own slice and to their own material in the
    neighbour's slice."""
    sides = [_changes(classes, step) for step in (1, -1)]
    found = [(np.full(c[1].shape, cap_mm, np.float32), np.full(c[1].shape, cap_mm, np.float32))
             for c in sides]
    for k in range(3):
        if not any((c[1] == k).any() or (c[2] == k).any() for c in sides):
            continue
        to_k = edt.edt((classes != k).view(np.uint8),
                       anisotropy=(spacing_mm[0], spacing_mm[1], 1e7), black_border=False)
        for step, (index, own_class, other_class), (d_here, d_there) in zip(
                (1, -1), sides, found, strict=True):
            x, y, z = index
            hit = other_class == k
            d_here[hit] = to_k[x[hit], y[hit], z[hit]]
            hit = own_class == k
            d_there[hit] = to_k[x[hit], y[hit], z[hit] + step]
    out = []
    for (index, _, _), (d_here, d_there) in zip(sides, found, strict=True):
        out.append((index, np.minimum(d_here, cap_mm), np.minimum(d_there, cap_mm)))
    return out


def through_plane_partial_volume(volume: np.ndarray, spacing_mm: tuple[float, float, float],
                                 slice_thickness_mm: float) -> None:
    """Mix each voxel with its z-neighbours where an interpolated boundary crosses it
    (see the module doc). In place on a float32 HU volume."""
    gap = spacing_mm[2]
    if gap < MIN_SPACING_MM or volume.shape[2] < 2:
        return
    sigma = slice_thickness_mm * FWHM_TO_SIGMA
    baseline = float(ndtr(-gap / (2.0 * sigma)))
    classes = material_classes(volume)
    cap = CAP_SLICES * gap
    updates = []
    for step, (index, d_here, d_there) in zip((1, -1), _distances(classes, spacing_mm, cap),
                                              strict=True):
        t_star = d_here / np.maximum(d_here + d_there, 1e-6)
        weight = ndtr(-t_star * (gap / sigma)).astype(np.float32) - np.float32(baseline)
        np.maximum(weight, 0.0, out=weight)
        neighbour = (index[0], index[1], index[2] + step)
        updates.append((index, weight * (volume[neighbour] - volume[index])))
    for index, delta in updates:  # both sides from the unmixed volume
        volume[index] += delta
