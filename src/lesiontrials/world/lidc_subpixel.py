"""LIDC outlines rasterised at sub-pixel accuracy, on a crop grid ``k`` times finer in-plane.

A reader's outline is a polygon through the centres of the nodule's outer boundary
pixels. Rasterised on the scan's own pixels (:func:`~lesiontrials.world.lidc_masks.
rasterise_outline`) it is a staircase of 0.5–1 mm pixels, which the lesion's continuous
shape then inherits in-plane. Here the polygon itself is the shape: on a grid of
``pixel / k`` the fine pixels whose centres lie inside the polygon are filled
(:func:`fill_polygon`, even–odd rule; ``skimage.draw.polygon2mask`` does the same but
tests every pixel of the box against every vertex — 16 of the 24 s this module took for
the demo's 1,193 donors), and with ``include_boundary`` (the database's
convention: outline pixels are nodule) the polygon is grown by half a scan pixel — the
fine pixels within half a pixel of an edge are added — which is what the union of the
outline pixels' squares is, without its corners. Exclusion polygons are cut out shrunk by
the same half pixel (their outline stays nodule). ``k = 1`` is not this module's job.

Fine pixel ``I`` of the crop's x axis has its centre at scan column
``col_hi + ½ − (I + ½) / k`` (x runs over columns reversed, as in the coarse crop; ``y``
likewise over rows), so the ``k × k`` fine pixels of a scan pixel tile it exactly.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from lesiontrials.world.lidc import LidcNodule, ReaderOutline
from lesiontrials.world.lidc_masks import CropGrid, DonorMask, crop_grid, donor_from_reader_masks

FINE_PIXEL_MM: Final = 0.35  # the world's LIDC donors: in-plane pixels of at most this size


def fine_affine(grid: CropGrid, upsample: int) -> np.ndarray:
    """The 4×4 voxel → RAS affine of ``grid`` with ``upsample`` × finer pixels."""
    affine = grid.affine.copy()
    for axis in (0, 1):
        pixel = affine[axis, axis]
        affine[axis, axis] = pixel / upsample
        affine[axis, 3] += pixel * (0.5 / upsample - 0.5)
    return affine


def _fine_vertices(polygon_cr: np.ndarray, grid: CropGrid, upsample: int) -> np.ndarray:
    """``(n, 2)`` polygon vertices in fine-pixel coordinates ``(x, y)`` of the crop."""
    cr = polygon_cr.astype(np.float64)
    x = (grid.col_hi + 0.5 - cr[:, 0]) * upsample - 0.5
    y = (grid.row_hi + 0.5 - cr[:, 1]) * upsample - 0.5
    return np.stack([x, y], axis=1)


def fill_polygon(vertices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of ``shape`` whose centres (integer coordinates) lie inside the closed
    polygon ``vertices`` (``(n, 2)`` float, even–odd rule): scan lines along the first
    axis, each edge toggling the pixels beyond its crossing."""
    start = vertices
    end = np.roll(vertices, -1, axis=0)
    low = np.ceil(np.minimum(start[:, 0], end[:, 0])).astype(np.int64)
    high = np.ceil(np.maximum(start[:, 0], end[:, 0])).astype(np.int64)  # rows [low, high)
    counts = np.maximum(high - low, 0)
    edge = np.repeat(np.arange(len(vertices)), counts)
    row = low[edge] + (np.arange(edge.size) - np.repeat(np.cumsum(counts) - counts, counts))
    dx = (end[:, 0] - start[:, 0])[edge]
    y = start[edge, 1] + (row - start[edge, 0]) * (end[edge, 1] - start[edge, 1]) / dx
    column = np.clip(np.floor(y).astype(np.int64) + 1, 0, shape[1])
    keep = (row >= 0) & (row < shape[0])
    toggles = np.bincount(row[keep] * (shape[1] + 1) + column[keep],
                          minlength=shape[0] * (shape[1] + 1))
    crossings = np.cumsum(toggles.reshape(shape[0], shape[1] + 1), axis=1)[:, :shape[1]]
    return (crossings & 1).astype(bool)


