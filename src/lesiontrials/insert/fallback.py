"""Out-of-range donor percents (index flag ``out_of_range``): the stated fallback rule.

The planner leaves such an axis free and names it in ``target_pct_fallback``. At
insertion the axis takes, in order:

1. ``donor_scan``: the donor's own position, measured on the donor's scan label map with
   placement's definition (:func:`lesiontrials.insert.placement.level_percents`: the
   centroid's percent of its lobe — cc over the lobe's slices, ml/ap over the lobe's
   extent on that slice), when the manifest gives that label map (``donor_seg_path``) and
   it has the donor's lobe — the nodule's own coordinates mapped into the host lobe;
2. ``drawn``: otherwise a uniform draw over the host lobe's extent (the case generator).

Either way the value lies in [0, 100]: nothing is clamped.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from lesiontrials import anatomy
from lesiontrials.insert.placement import level_percents
from lesiontrials.insert.spec import NoduleSpec
from lesiontrials.io.volumes import Volume
from lesiontrials.measurements.host import HostAnatomy

AXES = ("cc", "ml", "ap")


def donor_scan_percents(spec: NoduleSpec, donor: Volume, donor_labels: Volume
                        ) -> NoduleSpec | None:
    """``spec`` with its fallback axes measured on the donor's own scan, or ``None`` when
    that scan lacks the donor's lobe (the axes then stay free, i.e. ``drawn``)."""
    if spec.target_lobe is None or not spec.pct_fallback:
        return None
    lobe_id = anatomy.LOBE_LABEL_IDS[spec.target_lobe]
    anatomy_map = HostAnatomy(donor_labels.array, donor_labels.spacing_mm)
    if lobe_id not in anatomy_map.boxes:
        return None
    world = donor.voxel_to_world(np.argwhere(donor.array > 0).mean(axis=0))
    voxel = np.linalg.solve(donor_labels.affine[:3, :3], world - donor_labels.affine[:3, 3])
    measured = dict(zip(AXES, level_percents(donor_labels.array, anatomy_map.boxes[lobe_id],
                                             lobe_id, voxel), strict=True))
    axes = [a for a in spec.pct_fallback.split(",") if a]
    if not all(math.isfinite(measured[a]) for a in axes):
        return None
    return dataclasses.replace(
        spec, cc_pct=measured["cc"] if "cc" in axes else spec.cc_pct,
        ml_pct=measured["ml"] if "ml" in axes else spec.ml_pct,
        ap_pct=measured["ap"] if "ap" in axes else spec.ap_pct)
