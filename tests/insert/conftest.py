"""Tiny data roots and manifests for insertion tests: box-thorax hosts, sphere donors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lesiontrials import anatomy
from lesiontrials.geometry import NoduleMask
from lesiontrials.insert.case import crop_volume
from lesiontrials.io import Volume, VolumeKind, write_parquet, write_volume
from lesiontrials.paths import DataRoot, Workspace
from lesiontrials.testing import BoxThorax, box_thorax, sphere_mask
from lesiontrials.trials.manifest import MANIFEST_COLUMNS

DONOR_SPACING = (0.7, 0.7, 1.25)  # crop-grid donors: not the host spacing


def sphere_crop(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    """A sphere centred in its own small grid."""
    n = tuple(int(2 * math.ceil(radius_mm / s) + 3) for s in spacing)
    return sphere_mask(n, tuple((k - 1) / 2 for k in n), radius_mm, spacing).mask


def ellipsoid_crop(radii_mm: tuple[float, float, float],
                   spacing: tuple[float, float, float]) -> np.ndarray:
    n = [int(2 * math.ceil(r / s) + 3) for r, s in zip(radii_mm, spacing, strict=True)]
    axes = [(np.arange(k) - (k - 1) / 2) * s / r
            for k, s, r in zip(n, spacing, radii_mm, strict=True)]
    gx, gy, gz = np.meshgrid(*axes, indexing="ij", sparse=True)
    return gx**2 + gy**2 + gz**2 <= 1.0


def crop_affine(spacing: tuple[float, float, float],
                origin: tuple[float, float, float] = (3.0, -7.0, 11.0)) -> np.ndarray:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = origin
    return affine


@dataclass
class World:
    """A data root on disk and the geometry that built it."""

    root: Path
    thorax: BoxThorax
    aniso: BoxThorax
    donors: dict[str, float] = field(default_factory=dict)  # uid -> equivalent diameter mm
    natives: dict[str, NoduleMask] = field(default_factory=dict)  # on H1's grid
    native_mm: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    @property
    def data_root(self) -> DataRoot:
        return DataRoot(self.root)


def host_path(name: str) -> str:
    return f"masks/PH/refined_seg/{name}_seg.nii.gz"


def donor_path(uid: str) -> str:
    return f"masks/DON/nodule_seg/{uid}.nii.gz"


def write_donor(root: Path, uid: str, mask: np.ndarray, spacing=DONOR_SPACING,
                affine: np.ndarray | None = None) -> float:
    affine = crop_affine(spacing) if affine is None else affine
    write_volume(root / donor_path(uid), Volume(mask.astype(np.uint8), affine),
                 kind=VolumeKind.MASK)
    return (6.0 * mask.sum() * float(np.prod(spacing)) / math.pi) ** (1 / 3)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("dataroot")
    thorax = box_thorax()
    aniso = box_thorax((72, 64, 40), (2.6, 2.6, 5.0), origin_mm=(-90.0, -80.0, -100.0))
    write_volume(root / host_path("H1"), thorax.volume, kind=VolumeKind.LABELS)
    write_volume(root / host_path("H2"), aniso.volume, kind=VolumeKind.LABELS)
    lobeless = thorax.volume.array.copy()
    lobeless[np.isin(lobeless, anatomy.LOBE_LABELS)] = anatomy.BODY
    write_volume(root / host_path("NOLOBES"), Volume(lobeless, thorax.volume.affine),
                 kind=VolumeKind.LABELS)
    world = World(root, thorax, aniso)
    for uid, radius in (("S3", 3.0), ("S4", 4.0), ("S6", 6.0), ("S9", 9.0), ("S40", 40.0)):
        world.donors[uid] = write_donor(root, uid, sphere_crop(radius, DONOR_SPACING))
    world.donors["E"] = write_donor(root, "E", ellipsoid_crop((6.0, 3.5, 4.5), DONOR_SPACING))
    (root / donor_path("BROKEN")).write_bytes(b"\x1f\x8b\x08\x00not a nifti at all")
    _write_natives(world)
    return world


def _write_natives(world: World) -> None:
    """Native nodules of host H1 (digital twins): two on the host grid, one off-grid."""
    volume = world.thorax.volume
    shape, spacing = volume.shape, world.thorax.spacing_mm
    world.natives["NAT1"] = sphere_mask(shape, (70, 40, 60), 5.0, spacing)
    irregular = ellipsoid_crop((7.0, 4.0, 5.0), spacing)
    irregular[:, :, : irregular.shape[2] // 2 - 1] = False  # a flat-bottomed half ellipsoid
    world.natives["NAT2"] = NoduleMask(irregular, (20, 35, 15)).tight()  # in the LLL
    for uid, nodule in world.natives.items():
        write_volume(world.root / donor_path(uid), crop_volume(nodule, volume.affine),
                     kind=VolumeKind.MASK)
        volume_mm3 = nodule.voxel_count * float(np.prod(spacing))
        world.donors[uid] = (6.0 * volume_mm3 / math.pi) ** (1 / 3)
    fine = (1.0, 1.0, 1.25)  # same world frame, finer grid: not the host's
    centre_mm = volume.voxel_to_world(np.array([70.0, 40.0, 20.0]))  # in the RLL
    mask = sphere_crop(4.0, fine)
    affine = crop_affine(fine, tuple(centre_mm - (np.asarray(mask.shape) - 1) / 2 * fine))
    world.donors["NATFINE"] = write_donor(world.root, "NATFINE", mask, fine, affine)
    world.native_mm["NATFINE"] = tuple(float(v) for v in centre_mm)


def row(case_uid: str, *, nodule_index: int = 0, **values: Any) -> dict[str, Any]:
    """One manifest row with sensible defaults (a prescribed S6 sphere in the RUL of H1)."""
    base: dict[str, Any] = {c.name: (math.nan if c.dtype == "float64" else
                                     0 if c.dtype == "int64" else
                                     False if c.dtype == "bool" else
                                     None if c.dtype == "Int8" else "")
                            for c in MANIFEST_COLUMNS}
    base.update({
        "trial": "t1", "design": "test", "case_uid": case_uid,
        "case_index": int(case_uid.rsplit("-", 1)[-1]), "nodule_index": nodule_index,
        "primary": nodule_index == 0, "nodule_free": False, "seed": 7,
        "host_dataset": "PH", "host_ct_id": "H1", "host_patient_id": "P1",
        "host_seg_path": host_path("H1"), "donor_uid": "S6", "donor_dataset": "DON",
        "donor_patient_id": "D1", "donor_mask_path": donor_path("S6"), "label": 1,
        "placement": "prescribed", "target_lobe": anatomy.Lobe.RUL.value,
        "target_lobe_cc_pct": 50.0, "target_lobe_ml_pct": 50.0, "target_lobe_ap_pct": 50.0,
        "min_pleural_mm": 0.0, "scale": 1.0, "replicate": -1, "round": -1,
        "donor_texture": 5.0,
    })
    base.update(values)
    if "donor_diameter_mm" not in values and base["donor_mask_path"]:
        uid = Path(base["donor_mask_path"]).name.removesuffix(".nii.gz")
        base["donor_diameter_mm"] = DONOR_DIAMETERS.get(uid, math.nan)
    if "planned_diameter_mm" not in values:
        base["planned_diameter_mm"] = base["donor_diameter_mm"] * base["scale"]
    return base


DONOR_DIAMETERS: dict[str, float] = {}


@pytest.fixture(autouse=True)
def _donor_diameters(world: World) -> None:
    DONOR_DIAMETERS.update(world.donors)


def write_manifest(workspace: Workspace, rows: list[dict[str, Any]], trial: str = "t1") -> Path:
    frame = pd.DataFrame(rows)
    for column in MANIFEST_COLUMNS:
        frame[column.name] = frame[column.name].astype(column.dtype)
    path = workspace.trial_dir(trial) / "manifest.parquet"
    write_parquet(frame, path)
    return path
