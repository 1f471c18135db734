"""The axial slab of a host that a case keeps: decide it (seeded), then cut it.

Rendering a whole screening-resolution phantom (512×512×320 voxels) costs ~25 s a case;
the evaluation needs only the slices around the nodules and a negative slice. A case on
a host without a real CT therefore keeps a z-slab of the host's label map.

**What a slab case is for: the 2-D track only.** Slab cases are left out of 3-D volume
sets (a slab says no nodule lies near its ends, and false positives would be per slab),
so a slab only has to hold what a 2-D evaluation item needs: the nodule's slices with
their z±1 neighbours, and one negative slice ≥ 10 mm from every nodule voxel
(``SliceParams.margin_mm``) with its neighbours, ≥ 4 mm from the slab's ends
(``SliceParams.edge_mm``: the scanner's z-blur, σ ≤ 1.1 mm truncated at 3σ, sees the
slab's end there). Its length follows:

- ``slab_margin_mm`` (14 mm) beyond the nodules' axial extent on *both* sides: the
  shortest distance that holds a negative slice 10 mm from the nodule and 4 mm from the
  end on either side, so a negative exists whichever side has lung enough;
- ``SLAB_MIN_ROOM_MM`` (12 mm) on top, so slabs have one length (40 mm by default:
  32 slices at 1.25 mm, 40 at 1 mm) for every nodule up to 12 mm and for nodule-free
  cases — longer only when the nodules and their margins need it (then exactly that).

Where a nodule sits in its slab is still decided so that the slab's middle says nothing
beyond the admissible positions (for a 2-D item, which shows three slices of a slab, the
slab's middle is not even visible):

- with nodules: the start is drawn uniformly over every position that keeps the margins
  inside the volume — the nodules sit at a uniform random offset, not at the middle (a
  "mid-slice" detector gains nothing over any other admissible position);
- nodule-free: a *virtual* one-slice nodule is drawn where nodules are (a slice with
  probability proportional to its lung area, as a nodule placed uniformly in the lung
  volume would be) and the slab is placed around it by the same rule, so nodule-free
  slabs have the same length and the same distribution of z as single small nodules'.

Longer slabs (``--slab-mm 64``: 36 mm of room) spread small nodules further; the 40 mm
default renders 0.6× the slices of 64 mm (benchmarks/RESULTS.md, session 7).

The slab is recorded (host voxel range and world z range) and its affine is the host's
shifted by ``z0`` slices, so every later stage works in world mm unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lesiontrials import anatomy


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
        length_mm: slab length (mm; longer only when the nodules and margins need it);
            margin_mm: room kept beyond the nodules on both sides (mm).
        rng: the case's generator for the slab (one or two draws).
    """
    if nodule_z is None:
        nodule_z = virtual_nodule_slice(lung_area, depth=depth, rng=rng)
    margin = _slices(margin_mm, spacing_z_mm)
    low = max(nodule_z[0] - margin, 0)  # inclusive range that must be kept
    high = min(nodule_z[1] + margin, depth - 1)
    length = max(_slices(length_mm, spacing_z_mm), high - low + 1)
    if length >= depth:
        return None
    first, last = max(0, high + 1 - length), min(low, depth - length)
    start = int(rng.integers(first, last + 1))  # uniform over every start keeping [low, high]
    return Slab(start, start + length)


def virtual_nodule_slice(lung_area: np.ndarray | None, *, depth: int,
                         rng: np.random.Generator) -> tuple[int, int]:
    """A nodule-free slab's stand-in nodule: one slice drawn with probability proportional
    to its lung area (``(depth,)`` voxels per slice), as an inserted nodule's centre is."""
    if lung_area is None or lung_area.shape != (depth,):
        raise ValueError("a nodule-free slab needs the lung area of every slice")
    weights = np.asarray(lung_area, dtype=np.float64)
    total = float(weights.sum())
    if not total > 0:
        raise ValueError("the host has no lung slice to place a nodule-free slab on")
    z = int(rng.choice(depth, p=weights / total))
    return z, z


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
