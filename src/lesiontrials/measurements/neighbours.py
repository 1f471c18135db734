"""Neighbour statistics across the nodules of one scan (centroid distances, world mm)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def neighbour_columns(frame: pd.DataFrame) -> dict[str, list[object]]:
    """Nearest-neighbour and multiplicity columns for nodules profiled together.

    ``frame`` needs ``nodule_id``, ``coordX/Y/Z``, ``lung_side`` and ``lobe_name``.
    ``all_nodule_ids``/``all_nodule_dists_mm`` list the *other* nodules, nearest first.
    """
    ids = frame["nodule_id"].astype(str).tolist()
    xyz = frame[["coordX", "coordY", "coordZ"]].to_numpy(dtype=float)
    sides = frame["lung_side"].astype(str).tolist()
    lobes = frame["lobe_name"].astype(str).tolist()
    n = len(ids)
    bilateral = len({s for s in sides if s}) > 1
    columns: dict[str, list[object]] = {key: [] for key in (
        "n_nodules_in_patient", "nearest_nodule_id", "nearest_nodule_dist_mm", "nearest_dx_mm",
        "nearest_dy_mm", "nearest_dz_mm", "all_nodule_ids", "all_nodule_dists_mm",
        "ipsilateral", "nearest_same_lobe", "bilateral_distribution")}
    distances = np.sqrt(((xyz[:, None, :] - xyz[None, :, :]) ** 2).sum(axis=-1))
    for i in range(n):
        others = [j for j in np.argsort(distances[i], kind="stable") if j != i]
        columns["n_nodules_in_patient"].append(n)
        columns["bilateral_distribution"].append(bilateral)
        if not others:
            for key in ("nearest_nodule_id", "all_nodule_ids", "all_nodule_dists_mm"):
                columns[key].append("")
            for key in ("nearest_nodule_dist_mm", "nearest_dx_mm", "nearest_dy_mm",
                        "nearest_dz_mm"):
                columns[key].append(math.nan)
            columns["ipsilateral"].append(False)
            columns["nearest_same_lobe"].append(False)
            continue
        j = others[0]
        delta = xyz[j] - xyz[i]
        columns["nearest_nodule_id"].append(ids[j])
        columns["nearest_nodule_dist_mm"].append(float(distances[i, j]))
        columns["nearest_dx_mm"].append(float(delta[0]))
        columns["nearest_dy_mm"].append(float(delta[1]))
        columns["nearest_dz_mm"].append(float(delta[2]))
        columns["all_nodule_ids"].append(",".join(ids[k] for k in others))
        columns["all_nodule_dists_mm"].append(",".join(f"{distances[i, k]:.2f}" for k in others))
        columns["ipsilateral"].append(bool(sides[i]) and sides[i] == sides[j])
        columns["nearest_same_lobe"].append(bool(lobes[i]) and lobes[i] == lobes[j])
    return columns
