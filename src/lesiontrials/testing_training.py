"""Generated evaluation sets for training tests and benchmarks (no CT, no rendering).

:func:`write_disk_set` writes ``eval/{set}/lung/cases.parquet`` and PNGs where a positive
slice shows a bright disk (radius 3-7 px; size bin from its diameter at 0.7 mm/px) on
noise and a negative shows the noise alone: a constructed signal a CNN can learn (lobes
are assigned by case, unrelated to the pixels). With ``random_labels`` the truth is drawn
independently of the pixels: there is nothing to learn, and held-out accuracy must stay
at chance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials.anatomy import Lobe, task_size_bin
from lesiontrials.io import write_parquet, write_png
from lesiontrials.paths import Workspace
from lesiontrials.seeding import rng_for
from lesiontrials.slicing.contract import ITEM_COLUMNS

SPACING_MM = 0.7


def disk_image(rng: np.random.Generator, *, size: int, radius: float | None) -> np.ndarray:
    """(size, size) uint8: smoothed noise around grey 60, plus a disk of +120 if
    ``radius`` is given (at a random place away from the border)."""
    noise = rng.normal(60.0, 18.0, (size, size))
    image = noise
    if radius is not None:
        margin = int(np.ceil(radius)) + 2
        cy, cx = rng.integers(margin, size - margin, size=2)
        yy, xx = np.mgrid[0:size, 0:size]
        image = image + 120.0 * ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_disk_set(workspace: Workspace, name: str, *, n_cases: int, seed: int,
                   slices_per_case: int = 2, image_size: int = 64,
                   random_labels: bool = False, case_prefix: str | None = None) -> Path:
    """Write a generated set of ``n_cases`` cases × ``slices_per_case`` slices (half
    positive, half negative per case when even); returns its cases.parquet path."""
    rng = rng_for(seed, "disk-set", name)
    base = workspace.eval_dir(name, "lung")
    lobes = [lobe.value for lobe in Lobe]
    rows = []
    for c in range(n_cases):
        case_uid = f"{case_prefix or name}-case{c:04d}"
        for s in range(slices_per_case):
            positive = s % 2 == 0 if slices_per_case > 1 else bool(rng.random() < 0.5)
            radius = float(rng.uniform(3.0, 7.0)) if positive else None
            image = disk_image(rng, size=image_size, radius=radius)
            if random_labels:
                positive = bool(rng.random() < 0.5)
            uid = f"{case_uid}-s{s}"
            rel = f"images/{uid}.png"
            write_png(base / rel, image, level=1)
            diameter = 2.0 * (radius or 0.0) * SPACING_MM
            rows.append(_row(name, case_uid, uid, rel, positive=positive, s=s,
                             lobe=lobes[c % len(lobes)], diameter_mm=diameter))
    frame = pd.DataFrame(rows)
    for column in ITEM_COLUMNS:
        if column not in frame:
            frame[column] = ""
    path = base / "cases.parquet"
    write_parquet(frame[list(ITEM_COLUMNS)], path)
    return path


def _row(name: str, case_uid: str, uid: str, rel: str, *, positive: bool, s: int,
         lobe: str, diameter_mm: float) -> dict[str, object]:
    return {"slice_uid": uid, "set": name, "source": "synthetic",
            "kind": "positive" if positive else "negative", "profile": "lung",
            "condition": "plain", "image_path": rel, "context_paths": json.dumps([rel] * 3),
            "trial": name, "design": "generated", "case_uid": case_uid,
            "host_dataset": "gen", "host_ct_id": f"host{case_uid[-2:]}", "z_index": s,
            "truth_presence": "present" if positive else "absent",
            "truth_lobe": lobe if positive else "",
            "truth_size": task_size_bin(diameter_mm) if positive else "",
            "diameter_mm": diameter_mm if positive else float("nan"),
            "pixel_spacing_mm": SPACING_MM,
            "bbox_x0": -1, "bbox_y0": -1, "bbox_x1": -1, "bbox_y1": -1}


# ----------------------------------------------------------------- generated volume sets
VOLUME_SHAPE = (32, 32, 20)
VOLUME_SPACING_MM = 2.0


def sphere_volume(rng: np.random.Generator, *, centre_mm: np.ndarray | None,
                  radius_mm: float) -> np.ndarray:
    """(32, 32, 20) HU at 2 mm: soft tissue (40 HU) around an ellipsoidal lung (−850 HU,
    noise σ 40 HU), plus a sphere of −20 HU (soft tissue) at ``centre_mm`` (voxel origin at
    0 mm) if given."""
    grid = np.stack(np.meshgrid(*(np.arange(n) * VOLUME_SPACING_MM for n in VOLUME_SHAPE),
                                indexing="ij"), axis=-1)
    middle = (np.asarray(VOLUME_SHAPE) - 1) * VOLUME_SPACING_MM / 2
    lung = (((grid - middle) / np.array([26.0, 26.0, 16.0])) ** 2).sum(axis=-1) <= 1.0
    hu = np.where(lung, -850.0, 40.0) + rng.normal(0.0, 40.0, VOLUME_SHAPE)
    if centre_mm is not None:
        ball = ((grid - centre_mm) ** 2).sum(axis=-1) <= radius_mm ** 2
        hu[ball] = -20.0 + rng.normal(0.0, 40.0, int(ball.sum()))
    return hu.astype(np.int16)


def _uniform_in_lung(rng: np.random.Generator, middle: np.ndarray) -> np.ndarray:
    """A point uniform inside the lung ellipsoid of :func:`sphere_volume` (rejection)."""
    axes = np.array([26.0, 26.0, 16.0])
    while True:
        offset = rng.uniform(-1, 1, 3)
        if (offset ** 2).sum() <= 1.0:
            return np.asarray(middle + offset * axes)


def write_sphere_volume_set(workspace: Workspace, name: str, *, n_scans: int, seed: int,
                            signal: bool = True) -> Path:
    """A synthetic volume set (``volumes/{name}/``) of ``n_scans`` generated CTs, each with
    one nodule row in the truth table: a soft-tissue sphere (radius 3–5 mm) in the lung at
    the recorded centre. With ``signal=False`` the truth rows are written but no sphere is
    drawn and the recorded centre is uniform over the lung, as random negatives are (nothing
    to learn, not even position: a patch model must stay at chance). Returns the set's
    folder."""
    from lesiontrials.io import sha256_file, write_volume
    from lesiontrials.io.volumes import Volume, VolumeKind
    from lesiontrials.slicing.volumes import _write

    rng = rng_for(seed, "sphere-volume-set", name)
    affine = np.diag([VOLUME_SPACING_MM] * 3 + [1.0])
    middle = (np.asarray(VOLUME_SHAPE) - 1) * VOLUME_SPACING_MM / 2
    scans, truth = [], []
    for s in range(n_scans):
        uid = f"{name}-{s:05d}"
        centre = (middle + rng.uniform(-1, 1, 3) * np.array([12.0, 12.0, 6.0]) if signal
                  else _uniform_in_lung(rng, middle))
        radius = float(rng.uniform(3.0, 5.0))
        hu = sphere_volume(rng, centre_mm=centre if signal else None, radius_mm=radius)
        rel = f"cases/{name}/{uid}/ct.nii.gz"
        path = write_volume(workspace.root / rel, Volume(hu, affine), kind=VolumeKind.CT)
        scans.append({"scan_uid": uid, "source": "synthetic", "trial": name,
                      "design": "generated", "ct_path": rel, "ct_sha256": sha256_file(path),
                      "nodule_free": False, "n_nodules": 1, "host_dataset": "gen",
                      "host_ct_id": f"host{s:03d}"})
        truth.append({"scan_uid": uid, "nodule_id": f"{uid}/n0", "x_mm": centre[0],
                      "y_mm": centre[1], "z_mm": centre[2], "diameter_mm": 2 * radius,
                      "lobe": "", "size_bin": task_size_bin(2 * radius), "label": None,
                      "appearance": "solid", "description": "", "design": "generated",
                      "stratum": "", "donor_uid": ""})
    _write(name, workspace, scans, truth, {}, "synthetic")
    return workspace.volume_set_dir(name)
