"""Crop-local geometry: boxes, nodule masks in a host grid, voxel ↔ world mapping.

A nodule is small and a host is large, so per-nodule work happens in a crop: a
:class:`NoduleMask` is a boolean array plus its integer offset in the host grid.
Masks stored on their own (crop) grid are brought onto the host grid by
:func:`mask_in_host_grid`, by index shift when the grids align and by nearest-neighbour
resampling in world coordinates when they do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

Box = tuple[slice, slice, slice]


@dataclass(frozen=True)
class NoduleMask:
    """A boolean crop ``mask`` whose voxel ``[0, 0, 0]`` sits at ``offset`` in the host."""

    mask: np.ndarray
    offset: tuple[int, int, int]

    @property
    def box(self) -> Box:
        return tuple(  # type: ignore[return-value]
            slice(o, o + n) for o, n in zip(self.offset, self.mask.shape, strict=True)
        )

    @property
    def voxel_count(self) -> int:
        return int(np.count_nonzero(self.mask))

    def voxel_indices(self) -> np.ndarray:
        """``(n, 3)`` host-grid indices of the nodule's voxels."""
        return np.argwhere(self.mask) + np.asarray(self.offset)

    def centroid_voxel(self) -> np.ndarray:
        return self.voxel_indices().mean(axis=0)

    def tight(self) -> NoduleMask:
        """The same nodule cropped to its bounding box."""
        box = bounding_box(self.mask)
        if box is None:
            return self
        offset = tuple(int(o + s.start) for o, s in zip(self.offset, box, strict=True))
        return NoduleMask(self.mask[box], offset)  # type: ignore[arg-type]

    def in_shape(self, shape: tuple[int, ...]) -> bool:
        return all(
            o >= 0 and o + n <= s
            for o, n, s in zip(self.offset, self.mask.shape, shape, strict=True)
        )

    def to_full(self, shape: tuple[int, int, int]) -> np.ndarray:
        full = np.zeros(shape, dtype=bool)
        clipped = clip_box(self.box, shape)
        local = tuple(slice(c.start - b.start, c.stop - b.start)
                      for c, b in zip(clipped, self.box, strict=True))
        full[clipped] = self.mask[local]
        return full


