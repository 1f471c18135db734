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

A :class:`ReleaseGrid` sets the hosts' size: the default is the small test grid; a grid
like :data:`REFERENCE_GRID` (512×512×250–330 at 0.7 mm, arrays stored in LPS order, donor
masks on the scan's full grid, CT with noise) gives a root of the public release's
dimensions for benchmarks (``benchmarks/make_release_root.py``).
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


@dataclass(frozen=True)
class ReleaseGrid:
    """Host grid of a written root: in-plane shape, slice counts (cycled over the scans),
    spacing (mm), whether arrays are stored in LPS order (negative x/y affine axes, as
    the release's NIfTIs), whether donor masks cover the scan's whole grid (else a crop
    with a 1-voxel margin), and the CT noise (HU, SD; 0: piecewise-constant CT)."""

    shape_xy: tuple[int, int] = SHAPE[:2]
    slices: tuple[int, ...] = (SHAPE[2],)
    spacing_mm: tuple[float, float, float] = SPACING_MM
    lps: bool = False
    full_grid_masks: bool = False
    ct_noise_hu: float = 0.0
    #: screening-cohort demographics on every host (age 55–74, 40 pack-years, former
    #: smokers) and donor-only LIDC nodules under 5 mm, so the NLST-template design plans
    screening_cohort: bool = False

    def shape(self, index: int) -> tuple[int, int, int]:
        """The grid of the ``index``-th scan."""
        return (*self.shape_xy, self.slices[index % len(self.slices)])


#: the release's dimensions (benchmarks): 512² × 250–330 slices, 0.7 × 0.7 × 1 mm
REFERENCE_GRID = ReleaseGrid(shape_xy=(512, 512), slices=(250, 330, 280, 300, 319, 265),
                             spacing_mm=(0.7, 0.7, 1.0), lps=True, full_grid_masks=True,
                             ct_noise_hu=20.0, screening_cohort=True)
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
#: donors under 5 mm (a screening cohort's most frequent size), with ``screening_cohort``
SMALL_LIDC_RADII_MM = (1.6, 2.0, 2.2)


def write_release_root(base: Path, *, grid: ReleaseGrid | None = None) -> ReleaseRoot:
    """Write the release-layout data root under ``base`` (hosts on ``grid``, default the
    small test grid) and return what was written."""
    root = DataRoot(Path(base))
    grid = grid or ReleaseGrid()
    out = ReleaseRoot(root, list(SCANS))
    frames: dict[str, list[pd.DataFrame]] = {}
    for index, scan in enumerate(SCANS):
        frame, natives = _write_scan(root, scan, grid, index)
        out.natives[(scan.dataset, scan.ct_id)] = natives
        frames.setdefault(scan.dataset, []).append(frame)
    for dataset, parts in frames.items():
        table = _quirks(dataset, pd.concat(parts, ignore_index=True))
        write_csv(table, root.profiles_csv(dataset))
    small = SMALL_LIDC_RADII_MM if grid.screening_cohort else ()
    write_csv(_lidc_donors(root, (*LIDC_RADII_MM, *small)), root.profiles_csv("LIDC"))
    return out


def _write_scan(root: DataRoot, scan: Scan, grid: ReleaseGrid, index: int
                ) -> tuple[pd.DataFrame, list[NoduleMask]]:
    shape, spacing = grid.shape(index), grid.spacing_mm
    thorax = box_thorax(shape, spacing, origin_mm=_origin(scan, shape, spacing))
    labels = thorax.volume
    natives = [sphere_mask(shape, _centre(site, shape), radius, spacing)
               for site, radius in scan.nodules]
    ct = _ct(labels.array, natives, noise_hu=grid.ct_noise_hu, seed=index)
    write = _write_lps if grid.lps else write_volume
    write(root.refined_seg(scan.dataset, scan.ct_id), labels, kind=VolumeKind.LABELS)
    write(root.root / "raw_ct" / scan.dataset / f"{scan.ct_id}.nii.gz",
          Volume(ct, labels.affine), kind=VolumeKind.CT)
    del ct
    ids = [f"{scan.ct_id}_{k}" for k in range(len(natives))]
    frame = profile_nodules(labels, natives, nodule_ids=ids,
                            ct_path=f"{scan.dataset}/{scan.ct_id}.nii.gz")
    frame["PatientID"] = scan.patient
    if grid.screening_cohort:
        frame["age"] = 55 + (3 * index) % 20
        frame["sex"] = "M" if index % 2 else "F"
        frame["smoking_status"] = "former"
        frame["pack_years"] = 40.0
    frame["AnnotationID"] = ids
    if scan.dataset == "IMDCT":
        union = np.zeros(shape, np.uint8)
        for nodule in natives:
            union[nodule.box][nodule.mask] = 1
        write(root.nodule_seg("IMDCT", f"{scan.ct_id}_seg"), Volume(union, labels.affine),
              kind=VolumeKind.MASK)
    elif scan.dataset == "LNDbv4":
        _write_reader_masks(root, natives, ids, labels.affine)
    elif grid.full_grid_masks:
        for nodule, annotation in zip(natives, ids, strict=True):
            full = np.zeros(shape, np.uint8)
            full[nodule.box][nodule.mask] = 1
            write(root.nodule_seg(scan.dataset, annotation), Volume(full, labels.affine),
                  kind=VolumeKind.MASK)
    else:
        for nodule, annotation in zip(natives, ids, strict=True):
            _write_crop(root.nodule_seg(scan.dataset, annotation), nodule, labels.affine)
    return frame, natives


def _origin(scan: Scan, shape: tuple[int, int, int], spacing: tuple[float, float, float]
            ) -> tuple[float, float, float]:
    """The scan's origin (mm): as declared on the test grid, else the grid centred."""
    if shape == SHAPE and spacing == SPACING_MM:
        return scan.origin_mm
    return (-shape[0] * spacing[0] / 2, -shape[1] * spacing[1] / 2, -shape[2] * spacing[2] / 2)


def _write_lps(path: Path, volume: Volume, *, kind: VolumeKind | str) -> Path:
    """Write ``volume`` with its x and y axes stored reversed (LPS order, negative x/y
    affine axes): the same voxels at the same world positions."""
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[:2, 3] = [volume.array.shape[0] - 1, volume.array.shape[1] - 1]
    return write_volume(path, Volume(np.ascontiguousarray(volume.array[::-1, ::-1, :]),
                                     volume.affine @ flip), kind=kind)


def _centre(site: str, shape: tuple[int, int, int] = SHAPE) -> tuple[float, float, float]:
    fx, fy, fz = _SITES[site]
    return (fx * shape[0], fy * shape[1], fz * shape[2])


def _ct(labels: np.ndarray, natives: list[NoduleMask], *, noise_hu: float = 0.0,
        seed: int = 0) -> np.ndarray:
    hu = np.full(labels.shape, -1000, np.int16)
    hu[labels == anatomy.BODY] = 40
    hu[np.isin(labels, anatomy.LOBE_LABELS)] = -850
    for nodule in natives:
        hu[nodule.box][nodule.mask] = 30
    if noise_hu > 0:
        rng = np.random.default_rng(seed)
        for z in range(labels.shape[-1]):  # slice by slice: no float copy of the volume
            noise = rng.standard_normal(hu.shape[:2], dtype=np.float32) * noise_hu
            hu[:, :, z] += np.rint(noise).astype(np.int16)
    return hu


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


def _lidc_donors(root: DataRoot, radii_mm: tuple[float, ...] = LIDC_RADII_MM) -> pd.DataFrame:
    """Donor-only rows: a mask on its own small grid, no host scan, no location."""
    from lesiontrials.measurements.schema import PROFILE_COLUMNS

    rows = []
    for k, radius in enumerate(radii_mm):
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
