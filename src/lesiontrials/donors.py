"""One nodule out of a mask file that may hold several: the shared donor extraction.

Some datasets ship one mask per *scan* (the release's IMDCT:
``masks/IMDCT/nodule_seg/{ct_id}_seg.nii.gz`` holds every nodule of that scan). A nodule
is then the connected component (26-connectivity) whose centroid is nearest the
profile's centre ``coordX/Y/Z`` (RAS world mm, the NIfTI affine's frame). The component
must lie within ``tolerance_mm`` of that point — measured as the distance from the point
to the component's nearest voxel centre, so a large or irregular nodule whose centroid
is off its profile centre still matches — otherwise the mask does not contain the
nodule the profile describes and extraction is refused (never a fallback to the whole
file). The refusal says when the point matches after flipping x and y, the usual sign
of ITK/LPS coordinates written into a RAS table.

Insertion (``insert/case.py``), the evaluation set builder (``slicing/case_items.py``)
and the app (``apps/routes_nodules.py``) all call :func:`nodule_component`. Building and
insertion write nodule masks as host-grid crops (:func:`crop_volume`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from lesiontrials.errors import InputError
from lesiontrials.geometry import NoduleMask
from lesiontrials.io.volumes import Volume

#: Largest distance (mm) from the profile's centre to the chosen component's nearest voxel.
#: A profile centre lies inside its own nodule (0 mm) or, for a crescent-shaped nodule,
#: a few mm off it; distinct nodules of one scan are further apart than this.
DEFAULT_TOLERANCE_MM = 5.0

_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class Component:
    """The chosen component: a boolean mask on the file's grid, the distance (mm) from
    the profile's centre to its nearest voxel, and how many components the file has."""

    mask: np.ndarray
    distance_mm: float
    n_components: int


def nodule_component(mask: np.ndarray, affine: np.ndarray,
                     point_mm: tuple[float, float, float] | np.ndarray, *,
                     tolerance_mm: float = DEFAULT_TOLERANCE_MM,
                     path: str | Path | None = None) -> Component:
    """The component of ``mask`` (a ``(x, y, z)`` boolean array with its voxel → RAS world
    ``affine``) that belongs to the nodule centred at ``point_mm`` (RAS world mm).

    Picks the component whose centroid is nearest ``point_mm`` and requires the point to
    lie within ``tolerance_mm`` of one of its voxels; raises :class:`InputError` naming
    ``path`` otherwise (also for an empty mask).
    """
    point = np.asarray(point_mm, dtype=float)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise InputError(f"the nodule's centre {point_mm} is not a finite (x, y, z) point",
                         path=path, column="coordX/coordY/coordZ",
                         fix="give the nodule's centre in world mm in the profile table")
    labels, n = ndimage.label(np.asarray(mask) > 0, structure=_CONNECTIVITY)
    if n == 0:
        raise InputError("the mask file has no nodule voxels", path=path,
                         fix="use a donor whose mask file has nodule voxels")
    index = range(1, n + 1)
    centroids = np.asarray(ndimage.center_of_mass(labels > 0, labels, index), dtype=float)
    world = _to_world(centroids, affine)
    best = int(np.argmin(np.linalg.norm(world - point, axis=1))) + 1
    chosen = labels == best
    distance = _nearest_voxel_mm(chosen, affine, point)
    if distance > tolerance_mm:
        raise InputError(_refusal(labels, n, affine, point, distance, tolerance_mm),
                         path=path, column="coordX/coordY/coordZ",
                         fix="check that the profile row's centre (RAS world mm) and the "
                         "mask file belong to the same scan and frame")
    return Component(chosen, distance, n)


def nodule_volume(volume: Volume, *, scope: str, point_mm: tuple[float, float, float],
                  path: str | Path | None = None,
                  tolerance_mm: float = DEFAULT_TOLERANCE_MM) -> Volume:
    """A mask volume reduced to one nodule: unchanged for ``scope`` "nodule" (the file is
    the nodule's own), its :func:`nodule_component` at ``point_mm`` for "scan"."""
    if scope == "nodule":
        return volume
    if scope != "scan":
        raise ValueError(f"unknown mask scope {scope!r} (nodule or scan)")
    component = nodule_component(volume.array > 0, volume.affine, point_mm,
                                 tolerance_mm=tolerance_mm, path=path)
    return Volume(component.mask.astype(np.uint8), volume.affine)


def row_point_mm(row: Any) -> tuple[float, float, float]:
    """An index row's centre ``(coordX, coordY, coordZ)`` in RAS world mm."""
    return (float(row["coordX"]), float(row["coordY"]), float(row["coordZ"]))


def _to_world(voxels: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return np.asarray(voxels, dtype=float) @ affine[:3, :3].T + affine[:3, 3]


def _nearest_voxel_mm(component: np.ndarray, affine: np.ndarray, point: np.ndarray) -> float:
    return float(np.min(np.linalg.norm(_to_world(np.argwhere(component), affine) - point,
                                       axis=1)))


def _refusal(labels: np.ndarray, n: int, affine: np.ndarray, point: np.ndarray,
             distance: float, tolerance_mm: float) -> str:
    text = (f"no nodule of the mask file lies within {tolerance_mm:g} mm of the profile's "
            f"centre ({point[0]:.1f}, {point[1]:.1f}, {point[2]:.1f}) mm: the nearest of "
            f"its {n} component(s) is {distance:.1f} mm away")
    flipped = point * np.array([-1.0, -1.0, 1.0])
    if any(_nearest_voxel_mm(labels == k, affine, flipped) <= tolerance_mm
           for k in range(1, n + 1)):
        text += ("; with x and y negated the centre falls on a component — the table "
                 "looks like ITK/LPS coordinates (write RAS: negate coordX and coordY)")
    return text


def crop_volume(nodule: NoduleMask, host_affine: np.ndarray) -> Volume:
    """A nodule crop as a mask volume whose affine places it on the host grid
    (``host_affine``: 4×4 voxel → RAS mm; the crop keeps the host's spacing)."""
    affine = host_affine.copy()
    affine[:3, 3] = host_affine[:3, :3] @ np.asarray(nodule.offset, float) + host_affine[:3, 3]
    return Volume(nodule.mask.astype(np.uint8), affine)
