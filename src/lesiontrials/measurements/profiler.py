"""Compute the release's 53 profile columns for the nodules of one scan.

``profile_nodules`` is a plain function on a label map, its spacing/affine and nodule
crops; reading files is the caller's job (:func:`profile_scan_files` does it for a
scan on disk).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.errors import InputError
from lesiontrials.geometry import NoduleMask, mask_in_host_grid
from lesiontrials.io.volumes import Volume, check_same_grid, read_volume
from lesiontrials.measurements.host import HostAnatomy
from lesiontrials.measurements.measure import (
    central_or_peripheral,
    labels_under,
    lobe_of,
    majority_label,
    nearby_organs,
    percent_position,
    pleural_distance,
    side_from_position,
    size_measures,
    structure_distances,
)
from lesiontrials.measurements.neighbours import neighbour_columns
from lesiontrials.measurements.schema import EXTRA_COLUMNS, PROFILE_COLUMNS


def profile_nodules(
    labels: Volume,
    nodules: Sequence[NoduleMask],
    *,
    nodule_ids: Sequence[str],
    ct_path: str = "",
    ct: Volume | None = None,
    source: str = "<label map>",
) -> pd.DataFrame:
    """One row per nodule with every profile column (+ :data:`EXTRA_COLUMNS`).

    ``labels`` is the nodule-free host label map; ``nodules`` are crops on its grid
    (see :func:`lesiontrials.geometry.mask_in_host_grid`).
    """
    if len(nodules) != len(nodule_ids):
        raise ValueError("one id per nodule is required")
    if len(set(nodule_ids)) != len(nodule_ids):
        raise InputError("duplicate nodule ids in one scan", path=source,
                         fix="give every nodule a unique annotation id")
    host = HostAnatomy(labels.array, labels.spacing_mm, path=source)
    rows = []
    for nodule_id, nodule in zip(nodule_ids, nodules, strict=True):
        if nodule.voxel_count == 0:
            raise InputError(f"nodule mask {nodule_id!r} is empty on the host grid", path=source,
                             fix="check the mask file and that it lies on the scan's grid")
        rows.append(_profile_one(host, labels, nodule, ct=ct, ct_path=ct_path))
    frame = pd.DataFrame(rows)
    frame.insert(0, "nodule_id", list(nodule_ids))
    for column, values in neighbour_columns(frame).items():
        frame[column] = values
    ordered = ["nodule_id", *PROFILE_COLUMNS, *EXTRA_COLUMNS]
    return frame.reindex(columns=ordered)


def _profile_one(host: HostAnatomy, labels: Volume, nodule: NoduleMask, *,
                 ct: Volume | None, ct_path: str) -> dict[str, object]:
    centroid = nodule.centroid_voxel()
    world = labels.voxel_to_world(centroid)
    under = labels_under(host, nodule)
    organ = majority_label(under)
    lobe_id, percent_in_lobe = lobe_of(host, nodule, under)
    lobe = anatomy.LOBE_BY_LABEL[lobe_id] if lobe_id is not None else None
    side = lobe.side.value if lobe is not None else side_from_position(host, centroid)
    lung_pct = percent_position(centroid, host.lung_extent)
    lobe_extent = host.extent((lobe_id,)) if lobe_id is not None else None
    lobe_pct = percent_position(centroid, lobe_extent) if lobe_extent else np.full(3, math.nan)
    row: dict[str, object] = {
        "ct_path": ct_path,
        "coordX": float(world[0]), "coordY": float(world[1]), "coordZ": float(world[2]),
        **size_measures(nodule, host.spacing_mm),
        "organ_label_id": organ,
        "organ_label_name": anatomy.LABEL_NAMES.get(organ, str(organ)),
        "nearby_organs_10mm": nearby_organs(host, nodule),
        "lung_side": side or "",
        "lobe_name": lobe.value if lobe is not None else "",
        "lung_zone": anatomy.zone_from_cc_pct(float(lung_pct[2])).value,
        "central_peripheral": central_or_peripheral(host, centroid, side),
        "cranio_caudal_pct": float(lung_pct[2]),
        "mediolateral_pct": float(lung_pct[0]),
        "anteroposterior_pct": float(lung_pct[1]),
        "lobe_cc_pct": float(lobe_pct[2]),
        "lobe_ml_pct": float(lobe_pct[0]),
        "lobe_ap_pct": float(lobe_pct[1]),
        **structure_distances(host, nodule, under),
        "pleural_distance_mm": pleural_distance(host, nodule),
        "percent_in_lobe": percent_in_lobe,
        **_ct_statistics(ct, nodule),
    }
    row.update(_reinsertion(row))
    return row


def _ct_statistics(ct: Volume | None, nodule: NoduleMask) -> dict[str, float]:
    if ct is None:
        return {"nodule_mean_hu": math.nan, "nodule_std_hu": math.nan}
    values = ct.array[nodule.box][nodule.mask].astype(float)
    return {"nodule_mean_hu": float(values.mean()), "nodule_std_hu": float(values.std())}


def _reinsertion(row: dict[str, object]) -> dict[str, object]:
    """The 12 reinsertion columns: the placement-relevant values, airway falling back to
    the trachea distance when the map has no airway tree."""
    airway = row["airway_distance_mm"]
    if isinstance(airway, float) and math.isnan(airway):
        airway = row["dist_to_trachea_mm"]
    return {
        "reinsertion_lobe": row["lobe_name"],
        "reinsertion_lung_side": row["lung_side"],
        "reinsertion_lung_zone": row["lung_zone"],
        "reinsertion_lobe_cc_pct": row["lobe_cc_pct"],
        "reinsertion_lobe_ml_pct": row["lobe_ml_pct"],
        "reinsertion_lobe_ap_pct": row["lobe_ap_pct"],
        "reinsertion_lung_cc_pct": row["cranio_caudal_pct"],
        "reinsertion_lung_ml_pct": row["mediolateral_pct"],
        "reinsertion_lung_ap_pct": row["anteroposterior_pct"],
        "reinsertion_pleural_dist_mm": row["pleural_distance_mm"],
        "reinsertion_airway_dist_mm": airway,
        "reinsertion_nodule_diam_mm": row["nodule_mean_diam_mm"],
    }


def profile_scan_files(
    *,
    label_path: Path,
    mask_paths: Sequence[Path],
    nodule_ids: Sequence[str],
    ct_path: str = "",
    ct_file: Path | None = None,
) -> pd.DataFrame:
    """Read a host label map, optional CT and nodule masks (full or crop grid); profile."""
    labels = read_volume(label_path)
    ct = None
    if ct_file is not None:
        ct = read_volume(ct_file)
        check_same_grid(ct, labels, path_a=ct_file, path_b=label_path)
    nodules = []
    for path in mask_paths:
        mask = read_volume(path)
        nodule = mask_in_host_grid(mask.array, mask.affine, labels.affine, labels.shape)
        if nodule.voxel_count == 0:
            raise InputError("nodule mask is empty or lies outside the scan", path=path,
                             fix="check that the mask belongs to this scan and is not blank")
        nodules.append(nodule)
    return profile_nodules(labels, nodules, nodule_ids=nodule_ids, ct_path=ct_path, ct=ct,
                           source=str(label_path))
