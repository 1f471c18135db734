"""Fixed-size CT crops around indexed nodules (the input of image embeddings).

A crop is a :class:`CropSpec` grid — ``shape`` voxels of ``spacing_mm`` in RAS+ ``(x, y, z)``
order — centred on the nodule's centroid, resampled trilinearly from the CT after a Gaussian
anti-aliasing blur (as the encoder's whole-scan preprocessing does), clipped to ``hu_range``
and scaled to 0…1. Outside the scan is air (0).

Where a nodule's pixels come from (:func:`crop_source`):

* ``raw_ct`` — its scan's CT is on disk (``raw_ct/{ct_path}``);
* ``rendered`` — no CT, but its host label map and its mask are (the world's phantom
  hosts): the whole label map is rendered once by the analytic renderer with all of the
  scan's nodules painted in and drawn from their LIDC characteristics, seeded from the
  label map's path (:func:`lesiontrials.embeddings.rendered_scan`), and the crops are cut
  from that render;
* none — donor-only rows (a mask without a host scan, e.g. LIDC) have no CT pixels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from lesiontrials.geometry import clip_box
from lesiontrials.io import Volume, read_volume
from lesiontrials.paths import DataRoot

SKIP_NO_CT = "no CT pixels: no raw CT and no host label map (donor-only row)"
SKIP_NO_MASK = "no CT crop centre: nodule mask missing and no finite coordX/Y/Z"


@dataclass(frozen=True)
class CropSpec:
    """The crop grid. The default — 64 × 64 × 32 voxels of 1 × 1 × 2 mm, a 64 mm cube —
    holds nodules up to 30 mm with context and keeps the encoder's 2:1 z/in-plane voxel
    ratio (its whole-scan grid is 1.5 × 1.5 × 3 mm) and HU window."""

    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 2.0)
    shape: tuple[int, int, int] = (64, 64, 32)
    hu_range: tuple[float, float] = (-1000.0, 200.0)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in asdict(self).items()}

    @property
    def extent_mm(self) -> np.ndarray:
        return np.asarray(self.spacing_mm, float) * np.asarray(self.shape, float)


@dataclass(frozen=True)
class CropSource:
    """Where one nodule's crop comes from: ``kind`` ``raw_ct`` or ``rendered``, the volume
    file (relative to the data root) and the nodule's centroid in RAS mm."""

    kind: str
    path: str
    centre_mm: tuple[float, float, float]


def crop_affine(centre_mm: np.ndarray, spec: CropSpec) -> np.ndarray:
    """Voxel → RAS mm affine of the crop grid centred at ``centre_mm``."""
    spacing = np.asarray(spec.spacing_mm, float)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = np.asarray(centre_mm, float) - (np.asarray(spec.shape) - 1) / 2 * spacing
    return affine


def _box_around(volume: Volume, corners_mm: np.ndarray, margin: np.ndarray
                ) -> tuple[slice, ...] | None:
    """Voxel box of ``volume`` covering world points ``corners_mm`` plus ``margin`` voxels
    (``None`` when it misses the volume)."""
    ijk = volume.world_to_voxel(corners_mm)
    low = np.floor(ijk.min(axis=0) - margin).astype(int)
    high = np.ceil(ijk.max(axis=0) + margin).astype(int) + 1
    box = clip_box((slice(int(low[0]), int(high[0])), slice(int(low[1]), int(high[1])),
                    slice(int(low[2]), int(high[2]))), volume.shape)
    return None if any(s.stop <= s.start for s in box) else box


def _corners(centre_mm: np.ndarray, extent_mm: np.ndarray) -> np.ndarray:
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    return np.asarray(centre_mm, float) + signs * extent_mm / 2


def resample_crop(volume: Volume, centre_mm: np.ndarray, spec: CropSpec) -> np.ndarray:
    """The crop (float32, ``spec.shape``, 0…1) of a HU ``volume`` around ``centre_mm``."""
    low, high = spec.hu_range
    ratio = np.asarray(spec.spacing_mm) / np.asarray(volume.spacing_mm)
    sigma = np.maximum(0.0, (ratio - 1.0) / 2.0)
    margin = np.ceil(3 * sigma) + 2
    box = _box_around(volume, _corners(centre_mm, spec.extent_mm), margin)
    if box is None:
        return np.zeros(spec.shape, np.float32)
    hu = np.asarray(volume.array[box], dtype=np.float32)
    if sigma.any():
        hu = ndimage.gaussian_filter(hu, sigma, mode="nearest")
    start = np.array([s.start for s in box], float)
    # crop voxel → volume voxel (then shifted into the box)
    to_volume = np.linalg.inv(volume.affine) @ crop_affine(centre_mm, spec)
    resampled = ndimage.affine_transform(
        hu, to_volume[:3, :3], offset=to_volume[:3, 3] - start, output_shape=spec.shape,
        order=1, mode="constant", cval=low)
    return ((np.clip(resampled, low, high) - low) / (high - low)).astype(np.float32)


def mask_centre_mm(mask: Volume) -> tuple[float, float, float] | None:
    """Centroid (RAS mm) of a mask's voxels, ``None`` when it is empty."""
    ijk = np.argwhere(np.asarray(mask.array) > 0)
    if ijk.size == 0:
        return None
    centre = mask.voxel_to_world(ijk.mean(axis=0))
    return (float(centre[0]), float(centre[1]), float(centre[2]))


def crop_source(row: dict[str, Any], root: DataRoot) -> tuple[CropSource | None, str]:
    """Where a nodule's crop comes from, or ``(None, reason)`` when it has no CT pixels."""
    ct_path = str(row.get("ct_path") or "")
    raw = root.raw_ct_from_profile(ct_path) if ct_path else None
    seg_path = str(row.get("seg_path") or "")
    has_raw = raw is not None and raw.is_file()
    has_labels = bool(seg_path) and (root.root / seg_path).is_file()
    mask_path = root.root / str(row.get("mask_path") or "")
    if not (has_raw or (has_labels and mask_path.is_file())):
        return None, SKIP_NO_CT
    centre = mask_centre_mm(_own_mask(read_volume(mask_path), row, mask_path)
                            ) if mask_path.is_file() else None
    if centre is None:
        coords = [float(row.get(c, math.nan)) for c in ("coordX", "coordY", "coordZ")]
        if not all(math.isfinite(c) for c in coords):
            return None, SKIP_NO_MASK
        centre = (coords[0], coords[1], coords[2])
    if has_raw and raw is not None:
        return CropSource("raw_ct", root.relative(raw), centre), ""
    return CropSource("rendered", seg_path, centre), ""


def _own_mask(volume: Volume, row: dict[str, Any], path: object) -> Volume:
    """The row's nodule out of its mask file (a per-scan file gives one component)."""
    from lesiontrials.donors import nodule_volume, row_point_mm

    return nodule_volume(volume, scope=str(row.get("mask_scope") or "nodule"),
                         point_mm=row_point_mm(row), path=str(path))
