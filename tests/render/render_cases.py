"""Test helpers: a small thorax grid and inserted cases written to the insertion contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.geometry import NoduleMask
from lesiontrials.io import Volume, VolumeKind, write_csv, write_record, write_volume
from lesiontrials.testing import sphere_mask
from lesiontrials.testing_records import insert_record, inserted_nodule

SHAPE = (96, 80, 40)
SPACING = (2.0, 2.0, 2.5)


def rul_centre() -> tuple[float, float, float]:
    """A voxel well inside the right upper lobe of :func:`box_thorax`."""
    return (SHAPE[0] * 0.72, SHAPE[1] * 0.5, SHAPE[2] * 0.75)


def sphere(radius_mm: float = 6.0, centre: tuple[float, float, float] | None = None
           ) -> NoduleMask:
    return sphere_mask(SHAPE, centre or rul_centre(), radius_mm, SPACING)


def write_case(workspace: Path, data_root: Path, *, labels: Volume, nodules: list[NoduleMask],
               characteristics: list[dict[str, Any]] | None = None,
               appearance: list[str] | None = None, trial: str = "T1",
               case_uid: str = "T1-0000", dataset: str = "SCREEN", ct_id: str = "SCREEN_0000",
               ct_path: str = "") -> Path:
    """Write labels, crop masks and insert.json the way the insertion stage does."""
    case_dir = workspace / "cases" / trial / case_uid
    stamped = labels.array.copy()
    records = []
    for k, nodule in enumerate(nodules):
        stamped[nodule.to_full(labels.shape)] = anatomy.NODULE
        crop_affine = labels.affine.copy()
        crop_affine[:3, 3] = labels.voxel_to_world(np.asarray(nodule.offset, float))
        write_volume(case_dir / f"nodule_{k}.nii.gz",
                     Volume(nodule.mask.astype(np.uint8), crop_affine), kind=VolumeKind.MASK)
        records.append(inserted_nodule(
            k, nodule, labels.affine, lobe=None, donor_uid=f"LIDC-{k}", label=1,
            characteristics=(characteristics or [{}] * len(nodules))[k],
            appearance=(appearance or [""] * len(nodules))[k], diameter_mm=12.0))
    write_volume(case_dir / "labels.nii.gz", Volume(stamped, labels.affine),
                 kind=VolumeKind.LABELS)
    write_record(insert_record(trial=trial, case_uid=case_uid, seed=7, nodules=records,
                               dataset=dataset, ct_id=ct_id, ct_path=ct_path),
                 case_dir / "insert.json")
    write_csv(pd.DataFrame([{"ct_id": ct_id, "slice_thickness_mm": 2.5, "kvp": 120.0,
                             "mas": 60.0, "kernel": "soft (B30f-like)", "scanner": "test"}]),
              data_root / "meta" / f"{dataset}_acquisition.csv")
    return case_dir


CHEST_SPACING = (0.8, 0.8, 5.0)


def chest_slab(shape: tuple[int, int, int] = (320, 256, 10)) -> np.ndarray:
    """A thick-slice chest slab like a real-host label map (0.8 × 0.8 × 5 mm): an elliptic
    body (200) without organ labels, two lungs (28, 30) that shrink from slice to slice
    (oblique pleura) and a vertebra-sized bone (21) behind them. RAS+: y grows forward."""
    x = (np.arange(shape[0]) - shape[0] / 2 + 0.5) * CHEST_SPACING[0]
    y = (np.arange(shape[1]) - shape[1] / 2 + 0.5) * CHEST_SPACING[1]
    xx, yy = np.meshgrid(x, y, indexing="ij")
    labels = np.zeros(shape, dtype=np.uint8)
    for k in range(shape[2]):
        plane = labels[:, :, k]
        plane[(xx / 120.0) ** 2 + (yy / 95.0) ** 2 < 1.0] = anatomy.BODY
        shrink = 1.0 - 0.03 * k
        for cx, lobe in ((-62.0, 30), (62.0, 28)):
            plane[((xx - cx) / (45.0 * shrink)) ** 2 + ((yy - 5.0) / (62.0 * shrink)) ** 2
                  < 1.0] = lobe
        plane[xx**2 + (yy + 60.0) ** 2 < 15.0**2] = anatomy.LABEL_IDS["bone"]
    return labels
