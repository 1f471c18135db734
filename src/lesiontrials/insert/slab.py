"""The axial slab of a host that a case keeps: decide it (seeded), then cut it.

Rendering a whole screening-resolution phantom (512×512×320 voxels) costs ~25 s a case;
the evaluation needs only the slices around the nodules and a negative slice. A case on
a host without a real CT therefore keeps a z-slab of the host's label map:

- with nodules: at least ``slab_length_mm`` long and ``slab_margin_mm`` beyond the
  nodules' axial extent on both sides (room for a negative slice ≥ 10 mm from any nodule
  voxel, its neighbours and the scanner's z-blur), placed at a random offset so the
  nodules are not always at the slab's centre;
- nodule-free: ``slab_length_mm`` long, centred on a random slice among those with at
  least a quarter of the largest per-slice lung area.

The slab is recorded (host voxel range and world z range) and its affine is the host's
shifted by ``z0`` slices, so every later stage works in world mm unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lesiontrials import anatomy

#: Share of the largest per-slice lung area a nodule-free slab's centre slice must reach.
MIN_LUNG_SHARE = 0.25


@dataclass(frozen=True)
class Slab:
    """Half-open axial voxel range ``[z0, z1)`` of the host grid."""

    z0: int
    z1: int

    @property
    def depth(self) -> int:
        return self.z1 - self.z0


def _slices(length_mm: float, spacing_z_mm: float) -> int:
    return max(1, math.ceil(length_mm / spacing_z_mm - 1e-9))


def decide_slab(*, depth: int, spacing_z_mm: float, nodule_z: tuple[int, int] | None,
                lung_area: np.ndarray | None, length_mm: float, margin_mm: float,
                rng: np.random.Generator) -> Slab | None:
    """The slab a case keeps, or ``None`` when it would not be shorter than the volume.

    Args:
        depth: the host's number of axial slices.
        spacing_z_mm: the host's slice spacing (mm).
        nodule_z: inclusive axial voxel range of every inserted nodule (``None``:
            nodule-free).
        lung_area: lung voxels per axial slice, ``(depth,)`` (needed when nodule-free).
        length_mm: shortest slab (mm); margin_mm: room beyond the nodules (mm).
        rng: the case's generator for the slab (one draw).
    """
    length = _slices(length_mm, spacing_z_mm)
    if nodule_z is not None:
        margin = _slices(margin_mm, spacing_z_mm)
        low, high = nodule_z[0] - margin, nodule_z[1] + margin  # inclusive, must be kept
        length = max(length, high - low + 1)
        if length >= depth:
            return None
        start = int(rng.integers(high + 1 - length, low + 1))  # any start keeping [low, high]
    else:
        if lung_area is None or lung_area.shape != (depth,):
            raise ValueError("a nodule-free slab needs the lung area of every slice")
        if length >= depth:
            return None
        candidates = np.flatnonzero(lung_area >= MIN_LUNG_SHARE * max(float(lung_area.max()), 1.0))
        if candidates.size == 0:
            raise ValueError("the host has no lung slice to centre a nodule-free slab on")
        start = int(rng.choice(candidates)) - length // 2
    start = min(max(start, 0), depth - length)
    return Slab(start, start + length)


def lung_area_per_slice(labels: np.ndarray) -> np.ndarray:
    """Lung (lobe) voxels per axial slice of a uint8 ``(X, Y, Z)`` label map, ``(Z,)``."""
    table = np.zeros(256, dtype=bool)
    table[list(anatomy.LOBE_BY_LABEL)] = True
    return np.count_nonzero(table[labels], axis=(0, 1))


def slab_affine(affine: np.ndarray, slab: Slab) -> np.ndarray:
    """The affine of the slab's voxel grid: the host's, its origin moved ``z0`` slices."""
    out = np.array(affine, dtype=float, copy=True)
    out[:3, 3] = affine[:3, :3] @ np.array([0.0, 0.0, float(slab.z0)]) + affine[:3, 3]
    return out


def cut_slab(labels: np.ndarray, slab: Slab) -> np.ndarray:
    """The slab's slices of a ``(X, Y, Z)`` array (a contiguous copy)."""
    return np.ascontiguousarray(labels[:, :, slab.z0:slab.z1])


def slab_z_mm(affine: np.ndarray, slab: Slab) -> tuple[float, float]:
    """World z (mm) of the slab's first and last slice centres."""
    first = affine[:3, :3] @ np.array([0.0, 0.0, float(slab.z0)]) + affine[:3, 3]
    last = affine[:3, :3] @ np.array([0.0, 0.0, float(slab.z1 - 1)]) + affine[:3, 3]
    return float(first[2]), float(last[2])
