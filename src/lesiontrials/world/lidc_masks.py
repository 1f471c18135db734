"""Rasterise LIDC radiologist outlines into 3-D donor masks (RAS+ crop grids).

Conventions
-----------
* **Outline pixels count as nodule** by default (``include_boundary=True``): the LIDC
  outline is a chain of pixels on the nodule's outer boundary, and the "database
  diameter" is measured between those same pixels. ``include_boundary=False`` keeps only
  pixels strictly inside the outline. Inclusion polygons are filled (even–odd rule on
  pixel centres) and OR-ed per slice; the inside of exclusion polygons is then removed
  (with ``include_boundary=True`` the exclusion outline itself stays nodule, as it is the
  nodule's inner boundary).
* **Crop grid**: arrays are RAS+ ``(x, y, z)``. LIDC pixels are DICOM LPS (column → left,
  row → posterior, slice position → superior), so ``x`` runs over columns reversed,
  ``y`` over rows reversed and ``z`` over slices by increasing position. The box is the
  union of all readers' outline pixels padded by ``pad_voxels`` on every side.
* **World frame**: the database has no image origin, so the affine places scan pixel
  ``(column 0, row 0)`` at x = y = 0 (RAS mm = minus the LPS offset ``index × spacing``);
  z is the absolute DICOM slice position. Positions are therefore *relative in-plane*:
  only spacing, orientation and relative placement are meaningful. Slice spacing is the
  scan's median step (a few LIDC scans have irregular steps; slices are indexed, not
  resampled).
* **Consensus**: a voxel belongs to the consensus when at least
  ``consensus_fraction × n_readers`` readers include it (50 %: 1 of 1 or 2, 2 of 3 or 4).
* **Database diameter** (as LIDC tools report it): per reader the longest chord between
  outline pixels of any one inclusion polygon (in-plane, mm); the nodule's is the median
  over readers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.distance import pdist

from lesiontrials.io.volumes import Volume, spacing_from_affine
from lesiontrials.world.lidc import LidcNodule, ReaderOutline


@dataclass(frozen=True, eq=False)
class CropGrid:
    """A nodule's crop of its scan: voxel ``(i, j, k)`` is scan pixel
    ``(column = col_hi - i, row = row_hi - j)`` on slice ``slice_lo + k``."""

    col_hi: int
    row_hi: int
    slice_lo: int
    shape: tuple[int, int, int]  # (x, y, z)
    affine: np.ndarray = field(repr=False)  # 4x4 voxel -> RAS mm (relative in-plane)

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return spacing_from_affine(self.affine)


@dataclass(frozen=True, eq=False)
class DonorMask:
    """A nodule's consensus mask on its crop grid, with reader statistics."""

    nodule_id: str
    mask: np.ndarray  # bool (x, y, z), RAS+
    affine: np.ndarray  # 4x4 voxel -> RAS mm
    n_readers: int
    consensus_fraction: float
    reader_agreement: float  # mean pairwise Dice of reader masks; 1.0 for one reader
    reader_volumes_mm3: tuple[float, ...]
    volume_mm3: float
    equivalent_diameter_mm: float  # diameter of the sphere of volume_mm3
    database_diameter_mm: float  # median over readers of the longest in-plane chord

    def to_volume(self) -> Volume:
        """The mask as a uint8 :class:`~lesiontrials.io.Volume` (for writing)."""
        return Volume(self.mask.astype(np.uint8), self.affine.copy())


@dataclass(frozen=True)
class DiameterAgreement:
    """Relative difference (equivalent − database) / database diameter over nodules."""

    n: int
    median: float
    q25: float
    q75: float
    p95_abs: float  # 95th percentile of the absolute relative difference
    median_abs: float


def equivalent_diameter_mm(volume_mm3: float) -> float:
    """Diameter (mm) of the sphere with the given volume (mm³)."""
    return (6.0 * volume_mm3 / math.pi) ** (1.0 / 3.0)


def crop_grid(nodule: LidcNodule, *, pad_voxels: int = 2) -> CropGrid:
    """The RAS+ crop grid holding every reader's outline, padded by ``pad_voxels``."""
    pts = np.concatenate([o.points_cr for o in nodule.outlines])
    slices = np.concatenate([o.slice_index for o in nodule.outlines])
    z_mm = np.concatenate([o.z_mm for o in nodule.outlines])
    c_lo, r_lo = pts.min(axis=0) - pad_voxels
    c_hi, r_hi = pts.max(axis=0) + pad_voxels
    s_min = int(slices.min())
    s_lo, s_hi = s_min - pad_voxels, int(slices.max()) + pad_voxels
    px, dz = nodule.pixel_spacing_mm, nodule.slice_spacing_mm
    z0 = float(z_mm[slices == s_min][0]) - pad_voxels * dz
    affine = np.array([
        [px, 0.0, 0.0, -float(c_hi) * px],
        [0.0, px, 0.0, -float(r_hi) * px],
        [0.0, 0.0, dz, z0],
        [0.0, 0.0, 0.0, 1.0],
    ])
    shape = (int(c_hi - c_lo + 1), int(r_hi - r_lo + 1), s_hi - s_lo + 1)
    return CropGrid(col_hi=int(c_hi), row_hi=int(r_hi), slice_lo=s_lo, shape=shape,
                    affine=affine)


