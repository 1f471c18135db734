"""A tiny data root with pixels, built in code: dataset ``PH`` (two box-thorax scans with
label maps, two sphere nodules each; scan ``PH_00000`` also has a raw CT) and the
donor-only dataset ``DON`` (three masks, no scan), indexed into a workspace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lesiontrials import anatomy
from lesiontrials.io import Volume, VolumeKind, write_csv, write_volume
from lesiontrials.paths import DataRoot, Workspace
from lesiontrials.testing import box_thorax, sphere_mask, synthetic_profiles

# nodule centres (voxels of the box thorax, inside the lungs) and radii (mm)
NODULES = {"PH_00000": [((70, 40, 60), 5.0), ((25, 40, 30), 3.0)],
           "PH_00001": [((70, 45, 20), 4.0), ((30, 35, 60), 6.0)]}
CT_SCAN = "PH_00000"


@dataclass(frozen=True)
class ImagingWorld:
    root: DataRoot
    workspace: Workspace
    ph_uids: list[str]
    donor_uids: list[str]


def _mask(shape: tuple[int, int, int], centre: tuple[int, int, int], radius_mm: float,
          spacing: tuple[float, float, float]) -> np.ndarray:
    return sphere_mask(shape, centre, radius_mm, spacing).to_full(shape)


def _write_scans(root: DataRoot, annotation_ids: list[str]) -> None:
    thorax = box_thorax()
    volume = thorax.volume
    k = 0
    for ct_id, nodules in NODULES.items():
        write_volume(root.refined_seg("PH", ct_id), volume, kind=VolumeKind.LABELS)
        labels = volume.array.copy()
        for centre, radius in nodules:
            mask = _mask(volume.shape, centre, radius, thorax.spacing_mm)
            write_volume(root.nodule_seg("PH", annotation_ids[k]),
                         Volume(mask.astype(np.uint8), volume.affine), kind=VolumeKind.MASK)
            labels[mask] = anatomy.NODULE
            k += 1
        if ct_id == CT_SCAN:
            hu = np.where(labels == 0, -1000,
                          np.where(np.isin(labels, anatomy.LOBE_LABELS), -850, 40))
            write_volume(root.raw_ct("PH", ct_id), Volume(hu.astype(np.int16), volume.affine),
                         kind=VolumeKind.CT)


def build_imaging_world(base: Path) -> ImagingWorld:
    """Write the data root under ``base/world`` and its index under ``base/ws``."""
    from lesiontrials.index import build_index, write_index

    root = DataRoot(base / "world")
    ph = synthetic_profiles("PH", 4, seed=3)
    ph["ct_path"] = [f"PH/{ct}.nii.gz" for ct in NODULES for _ in NODULES[ct]]
    ph["PatientID"] = [f"PH-P{ct[-1]}" for ct in NODULES for _ in NODULES[ct]]
    donors = synthetic_profiles("DON", 3, seed=4)
    for name, frame in (("PH", ph), ("DON", donors)):
        write_csv(frame, root.profiles_csv(name))
    _write_scans(root, list(ph["AnnotationID"]))
    thorax = box_thorax()
    for annotation in donors["AnnotationID"]:  # donor-only: a mask, no scan
        mask = _mask(thorax.volume.shape, (70, 40, 60), 4.0, thorax.spacing_mm)
        write_volume(root.nodule_seg("DON", annotation),
                     Volume(mask.astype(np.uint8), thorax.volume.affine), kind=VolumeKind.MASK)
    workspace = Workspace(base / "ws")
    built = build_index(root)
    write_index(built, workspace)
    table = built.table
    return ImagingWorld(root, workspace,
                        [str(u) for u in table.loc[table["dataset"] == "PH", "nodule_uid"]],
                        [str(u) for u in table.loc[table["dataset"] == "DON", "nodule_uid"]])
