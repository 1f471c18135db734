"""Realised ground truth of an inserted nodule, with the profiler's own definitions.

Measured on the host *before* stamping (the label under the nodule is the host's), with
:mod:`lesiontrials.measurements.measure`, so realised values mean exactly what the index
columns mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lesiontrials import anatomy
from lesiontrials.geometry import NoduleMask
from lesiontrials.insert.placement import level_percents
from lesiontrials.insert.transplant import nearest_distance_mm
from lesiontrials.measurements.host import HostAnatomy
from lesiontrials.measurements.measure import (
    central_or_peripheral,
    labels_under,
    lobe_of,
    majority_label,
    percent_position,
    pleural_distance,
    side_from_position,
    size_measures,
)


def realised_truth(host: HostAnatomy, affine: np.ndarray, nodule: NoduleMask, *,
                   scale: float, companions: Sequence[NoduleMask] = ()) -> dict[str, Any]:
    """What was realised for one nodule on a nodule-free host (lengths in mm).

    ``lobe`` is the majority lobe under the nodule (the nearest lobe when none is under
    it; ``percent_in_lobe`` says how much lies inside); ``lobe_pct`` uses the profiler's
    definition (the lobe's 3-D extent), ``lobe_level_pct`` the placement's (in-plane
    extent on the centroid's slice). ``bbox_voxel`` is half-open per axis.
    """
    centroid = nodule.centroid_voxel()
    under = labels_under(host, nodule)
    lobe_id, percent_in_lobe = lobe_of(host, nodule, under)
    lobe = anatomy.LOBE_BY_LABEL[lobe_id] if lobe_id is not None else None
    side = lobe.side.value if lobe is not None else side_from_position(host, centroid)
    sizes = size_measures(nodule, host.spacing_mm)
    lung_pct = percent_position(centroid, host.lung_extent)
    world = centroid @ affine[:3, :3].T + affine[:3, 3]
    organ = majority_label(under)
    return {
        "lobe": lobe.value if lobe is not None else None,
        "lobe_label_id": lobe_id,
        "organ_label_id": organ,
        "organ_label_name": anatomy.LABEL_NAMES.get(organ, str(organ)),
        "side": side,
        "zone": anatomy.zone_from_cc_pct(float(lung_pct[2])).value,
        "central_peripheral": central_or_peripheral(host, centroid, side) or None,
        "centroid_voxel": [float(v) for v in centroid],
        "centroid_mm": [float(v) for v in world],
        "voxels": int(sizes["nodule_voxels"]),
        "volume_mm3": sizes["nodule_vol_mm3"],
        "equivalent_diameter_mm": sizes["nodule_mean_diam_mm"],
        "max_axis_diameter_mm": sizes["nodule_max_axis_mm"],
        "extent_mm": [sizes["w"], sizes["h"], sizes["d"]],
        "bbox_voxel": [[s.start, s.stop] for s in nodule.box],
        "pleural_distance_mm": pleural_distance(host, nodule),
        "percent_in_lobe": percent_in_lobe,
        "lobe_pct": _lobe_pct(host, lobe_id, centroid),
        "lobe_level_pct": _level_pct(host, lobe_id, centroid),
        "lung_pct": {"cc": float(lung_pct[2]), "ml": float(lung_pct[0]),
                     "ap": float(lung_pct[1])},
        "scale": float(scale),
        "nearest_companion_mm": min(
            (nearest_distance_mm(nodule, c, host.spacing_mm) for c in companions),
            default=None),
    }


def shift_truth_z(truth: dict[str, Any], dz: int) -> dict[str, Any]:
    """``truth`` with its voxel positions (``centroid_voxel``, ``bbox_voxel``) moved ``dz``
    slices: measured on the whole host, stated on the case's slab grid (world-mm and
    percent positions do not change)."""
    centroid = list(truth["centroid_voxel"])
    centroid[2] += dz
    box = [list(b) for b in truth["bbox_voxel"]]
    box[2] = [box[2][0] + dz, box[2][1] + dz]
    return {**truth, "centroid_voxel": centroid, "bbox_voxel": box}


def _lobe_pct(host: HostAnatomy, lobe_id: int | None, centroid: np.ndarray
              ) -> dict[str, float] | None:
    extent = host.extent((lobe_id,)) if lobe_id is not None else None
    if extent is None:
        return None
    pct = percent_position(centroid, extent)
    return {"cc": float(pct[2]), "ml": float(pct[0]), "ap": float(pct[1])}


def _level_pct(host: HostAnatomy, lobe_id: int | None, centroid: np.ndarray
               ) -> dict[str, float] | None:
    if lobe_id is None or lobe_id not in host.boxes:
        return None
    cc, ml, ap = level_percents(host.labels, host.boxes[lobe_id], lobe_id, centroid)
    return {"cc": cc, "ml": ml, "ap": ap}


def diameter_error_mm(realised_mm: float, planned_mm: float) -> float:
    """Absolute difference, NaN when the plan has no diameter."""
    return abs(realised_mm - planned_mm) if math.isfinite(planned_mm) else math.nan
