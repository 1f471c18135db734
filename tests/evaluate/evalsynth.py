"""Helpers for the evaluation tests: a tiny synthetic trial in the insertion/rendering
layout, built in code.

Thorax: body (40 HU) with two box lungs (−850 HU) split into upper and lower lobes at
z = 12; nodules are bright spheres (30 HU). Three cases: one nodule (RUL), two nodules
(RLL + LUL), nodule-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.geometry import NoduleMask
from lesiontrials.io import Volume, VolumeKind, write_parquet, write_record, write_volume
from lesiontrials.paths import Workspace
from lesiontrials.records import InsertedNodule
from lesiontrials.testing import sphere_mask
from lesiontrials.testing_records import (
    insert_record,
    inserted_nodule,
    render_record,
)

SHAPE = (64, 56, 24)
SPACING = (2.0, 2.0, 4.0)
AFFINE = np.array([[2.0, 0, 0, -64.0], [0, 2.0, 0, -56.0], [0, 0, 4.0, -48.0], [0, 0, 0, 1]])
TRIAL = "t1"
#: case -> [(centre voxel, radius mm, lobe)]
NODULES: dict[str, list[tuple[tuple[float, float, float], float, str]]] = {
    "t1-00000": [((46.0, 28.0, 17.0), 7.0, "right_lung_upper_lobe")],
    "t1-00001": [((48.0, 20.0, 6.0), 3.5, "right_lung_lower_lobe"),
                 ((17.0, 30.0, 16.0), 12.0, "left_lung_upper_lobe")],
    "t1-00002": [],
}


def thorax_labels() -> np.ndarray:
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[2:62, 4:52, :] = anatomy.BODY
    lobes = {(36, 58): (30, 32), (6, 28): (28, 29)}  # x range -> (upper, lower) label ids
    for (x0, x1), (upper, lower) in lobes.items():
        labels[x0:x1, 10:46, 12:22] = upper
        labels[x0:x1, 10:46, 2:12] = lower
    return labels


def ct_from(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    hu = np.full(SHAPE, -1000.0)
    hu[labels == anatomy.BODY] = 40.0
    hu[np.isin(labels, anatomy.LOBE_LABELS)] = -850.0
    hu[labels == anatomy.NODULE] = 30.0
    hu += np.random.default_rng(seed).normal(0.0, 8.0, SHAPE)
    return np.rint(hu).astype(np.int16)


def crop_affine(nodule: NoduleMask) -> np.ndarray:
    shift = np.eye(4)
    shift[:3, 3] = nodule.offset
    return AFFINE @ shift


def nodule_entry(k: int, nodule: NoduleMask, lobe: str, *, donor_uid: str,
                 label: int) -> InsertedNodule:
    """An ``insert.json`` nodule entry whose realised truth is measured on ``nodule``."""
    return inserted_nodule(k, nodule, AFFINE, lobe=lobe, donor_uid=donor_uid, label=label)


@dataclass
class SyntheticTrial:
    workspace: Workspace
    masks: dict[str, list[NoduleMask]] = field(default_factory=dict)


def write_trial(root: Path) -> SyntheticTrial:
    """Write cases/{t1}/... and trials/t1/manifest.parquet under ``root``."""
    ws = Workspace(root)
    out = SyntheticTrial(ws)
    for index, (case, specs) in enumerate(NODULES.items()):
        case_dir = ws.case_dir(TRIAL, case)
        labels = thorax_labels()
        masks = [sphere_mask(SHAPE, centre, radius, SPACING) for centre, radius, _ in specs]
        for mask in masks:
            labels[mask.box][mask.mask] = anatomy.NODULE
        nodules = []
        for k, (mask, (_, _, lobe)) in enumerate(zip(masks, specs, strict=True)):
            write_volume(case_dir / f"nodule_{k}.nii.gz",
                         Volume(mask.mask.astype(np.uint8), crop_affine(mask)),
                         kind=VolumeKind.MASK)
            nodules.append(nodule_entry(k, mask, lobe, donor_uid=f"D/{case}-{k}", label=k % 2))
        write_volume(case_dir / "labels.nii.gz", Volume(labels, AFFINE), kind=VolumeKind.LABELS)
        write_volume(case_dir / "ct.nii.gz", Volume(ct_from(labels, index), AFFINE),
                     kind=VolumeKind.CT)
        write_record(insert_record(trial=TRIAL, case_uid=case, seed=index, nodules=nodules,
                                   ct_id=f"PH_{index}"), case_dir / "insert.json")
        write_record(render_record(trial=TRIAL, case_uid=case, backend="test",
                                   descriptions={k: f"solid nodule {k}"
                                                 for k in range(len(specs))}),
                     case_dir / "render.json")
        out.masks[case] = masks
    manifest = pd.DataFrame({"case_uid": list(NODULES), "design": "handmade"})
    write_parquet(manifest, ws.trial_dir(TRIAL) / "manifest.parquet")
    return out
