"""The nodule profile columns of the release (iTrialSpace_Lung layout), in release order.

Definitions (ours; the release does not state them):

* ``coordX/Y/Z``: nodule centroid in RAS world mm (the NIfTI affine's frame).
* ``w, h, d``: extent of the nodule along x, y, z in mm (voxel count × spacing).
* ``nodule_mean_diam_mm``: equivalent-sphere diameter ``(6 V / π)^(1/3)``, robust to
  anisotropic voxels; ``nodule_vol_mm3`` = voxel count × voxel volume.
* ``organ_label_id/name``: majority host label under the nodule.
* ``nearby_organs_10mm``: comma-separated names of host labels within 10 mm of the
  nodule (background, body and the nodule label excluded).
* Percent positions: see :mod:`lesiontrials.anatomy` (increase along RAS+; over the
  occupied extent of both lungs, or of the nodule's lobe).
* ``central_peripheral``: ``central`` when the centroid lies in the medial third of its
  lung's left-right extent on the centroid's axial slice.
* Distances (``dist_to_*``, ``pleural_distance_mm``, ``airway_distance_mm``): the
  shortest distance in mm between a nodule voxel centre and a voxel centre of the
  structure (pleura: any voxel outside the lung interior; airway: airway ∪ trachea);
  0 when they overlap; empty when the structure is absent from the label map.
* Neighbour columns are computed over the nodules profiled together (one scan).
"""

from __future__ import annotations

from typing import Final

IDENTITY_COLUMNS: Final = ("ct_path",)
GEOMETRY_COLUMNS: Final = (
    "coordX", "coordY", "coordZ", "w", "h", "d", "nodule_mean_diam_mm", "nodule_vol_mm3",
)
ORGAN_COLUMNS: Final = ("organ_label_id", "organ_label_name", "nearby_organs_10mm")
LOCATION_COLUMNS: Final = ("lung_side", "lobe_name", "lung_zone", "central_peripheral")
PERCENT_COLUMNS: Final = (
    "cranio_caudal_pct", "mediolateral_pct", "anteroposterior_pct",
    "lobe_cc_pct", "lobe_ml_pct", "lobe_ap_pct",
)
#: distance column → label names it measures to (from anatomy.LABEL_IDS)
STRUCTURE_DISTANCES: Final[dict[str, tuple[str, ...]]] = {
    "dist_to_trachea_mm": ("trachea",),
    "dist_to_aorta_mm": ("aorta",),
    "dist_to_heart_mm": ("heart",),
    "dist_to_esophagus_mm": ("esophagus",),
    "dist_to_pulmonary_vein_mm": ("pulmonary vein",),
    "dist_to_superior_vena_cava_mm": ("superior vena cava",),
}
DISTANCE_COLUMNS: Final = (*STRUCTURE_DISTANCES, "pleural_distance_mm", "airway_distance_mm")
NEIGHBOUR_COLUMNS: Final = (
    "n_nodules_in_patient", "nearest_nodule_id", "nearest_nodule_dist_mm",
    "nearest_dx_mm", "nearest_dy_mm", "nearest_dz_mm", "all_nodule_ids",
    "all_nodule_dists_mm", "ipsilateral", "nearest_same_lobe", "bilateral_distribution",
)
REINSERTION_COLUMNS: Final = (
    "reinsertion_lobe", "reinsertion_lung_side", "reinsertion_lung_zone",
    "reinsertion_lobe_cc_pct", "reinsertion_lobe_ml_pct", "reinsertion_lobe_ap_pct",
    "reinsertion_lung_cc_pct", "reinsertion_lung_ml_pct", "reinsertion_lung_ap_pct",
    "reinsertion_pleural_dist_mm", "reinsertion_airway_dist_mm", "reinsertion_nodule_diam_mm",
)
PROFILE_COLUMNS: Final = (
    *IDENTITY_COLUMNS, *GEOMETRY_COLUMNS, *ORGAN_COLUMNS, *LOCATION_COLUMNS, *PERCENT_COLUMNS,
    *DISTANCE_COLUMNS, *NEIGHBOUR_COLUMNS, *REINSERTION_COLUMNS,
)
#: Extra columns the profiler adds (not in the release; kept by the index).
EXTRA_COLUMNS: Final = (
    "nodule_voxels", "nodule_max_axis_mm", "percent_in_lobe", "nodule_mean_hu", "nodule_std_hu",
)
STRING_COLUMNS: Final = frozenset({
    "ct_path", "organ_label_name", "nearby_organs_10mm", "lung_side", "lobe_name", "lung_zone",
    "central_peripheral", "nearest_nodule_id", "all_nodule_ids", "all_nodule_dists_mm",
    "reinsertion_lobe", "reinsertion_lung_side", "reinsertion_lung_zone",
})
BOOL_COLUMNS: Final = frozenset({"ipsilateral", "nearest_same_lobe", "bilateral_distribution"})
INT_COLUMNS: Final = frozenset({"organ_label_id", "n_nodules_in_patient"})
FLOAT_COLUMNS: Final = frozenset(
    c for c in PROFILE_COLUMNS if c not in STRING_COLUMNS | BOOL_COLUMNS | INT_COLUMNS
)

assert len(PROFILE_COLUMNS) == 53, len(PROFILE_COLUMNS)