def bounding_box(mask: np.ndarray) -> Box | None:
    """Tight box around the non-zero voxels, or ``None`` when there are none.

    By projections, outermost axis first (the one with the largest stride): one pass over
    the volume finds the slab that holds the mask, and the other axes are projected from
    that slab only. On a 512×512×300 full-grid mask holding one nodule this takes ~10 ms
    in either memory order, where ``ndimage.find_objects`` takes 0.15 s (C order) to
    1.6 s (Fortran order, as NIfTI volumes arrive)."""
    mask = np.asarray(mask)  # any dtype: ``any`` tests != 0 chunk-wise, no full temporary
    if mask.ndim == 0 or mask.size == 0:
        return None
    outer = int(np.argmax(np.abs(mask.strides)))
    others = tuple(a for a in range(mask.ndim) if a != outer)
    along = np.flatnonzero(mask.any(axis=others))
    if along.size == 0:
        return None
    spans: dict[int, slice] = {outer: slice(int(along[0]), int(along[-1]) + 1)}
    slab = mask[tuple(spans.get(a, slice(None)) for a in range(mask.ndim))]
    for axis in others:
        hits = np.flatnonzero(slab.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        spans[axis] = slice(int(hits[0]), int(hits[-1]) + 1)
    return tuple(spans[a] for a in range(mask.ndim))  # type: ignore[return-value]


def expand_box(box: Box, margin: tuple[int, int, int] | int, shape: tuple[int, ...]) -> Box:
    """Grow ``box`` by ``margin`` voxels per axis, clipped to ``shape``."""
    margins = (margin,) * 3 if isinstance(margin, int) else margin
    return tuple(  # type: ignore[return-value]
        slice(max(0, s.start - m), min(n, s.stop + m))
        for s, m, n in zip(box, margins, shape, strict=True)
    )


def clip_box(box: Box, shape: tuple[int, ...]) -> Box:
    return tuple(  # type: ignore[return-value]
        slice(max(0, s.start), min(n, s.stop)) for s, n in zip(box, shape, strict=True)
    )


def margin_voxels(margin_mm: float, spacing_mm: tuple[float, float, float]) -> tuple[int, int, int]:
    """Voxels per axis that cover at least ``margin_mm``."""
    return tuple(int(np.ceil(margin_mm / s)) for s in spacing_mm)  # type: ignore[return-value]


def surface_voxels(mask: np.ndarray) -> np.ndarray:
    """Boolean mask of voxels on the boundary of ``mask`` (6-connected erosion)."""
    mask = np.asarray(mask, dtype=bool)
    padded = np.pad(mask, 1, constant_values=False)
    eroded = ndimage.binary_erosion(padded)[1:-1, 1:-1, 1:-1]
    return mask & ~eroded


def mask_in_host_grid(
    mask: np.ndarray,
    mask_affine: np.ndarray,
    host_affine: np.ndarray,
    host_shape: tuple[int, int, int],
    *,
    atol: float = 1e-3,
) -> NoduleMask:
    """Express a mask stored on its own grid as a crop of the host grid.

    When both grids share voxel axes and spacing and differ by a whole-voxel shift the
    mask is copied exactly; otherwise every host voxel in the mask's world bounding box
    takes the nearest mask voxel. Parts outside the host are cut off.
    """
    mask = np.asarray(mask) > 0
    to_mask_voxels = np.linalg.inv(mask_affine) @ host_affine  # host ijk -> mask ijk
    linear, shift = to_mask_voxels[:3, :3], to_mask_voxels[:3, 3]
    if np.allclose(linear, np.eye(3), atol=atol) and np.allclose(shift, np.round(shift), atol=atol):
        offset = tuple(int(v) for v in -np.round(shift))
        return _clip_to_host(NoduleMask(mask, offset), host_shape).tight()  # type: ignore[arg-type]
    box = bounding_box(mask)
    if box is None:
        return NoduleMask(np.zeros((1, 1, 1), bool), (0, 0, 0))
    corners = np.array(np.meshgrid(*[(s.start - 0.5, s.stop - 0.5) for s in box], indexing="ij"))
    corners = corners.reshape(3, -1).T
    to_host = np.linalg.inv(host_affine) @ mask_affine
    host_corners = corners @ to_host[:3, :3].T + to_host[:3, 3]
    lo = np.maximum(np.floor(host_corners.min(axis=0)).astype(int), 0)
    hi = np.minimum(np.ceil(host_corners.max(axis=0)).astype(int) + 1, host_shape)
    if np.any(hi <= lo):
        return NoduleMask(np.zeros((1, 1, 1), bool), (0, 0, 0))
    grid = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)],
                                indexing="ij"), axis=-1).reshape(-1, 3)
    source = grid @ linear.T + shift
    sampled = ndimage.map_coordinates(mask.view(np.uint8), source.T, order=0, mode="constant")
    crop = sampled.reshape(tuple(hi - lo)).astype(bool)
    return NoduleMask(crop, tuple(int(v) for v in lo)).tight()  # type: ignore[arg-type]


def _clip_to_host(nodule: NoduleMask, shape: tuple[int, int, int]) -> NoduleMask:
    if nodule.in_shape(shape):
        return nodule
    clipped = clip_box(nodule.box, shape)
    if any(s.stop <= s.start for s in clipped):
        return NoduleMask(np.zeros((1, 1, 1), bool), (0, 0, 0))
    local = tuple(slice(c.start - o, c.stop - o)
                  for c, o in zip(clipped, nodule.offset, strict=True))
    start = (clipped[0].start, clipped[1].start, clipped[2].start)
    return NoduleMask(nodule.mask[local], start)
