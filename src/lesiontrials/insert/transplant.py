"""Array operations of a transplant: resample a donor, test a position, paste.

Everything here is crop-local: a donor is resampled on its own small grid, fit tests
correlate the donor with a window around the target, and pasting writes inside the
nodule's box. Arrays are RAS+ ``(x, y, z)``; spacings in mm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import edt
import numpy as np
import scipy.fft
from scipy import ndimage

from lesiontrials.geometry import (
    Box,
    NoduleMask,
    bounding_box,
    clip_box,
    expand_box,
    margin_voxels,
)

Spacing = tuple[float, float, float]


def voxel_diagonal_mm(spacing_mm: Spacing) -> float:
    """Distance between the centres of two voxels touching at a corner."""
    return float(np.sqrt(np.sum(np.square(spacing_mm))))


def equivalent_diameter_mm(voxels: int, spacing_mm: Spacing) -> float:
    """Diameter of the sphere with the volume of ``voxels`` voxels."""
    return (6.0 * voxels * float(np.prod(spacing_mm)) / math.pi) ** (1.0 / 3.0)


def resample_donor(
    mask: np.ndarray,
    source_spacing_mm: Spacing,
    target_spacing_mm: Spacing,
    *,
    scale: float = 1.0,
    max_supersample: int = 4,
) -> np.ndarray:
    """Resample a binary donor mask onto the host spacing, scaled by ``scale``.

    Each output voxel takes the fraction of it the (trilinearly interpolated) donor
    covers, estimated on 2 to ``max_supersample`` sub-samples per axis; the most covered
    voxels are kept until their count matches the covered volume (ties in index order),
    so volume is preserved to half a voxel at any spacing ratio and a nodule never
    vanishes (at least one voxel). The output grid is anchored on the donor voxel nearest
    its centroid, so an unscaled donor on the host spacing is copied exactly. Returns a
    tight boolean crop.
    """
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    source = np.asarray(mask) > 0
    box = bounding_box(source)
    if box is None:
        raise ValueError("the donor mask is empty")
    source = source[box]
    src = np.asarray(source_spacing_mm, dtype=float) * scale
    dst = np.asarray(target_spacing_mm, dtype=float)
    anchor = np.round(np.argwhere(source).mean(axis=0))
    reach_mm = np.maximum(anchor + 0.5, np.asarray(source.shape) - 0.5 - anchor) * src
    half = np.ceil(reach_mm / dst).astype(int) + 1
    # Sub-samples average the interpolant over each output voxel (≥ 2 per axis unless the
    # grids coincide, where point samples are exact).
    same_grid = np.allclose(src, dst, rtol=1e-6)
    subsamples = np.ones(3, int) if same_grid else np.clip(
        np.ceil(dst / src - 1e-9) + 1, 2, max_supersample).astype(int)
    axes = []
    for a in range(3):
        k = subsamples[a]
        centres = (np.arange(2 * half[a] + 1) - half[a]) * dst[a]
        sub = ((np.arange(k) + 0.5) / k - 0.5) * dst[a]
        axes.append(anchor[a] + 1.0 + (centres[:, None] + sub[None, :]).ravel() / src[a])
    grid = np.meshgrid(*axes, indexing="ij")
    padded = np.pad(source.astype(np.float32), 1)
    values = ndimage.map_coordinates(padded, grid, order=1, mode="constant", cval=0.0)
    n = 2 * half + 1
    cover = values.reshape(n[0], subsamples[0], n[1], subsamples[1], n[2], subsamples[2])
    cover = np.round(cover.mean(axis=(1, 3, 5)), 6)  # rounding makes ties exact
    keep = max(1, int(np.floor(float(cover.sum()) + 0.5)))
    order = np.argsort(-cover.ravel(), kind="stable")[:keep]
    out = np.zeros(cover.shape, dtype=bool)
    out.ravel()[order] = True
    tight = bounding_box(out)
    assert tight is not None
    return out[tight]


def grids_align(mask_affine: np.ndarray, host_affine: np.ndarray, *,
                atol: float = 1e-3) -> tuple[int, int, int] | None:
    """Host-grid index of the mask's voxel ``[0, 0, 0]`` when both grids share axes and
    spacing and differ by a whole-voxel shift; ``None`` otherwise."""
    to_mask = np.linalg.inv(mask_affine) @ host_affine
    linear, shift = to_mask[:3, :3], to_mask[:3, 3]
    if np.allclose(linear, np.eye(3), atol=atol) and np.allclose(shift, np.round(shift),
                                                                 atol=atol):
        return tuple(int(v) for v in -np.round(shift))  # type: ignore[return-value]
    return None


def offset_for_centroid(kernel: np.ndarray, target_voxel: np.ndarray) -> np.ndarray:
    """Integer offset that puts the kernel's centroid nearest ``target_voxel``."""
    centroid = np.argwhere(kernel).mean(axis=0)
    return np.floor(np.asarray(target_voxel, dtype=float) - centroid + 0.5).astype(int)