def _polygon_pixels(local_cr: np.ndarray, offsets: np.ndarray, h: int, w: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per polygon ``(n, h, w)`` bool: interior (even–odd, pixel centres) and outline.

    ``local_cr`` holds ``(column, row)`` vertices already inside ``[0, w) × [0, h)``.
    """
    n = offsets.size - 1
    counts = np.diff(offsets)
    poly = np.repeat(np.arange(n), counts)
    nxt = np.arange(1, local_cr.shape[0] + 1)
    nxt[offsets[1:] - 1] = offsets[:-1]  # close every polygon
    x0, y0 = local_cr[:, 0].astype(np.int64), local_cr[:, 1].astype(np.int64)
    x1, y1 = x0[nxt], y0[nxt]
    # Scan-line crossings: edge crosses row r when min(y0, y1) <= r < max(y0, y1).
    dy = y1 - y0
    n_rows = np.abs(dy)
    e = np.repeat(np.arange(x0.size), n_rows)
    r = np.minimum(y0, y1)[e] + (np.arange(e.size) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows))
    x = x0[e] + (r - y0[e]) * (x1[e] - x0[e]) / np.where(dy[e] == 0, 1, dy[e])
    col = np.clip(np.floor(x).astype(np.int64) + 1, 0, w)
    toggles = np.bincount((poly[e] * h + r) * (w + 1) + col, minlength=n * h * (w + 1))
    inside = (np.cumsum(toggles.reshape(n, h, w + 1), axis=2)[..., :w] & 1).astype(bool)
    # Outline: every pixel on the straight steps between consecutive vertices.
    steps = np.maximum(np.maximum(np.abs(x1 - x0), n_rows), 1)
    e = np.repeat(np.arange(x0.size), steps)
    t = (np.arange(e.size) - np.repeat(np.cumsum(steps) - steps, steps)) / steps[e]
    ex = np.rint(x0[e] + t * (x1[e] - x0[e])).astype(np.int64)
    ey = np.rint(y0[e] + t * (y1[e] - y0[e])).astype(np.int64)
    edge = np.zeros(n * h * w, dtype=bool)
    edge[(poly[e] * h + ey) * w + ex] = True
    return inside, edge.reshape(n, h, w)


def rasterise_outline(
    outline: ReaderOutline, grid: CropGrid, *, include_boundary: bool = True
) -> np.ndarray:
    """One reader's bool mask ``(x, y, z)`` on ``grid`` (see module doc for the rules)."""
    nx, ny, nz = grid.shape
    c_lo, r_lo = grid.col_hi - (nx - 1), grid.row_hi - (ny - 1)
    local = outline.points_cr.astype(np.int64) - np.array([c_lo, r_lo])
    if local.size and (local.min() < 0 or np.any(local.max(axis=0) >= (nx, ny))):
        raise ValueError("outline lies outside the crop grid; build the grid from this nodule")
    native = np.zeros((nz, ny, nx), dtype=bool)  # (slice, row, column)
    if outline.n_polygons == 0:
        return native.transpose(2, 1, 0)
    inside, edge = _polygon_pixels(local, outline.offsets, ny, nx)
    filled = inside | edge if include_boundary else inside & ~edge
    hole = inside & ~edge if include_boundary else inside | edge
    k = outline.slice_index - grid.slice_lo
    for i in np.flatnonzero(outline.inclusion):
        native[k[i]] |= filled[i]
    for i in np.flatnonzero(~outline.inclusion):
        native[k[i]] &= ~hole[i]
    return np.ascontiguousarray(native[:, ::-1, ::-1].transpose(2, 1, 0))


def reader_masks(
    nodule: LidcNodule, grid: CropGrid, *, include_boundary: bool = True
) -> np.ndarray:
    """All readers' masks stacked: bool ``(n_readers, x, y, z)``, annotation-id order."""
    return np.stack([rasterise_outline(o, grid, include_boundary=include_boundary)
                     for o in nodule.outlines])


def consensus_mask(masks: np.ndarray, *, fraction: float = 0.5) -> np.ndarray:
    """Voxels included by at least ``fraction`` of the readers (and by at least one)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"consensus fraction must be in (0, 1], got {fraction}")
    need = max(1, math.ceil(fraction * masks.shape[0] - 1e-9))
    return masks.sum(axis=0) >= need


def mean_pairwise_dice(masks: np.ndarray) -> float:
    """Mean Dice over all reader pairs of ``(n, ...)`` bool masks; 1.0 when n < 2."""
    n = masks.shape[0]
    if n < 2:
        return 1.0
    flat = masks.reshape(n, -1).astype(np.float64)
    inter = flat @ flat.T
    sizes = np.diag(inter)
    iu = np.triu_indices(n, 1)
    denom = sizes[iu[0]] + sizes[iu[1]]
    dice = np.where(denom > 0, 2.0 * inter[iu] / np.where(denom > 0, denom, 1.0), 1.0)
    return float(dice.mean())


def reader_diameter_mm(outline: ReaderOutline, pixel_spacing_mm: float) -> float:
    """Longest in-plane chord (mm) between outline pixels of any inclusion polygon."""
    best = 0.0
    for i in np.flatnonzero(outline.inclusion):
        pts = np.unique(outline.polygon(int(i)), axis=0)
        if pts.shape[0] > 1:
            best = max(best, float(pdist(pts.astype(np.float64)).max()))
    return best * pixel_spacing_mm


def database_diameter_mm(nodule: LidcNodule) -> float:
    """Median over readers of :func:`reader_diameter_mm` (mm)."""
    return float(np.median([reader_diameter_mm(o, nodule.pixel_spacing_mm)
                            for o in nodule.outlines]))


def donor_mask(
    nodule: LidcNodule,
    *,
    consensus_fraction: float = 0.5,
    include_boundary: bool = True,
    pad_voxels: int = 2,
) -> DonorMask:
    """Rasterise every reader of ``nodule`` and build its consensus :class:`DonorMask`."""
    grid = crop_grid(nodule, pad_voxels=pad_voxels)
    masks = reader_masks(nodule, grid, include_boundary=include_boundary)
    return donor_from_reader_masks(nodule, masks, grid.affine,
                                   consensus_fraction=consensus_fraction)


def donor_from_reader_masks(nodule: LidcNodule, masks: np.ndarray, affine: np.ndarray, *,
                            consensus_fraction: float = 0.5) -> DonorMask:
    """The consensus :class:`DonorMask` of reader masks ``(n_readers, x, y, z)`` on the
    grid of ``affine``."""
    mask = consensus_mask(masks, fraction=consensus_fraction)
    voxel_mm3 = float(np.prod(spacing_from_affine(affine)))
    volume = float(mask.sum()) * voxel_mm3
    return DonorMask(
        nodule_id=nodule.nodule_id,
        mask=mask,
        affine=affine,
        n_readers=nodule.n_readers,
        consensus_fraction=consensus_fraction,
        reader_agreement=mean_pairwise_dice(masks),
        reader_volumes_mm3=tuple(float(m.sum()) * voxel_mm3 for m in masks),
        volume_mm3=volume,
        equivalent_diameter_mm=equivalent_diameter_mm(volume),
        database_diameter_mm=database_diameter_mm(nodule),
    )


def summarise_relative_errors(errors: np.ndarray) -> DiameterAgreement:
    """Median, IQR and 95th percentile (absolute) of relative differences."""
    errors = np.asarray(errors, dtype=np.float64)
    errors = errors[np.isfinite(errors)]
    if errors.size == 0:
        nan = float("nan")
        return DiameterAgreement(n=0, median=nan, q25=nan, q75=nan, p95_abs=nan, median_abs=nan)
    q25, med, q75 = np.percentile(errors, [25, 50, 75])
    return DiameterAgreement(
        n=int(errors.size), median=float(med), q25=float(q25), q75=float(q75),
        p95_abs=float(np.percentile(np.abs(errors), 95)),
        median_abs=float(np.median(np.abs(errors))),
    )


def diameter_agreement(
    nodules: Iterable[LidcNodule],
    *,
    consensus_fraction: float = 0.5,
    include_boundary: bool = True,
) -> DiameterAgreement:
    """How the consensus equivalent diameter compares with the database diameter.

    The relative difference per nodule is ``(equivalent - database) / database``; an
    equivalent-sphere diameter sits below the longest chord for any non-spherical nodule,
    so a negative median is expected.
    """
    errors = []
    for nodule in nodules:
        donor = donor_mask(nodule, consensus_fraction=consensus_fraction,
                           include_boundary=include_boundary)
        if donor.database_diameter_mm > 0:
            errors.append(donor.equivalent_diameter_mm / donor.database_diameter_mm - 1.0)
    return summarise_relative_errors(np.array(errors))
