"""A small data root in the public release layout, with the release's quirks, for tests
and benchmarks (every value computed here, so each answer is known).

Hosts are :func:`lesiontrials.testing.box_thorax` label maps (a few mm voxels) with
sphere nodules; their profile rows come from our own profiler, then take each dataset's
quirks:

- ``IMDCT``: one mask file per scan (``{ct_id}_seg.nii.gz``) holding all its nodules, no
  ``AnnotationID`` column, rows in shuffled order.
- ``DLCS24``: ``lobe_ml_pct``/``reinsertion_lobe_ml_pct`` out of [0, 100] for every row
  and ``lobe_ap_pct``/``reinsertion_lobe_ap_pct`` for every other row (the upstream bug).
- ``LNDbv4``: two reader rows per nodule, each reader's own mask on a cropped grid stored
  in LPS orientation (negative x/y axes in the affine).
- ``LUNA25``: two studies (scans) of one patient, plus another patient.
- ``LIDC``: donor-only nodules without a host scan or location (no lobe, zone, position).

Every host scan has several native nodules and a raw CT (``raw_ct/{DS}/{ct_id}.nii.gz``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.geometry import NoduleMask
from lesiontrials.io import Volume, VolumeKind, write_csv, write_volume
from lesiontrials.measurements import profile_nodules
from lesiontrials.paths import DataRoot
from lesiontrials.testing import box_thorax, sphere_mask

SPACING_MM = (3.0, 3.0, 3.5)
SHAPE = (64, 56, 56)
#: voxel (x, y, z) fractions of the grid → lobes of box_thorax (right lung at high x)
_SITES = {
    "RUL": (0.72, 0.45, 0.75), "RLL": (0.72, 0.55, 0.24), "LLL": (0.27, 0.40, 0.28),
    "LUL": (0.28, 0.60, 0.72), "RML": (0.74, 0.35, 0.50),
}


@dataclass(frozen=True)
class Scan:
    dataset: str
    ct_id: str
    patient: str
    nodules: tuple[tuple[str, float], ...]  # (site, radius mm)
    origin_mm: tuple[float, float, float] = (-96.0, -84.0, -100.0)


@dataclass
class ReleaseRoot:
    root: DataRoot
    scans: list[Scan]
    #: nodule masks on their scan's grid by (dataset, ct_id)
    natives: dict[tuple[str, str], list[NoduleMask]] = field(default_factory=dict)


SCANS: tuple[Scan, ...] = (
    Scan("IMDCT", "I001", "IP1", (("RUL", 5.0), ("LLL", 4.0), ("RLL", 6.0))),
    Scan("IMDCT", "I002", "IP2", (("LUL", 5.5), ("RLL", 4.5)), (-90.0, -80.0, -96.0)),
    Scan("DLCS24", "DLCS_0001", "DP1", (("RUL", 5.0), ("LLL", 5.0))),
    Scan("DLCS24", "DLCS_0002", "DP2", (("RLL", 4.5), ("LUL", 6.0)), (-93.0, -81.0, -98.0)),
    Scan("LNDbv4", "LNDb-0001", "LP1", (("RUL", 5.0), ("LLL", 4.5))),
    Scan("LUNA25", "U001", "UP1", (("RUL", 4.5), ("RLL", 5.0))),
    Scan("LUNA25", "U002", "UP1", (("LUL", 5.0), ("RUL", 4.0)), (-94.0, -83.0, -97.0)),
    Scan("LUNA25", "U003", "UP2", (("LLL", 5.5), ("RML", 3.5))),
)
LIDC_RADII_MM = (3.0, 4.0, 5.0, 6.0)


def write_release_root(base: Path) -> ReleaseRoot:
    """Write the release-layout data root under ``base`` and return what was written."""
    root = DataRoot(Path(base))
    out = ReleaseRoot(root, list(SCANS))
    frames: dict[str, list[pd.DataFrame]] = {}
    for scan in SCANS:
        frame, natives = _write_scan(root, scan)
        out.natives[(scan.dataset, scan.ct_id)] = natives
        frames.setdefault(scan.dataset, []).append(frame)
    for dataset, parts in frames.items():
        table = _quirks(dataset, pd.concat(parts, ignore_index=True))
        write_csv(table, root.profiles_csv(dataset))
    write_csv(_lidc_donors(root), root.profiles_csv("LIDC"))
    return out


def _write_scan(root: DataRoot, scan: Scan) -> tuple[pd.DataFrame, list[NoduleMask]]:
    thorax = box_thorax(SHAPE, SPACING_MM, origin_mm=scan.origin_mm)
    labels = thorax.volume
    natives = [sphere_mask(SHAPE, _centre(site), radius, SPACING_MM)
               for site, radius in scan.nodules]
    write_volume(root.refined_seg(scan.dataset, scan.ct_id), labels, kind=VolumeKind.LABELS)
    write_volume(root.root / "raw_ct" / scan.dataset / f"{scan.ct_id}.nii.gz",
                 Volume(_ct(labels.array, natives), labels.affine), kind=VolumeKind.CT)
    ids = [f"{scan.ct_id}_{k}" for k in range(len(natives))]
    frame = profile_nodules(labels, natives, nodule_ids=ids,
                            ct_path=f"{scan.dataset}/{scan.ct_id}.nii.gz")
    frame["PatientID"] = scan.patient
    frame["AnnotationID"] = ids
    if scan.dataset == "IMDCT":
        union = np.zeros(SHAPE, np.uint8)
        for nodule in natives:
            union[nodule.box][nodule.mask] = 1
        write_volume(root.nodule_seg("IMDCT", f"{scan.ct_id}_seg"), Volume(union, labels.affine),
                     kind=VolumeKind.MASK)
    elif scan.dataset == "LNDbv4":
        _write_reader_masks(root, natives, ids, labels.affine)
    else:
        for nodule, annotation in zip(natives, ids, strict=True):
            _write_crop(root.nodule_seg(scan.dataset, annotation), nodule, labels.affine)
    return frame, natives


def _centre(site: str) -> tuple[float, float, float]:
    fx, fy, fz = _SITES[site]
    return (fx * SHAPE[0], fy * SHAPE[1], fz * SHAPE[2])


def _ct(labels: np.ndarray, natives: list[NoduleMask]) -> np.ndarray:
    hu = np.full(labels.shape, -1000.0)
    hu[labels == anatomy.BODY] = 40.0
    hu[np.isin(labels, anatomy.LOBE_LABELS)] = -850.0
    for nodule in natives:
        hu[nodule.box][nodule.mask] = 30.0
    return np.rint(hu).astype(np.int16)


def _write_crop(path: Path, nodule: NoduleMask, affine: np.ndarray, *, lps: bool = False
                ) -> None:
    """A crop mask (1-voxel margin) whose affine places it on the scan; ``lps`` stores the
    array with x and y reversed and a negative-axis affine (same world positions)."""
    pad = np.pad(nodule.mask, 1).astype(np.uint8)
    shift = np.eye(4)
    shift[:3, 3] = np.asarray(nodule.offset) - 1
    crop = affine @ shift
    if lps:
        flip = np.diag([-1.0, -1.0, 1.0, 1.0])
        flip[:2, 3] = [pad.shape[0] - 1, pad.shape[1] - 1]
        crop, pad = crop @ flip, pad[::-1, ::-1, :].copy()
    write_volume(path, Volume(pad, crop), kind=VolumeKind.MASK)


def _write_reader_masks(root: DataRoot, natives: list[NoduleMask], ids: list[str],
                        affine: np.ndarray) -> None:
    for nodule, annotation in zip(natives, ids, strict=True):
        _write_crop(root.nodule_seg("LNDbv4", f"{annotation}_r1"), nodule, affine, lps=True)
        eroded = NoduleMask(_erode(nodule.mask), nodule.offset)  # reader 2 draws tighter
        _write_crop(root.nodule_seg("LNDbv4", f"{annotation}_r2"), eroded, affine, lps=True)


def _erode(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    eroded = ndimage.binary_erosion(mask)
    return eroded if eroded.any() else mask


def _quirks(dataset: str, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=["nodule_id"])
    if dataset == "IMDCT":
        frame = frame.drop(columns=["AnnotationID"]).sample(frac=1.0, random_state=3)
        frame["CADx_label"] = np.where(np.arange(len(frame)) % 2, "cancer", "benign")
    elif dataset == "DLCS24":
        frame = frame.rename(columns={"PatientID": "patient-id"})
        frame["label"] = np.arange(len(frame)) % 2
        for column in ("lobe_ml_pct", "reinsertion_lobe_ml_pct"):
            frame[column] = 150.0 + 30.0 * np.arange(len(frame))
        for column in ("lobe_ap_pct", "reinsertion_lobe_ap_pct"):
            frame.loc[frame.index[::2], column] = -20.0
    elif dataset == "LNDbv4":
        readers = []
        for reader in (1, 2):
            rows = frame.copy()
            rows["AnnotationID"] = rows["AnnotationID"] + f"_r{reader}"
            rows["Malignancy"] = 2 + reader
            readers.append(rows)
        frame = pd.concat(readers, ignore_index=True)
    elif dataset == "LUNA25":
        frame["label"] = np.arange(len(frame)) % 2
    return frame.reset_index(drop=True)


def _lidc_donors(root: DataRoot) -> pd.DataFrame:
    """Donor-only rows: a mask on its own small grid, no host scan, no location."""
    from lesiontrials.measurements.schema import PROFILE_COLUMNS

    rows = []
    for k, radius in enumerate(LIDC_RADII_MM):
        spacing = (0.7, 0.7, 1.25)
        nx, ny, nz = (int(2 * np.ceil(radius / s) + 3) for s in spacing)
        mask = sphere_mask((nx, ny, nz), ((nx - 1) / 2, (ny - 1) / 2, (nz - 1) / 2), radius,
                           spacing).mask
        affine = np.diag([*spacing, 1.0])
        write_volume(root.nodule_seg("LIDC", f"L{k}"), Volume(mask.astype(np.uint8), affine),
                     kind=VolumeKind.MASK)
        diameter = float((6.0 * mask.sum() * np.prod(spacing) / np.pi) ** (1 / 3))
        row: dict[str, object] = dict.fromkeys(PROFILE_COLUMNS, "")
        row.update({"ct_path": f"LIDC/LIDC-{k:04d}.nii.gz", "coordX": 0.0, "coordY": 0.0,
                    "coordZ": 0.0, "nodule_mean_diam_mm": diameter,
                    "reinsertion_nodule_diam_mm": diameter, "n_nodules_in_patient": 1,
                    "ipsilateral": False, "nearest_same_lobe": False,
                    "bilateral_distribution": False,
                    "PatientID": f"LIDC-P{k}", "AnnotationID": f"L{k}", "label": k % 2})
        rows.append(row)
    return pd.DataFrame(rows)
