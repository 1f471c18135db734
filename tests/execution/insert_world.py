"""A tiny insertion trial built in code (box-thorax host, sphere donors), for executors.

Shared by the execution tests and ``benchmarks/bench_execution.py``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.io import Volume, VolumeKind, write_parquet, write_volume
from lesiontrials.paths import Workspace
from lesiontrials.testing import RUN_LOGS, box_thorax, output_snapshot, sphere_mask
from lesiontrials.trials.manifest import MANIFEST_COLUMNS

TRIAL = "t1"
DONOR_SPACING = (0.7, 0.7, 1.25)
HOST = "masks/PH/refined_seg/H1_seg.nii.gz"
RADII_MM = {"S3": 3.0, "S4": 4.0, "S6": 6.0, "S40": 40.0}  # S40 cannot fit: a failed case
LOBES = ("RUL", "RML", "RLL", "LUL", "LLL")


def donor_path(uid: str) -> str:
    return f"masks/DON/nodule_seg/{uid}.nii.gz"


def write_world(root: Path) -> dict[str, float]:
    """A host label map and sphere donors under ``root``; returns donor diameters (mm)."""
    write_volume(root / HOST, box_thorax().volume, kind=VolumeKind.LABELS)
    diameters = {}
    for uid, radius in RADII_MM.items():
        n = tuple(int(2 * math.ceil(radius / s) + 3) for s in DONOR_SPACING)
        mask = sphere_mask(n, tuple((k - 1) / 2 for k in n), radius, DONOR_SPACING).mask
        affine = np.diag([*DONOR_SPACING, 1.0])
        write_volume(root / donor_path(uid), Volume(mask.astype(np.uint8), affine),
                     kind=VolumeKind.MASK)
        diameters[uid] = (6.0 * mask.sum() * float(np.prod(DONOR_SPACING)) / math.pi) ** (1 / 3)
    return diameters


def _row(index: int, donor: str, lobe: str, diameters: dict[str, float],
         **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {c.name: (math.nan if c.dtype == "float64" else
                                     0 if c.dtype == "int64" else
                                     False if c.dtype == "bool" else
                                     None if c.dtype == "Int8" else "")
                            for c in MANIFEST_COLUMNS}
    base.update({
        "trial": TRIAL, "design": "test", "case_uid": f"{TRIAL}-{index:05d}",
        "case_index": index, "nodule_index": 0, "primary": True, "nodule_free": False,
        "seed": 7, "host_dataset": "PH", "host_ct_id": "H1", "host_patient_id": "P1",
        "host_seg_path": HOST, "donor_uid": donor, "donor_dataset": "DON",
        "donor_patient_id": "D1", "donor_mask_path": donor_path(donor), "label": 1,
        "placement": "prescribed", "target_lobe": lobe, "target_lobe_cc_pct": 50.0,
        "target_lobe_ml_pct": 50.0, "target_lobe_ap_pct": 50.0, "min_pleural_mm": 0.0,
        "scale": 1.0, "replicate": -1, "round": -1, "donor_texture": 5.0,
        "donor_diameter_mm": diameters[donor], "planned_diameter_mm": diameters[donor],
    })
    base.update(values)
    return base


def write_trial(workspace: Workspace, diameters: dict[str, float], *, cases: int = 6) -> None:
    """A manifest of ``cases`` cases: prescribed and random placements, and one failure."""
    rows = []
    for i in range(cases):
        donor = ("S6", "S4", "S3")[i % 3]
        if i == 3:
            rows.append(_row(i, "S40", "RUL", diameters))  # too large: fails with a reason
        elif i % 2:
            rows.append(_row(i, donor, "", diameters, placement="random"))
        else:
            rows.append(_row(i, donor, LOBES[i % 5], diameters))
    frame = pd.DataFrame(rows)
    for column in MANIFEST_COLUMNS:
        frame[column.name] = frame[column.name].astype(column.dtype)
    write_parquet(frame, workspace.trial_dir(TRIAL) / "manifest.parquet")


def snapshot(workspace: Workspace) -> dict[str, bytes]:
    """Every file under ``cases/`` byte for byte, but the wall-clock ``*_timing.json``."""
    return output_snapshot(workspace.cases_dir(TRIAL), root=workspace.root)



def workspace_snapshot(workspace: Workspace) -> dict[str, bytes]:
    """Every output of insert → render → slices (all but the ``trials/`` inputs), byte for
    byte, but the run logs (``*_timing.json``, ``*_summary.json``)."""
    everything = output_snapshot(workspace.root, root=workspace.root, skip_suffixes=RUN_LOGS)
    return {k: v for k, v in everything.items() if not k.startswith("trials")}