def _segment_near(px: np.ndarray, py: np.ndarray, a: np.ndarray, b: np.ndarray,
                  radius: float) -> np.ndarray:
    """Whether points ``(px, py)`` lie within ``radius`` of segments ``a → b`` (arrays
    broadcast: the segments on the leading axis)."""
    axis = b - a
    length2 = np.maximum((axis**2).sum(axis=-1), 1e-12)[..., None, None]
    ax, ay = a[..., 0, None, None], a[..., 1, None, None]
    dx, dy = axis[..., 0, None, None], axis[..., 1, None, None]
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
    return (px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2 <= radius * radius


def edge_band(vertices: np.ndarray, shape: tuple[int, int], radius: float, *,
              window: int = 16) -> np.ndarray:
    """Pixels (centres at integer coordinates) within ``radius`` of the closed polygon's
    edges. Each edge looks only at its own bounding box; the short edges of an outline
    chain (one pixel step each) are done together in boxes of ``window`` pixels."""
    band = np.zeros(shape, dtype=bool)
    ends = np.roll(vertices, -1, axis=0)
    lo = np.maximum(np.floor(np.minimum(vertices, ends) - radius).astype(int), 0)
    hi = np.minimum(np.ceil(np.maximum(vertices, ends) + radius).astype(int) + 1, shape)
    short = np.all(hi - lo <= window, axis=1)
    if short.any():
        offsets = np.arange(window)
        px = lo[short, 0, None, None] + offsets[None, :, None]
        py = lo[short, 1, None, None] + offsets[None, None, :]
        near = _segment_near(px, py, vertices[short], ends[short], radius)
        near &= (px < hi[short, 0, None, None]) & (py < hi[short, 1, None, None])
        band[px.repeat(window, axis=2)[near], py.repeat(window, axis=1)[near]] = True
    for k in np.flatnonzero(~short):  # long straight edges: one box each
        gx, gy = np.meshgrid(np.arange(lo[k, 0], hi[k, 0]), np.arange(lo[k, 1], hi[k, 1]),
                             indexing="ij")
        band[lo[k, 0]:hi[k, 0], lo[k, 1]:hi[k, 1]] |= _segment_near(
            gx, gy, vertices[k], ends[k], radius)
    return band


def rasterise_outline_fine(outline: ReaderOutline, grid: CropGrid, *, upsample: int,
                           include_boundary: bool = True) -> np.ndarray:
    """One reader's bool mask ``(x·k, y·k, z)`` on ``grid`` refined ``upsample`` times
    in-plane (see the module docstring)."""
    if upsample < 1:
        raise ValueError(f"upsample must be ≥ 1, got {upsample}")
    nx, ny, nz = grid.shape
    shape = (nx * upsample, ny * upsample)
    out = np.zeros((*shape, nz), dtype=bool)
    half = 0.5 * upsample  # half a scan pixel, in fine pixels
    slices = outline.slice_index - grid.slice_lo
    if slices.size and (slices.min() < 0 or slices.max() >= nz):
        raise ValueError("outline lies outside the crop grid; build the grid from this nodule")
    order = np.argsort(~outline.inclusion, kind="stable")  # inclusions first, then holes
    for i in order:
        vertices = _fine_vertices(outline.polygon(int(i)), grid, upsample)
        if (vertices.min() < -0.5 or vertices[:, 0].max() > shape[0] - 0.5
                or vertices[:, 1].max() > shape[1] - 0.5):
            raise ValueError("outline lies outside the crop grid; build the grid from this "
                             "nodule")
        inside = fill_polygon(vertices, shape) if len(vertices) >= 3 else np.zeros(shape, bool)
        band = edge_band(vertices, shape, half)
        k = int(slices[i])
        if outline.inclusion[i]:
            out[:, :, k] |= (inside | band) if include_boundary else (inside & ~band)
        else:
            out[:, :, k] &= ~((inside & ~band) if include_boundary else (inside | band))
    return out


def donor_mask_subpixel(nodule: LidcNodule, *, upsample: int, consensus_fraction: float = 0.5,
                        include_boundary: bool = True, pad_voxels: int = 2) -> DonorMask:
    """:func:`~lesiontrials.world.lidc_masks.donor_mask` on a crop ``upsample`` times finer
    in-plane, every reader's polygons rasterised at sub-pixel accuracy."""
    grid = crop_grid(nodule, pad_voxels=pad_voxels)
    masks = np.stack([rasterise_outline_fine(o, grid, upsample=upsample,
                                             include_boundary=include_boundary)
                      for o in nodule.outlines])
    return donor_from_reader_masks(nodule, masks, fine_affine(grid, upsample),
                                   consensus_fraction=consensus_fraction)


def upsample_for(pixel_mm: float, *, target_mm: float = FINE_PIXEL_MM) -> int:
    """The in-plane refinement that makes a ``pixel_mm`` pixel at most ``target_mm``."""
    return max(1, int(np.ceil(pixel_mm / target_mm - 1e-9)))