def window_box(lo: np.ndarray, hi: np.ndarray, shape: tuple[int, ...]) -> Box:
    """Half-open box ``[lo, hi)`` clipped to ``shape``."""
    return clip_box(tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True)),  # type: ignore[arg-type]
                    shape)


def correlate_counts(field: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """For every offset at which ``kernel`` fits inside ``field``: how many kernel voxels
    fall on true ``field`` voxels (exact integers, via FFT; shape ``field − kernel + 1``,
    empty along an axis where the kernel is longer).

    A 'valid' correlation through ``scipy.fft`` directly: ``scipy.signal.fftconvolve`` does
    the same sums, but importing ``scipy.signal`` costs ~1.5-2.7 CPU-s in every fresh pool
    worker (every trial's insertion starts new ones)."""
    valid = tuple(max(f - k + 1, 0) for f, k in zip(field.shape, kernel.shape, strict=True))
    if 0 in valid:
        return np.zeros(valid, dtype=np.int64)
    full = [f + k - 1 for f, k in zip(field.shape, kernel.shape, strict=True)]
    fast = [scipy.fft.next_fast_len(n, real=True) for n in full]
    flipped = np.ascontiguousarray(kernel[::-1, ::-1, ::-1], dtype=np.float64)
    spectrum = scipy.fft.rfftn(field.astype(np.float64), fast)
    spectrum *= scipy.fft.rfftn(flipped, fast)
    sums = scipy.fft.irfftn(spectrum, fast)
    corner = tuple(slice(k - 1, k - 1 + n) for k, n in zip(kernel.shape, valid, strict=True))
    return np.rint(sums[corner]).astype(np.int64)


def pleura_violations(labels: np.ndarray, interior_ids: Sequence[int], window: Box,
                      spacing_mm: Spacing, min_pleural_mm: float) -> np.ndarray:
    """Voxels of ``window`` closer than ``min_pleural_mm`` to a non-interior voxel.

    Exact: the distance field is computed on the window grown by the constraint, and
    the volume's own border is not pleura (as in the profiler).
    """
    margin = margin_voxels(min_pleural_mm, spacing_mm)
    outer = expand_box(window, margin, labels.shape)
    interior = np.isin(labels[outer], np.asarray(interior_ids))
    distance = edt.edt(interior, anisotropy=spacing_mm, black_border=False)
    return distance[_local(window, outer)] < min_pleural_mm - 1e-6


def companion_zone(window: Box, companions: Sequence[NoduleMask], spacing_mm: Spacing,
                   gap_mm: float, shape: tuple[int, ...]) -> np.ndarray | None:
    """Voxels of ``window`` within ``gap_mm`` of a companion, or touching one
    (26-neighbours); ``None`` when no companion is near."""
    reach = max(gap_mm, voxel_diagonal_mm(spacing_mm)) + 1e-6
    outer = expand_box(window, tuple(m + 1 for m in margin_voxels(reach, spacing_mm)),  # type: ignore[arg-type]
                       shape)
    painted = np.zeros(tuple(s.stop - s.start for s in outer), dtype=bool)
    found = False
    for companion in companions:
        found |= paint(painted, outer, companion)
    if not found:
        return None
    distance = edt.edt(~painted, anisotropy=spacing_mm, black_border=False)
    return distance[_local(window, outer)] <= reach


def paint(canvas: np.ndarray, canvas_box: Box, nodule: NoduleMask) -> bool:
    """OR the part of ``nodule`` inside ``canvas_box`` into ``canvas``; True if any."""
    overlap: Box = tuple(slice(max(n.start, c.start), min(n.stop, c.stop))  # type: ignore[assignment]
                         for n, c in zip(nodule.box, canvas_box, strict=True))
    if any(s.stop <= s.start for s in overlap):
        return False
    in_canvas = _local(overlap, canvas_box)
    in_nodule = _local(overlap, nodule.box)
    part = nodule.mask[in_nodule]
    canvas[in_canvas] |= part
    return bool(part.any())


def stamp(labels: np.ndarray, nodule: NoduleMask, label: int) -> None:
    """Write ``label`` into the nodule's voxels of ``labels`` (in place, crop-local)."""
    labels[nodule.box][nodule.mask] = label


def fraction_inside(labels: np.ndarray, nodule: NoduleMask, region_ids: Sequence[int]) -> float:
    """Share of the nodule's voxels whose host label is in ``region_ids``."""
    under = labels[nodule.box][nodule.mask]
    return float(np.isin(under, np.asarray(region_ids)).mean()) if under.size else 0.0


def nearest_distance_mm(a: NoduleMask, b: NoduleMask, spacing_mm: Spacing) -> float:
    """Shortest distance between voxel centres of two nodules (mm)."""
    from scipy.spatial import cKDTree

    scale = np.asarray(spacing_mm)
    tree = cKDTree(a.voxel_indices() * scale)
    distances, _ = tree.query(b.voxel_indices() * scale, k=1)
    return float(np.min(distances))


def _local(inner: Box, outer: Box) -> Box:
    return tuple(slice(i.start - o.start, i.stop - o.start)  # type: ignore[return-value]
                 for i, o in zip(inner, outer, strict=True))
