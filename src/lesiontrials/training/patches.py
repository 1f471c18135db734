"""3-D patches for the patch CNN: where to cut them (decided per scan from a seed) and the
cut itself (trilinear resampling on an isotropic grid in RAS world millimetres).

A patch is ``size``³ voxels at ``spacing_mm`` centred on a world point, so its field of
view (``size · spacing_mm`` mm) is the same on a 0.7 mm screening CT and on a 3 mm
phantom; HU are clipped to [−1000, 400] and scaled to [0, 1]. Positives are centred on
realised nodule centres (jittered), negatives on random lung voxels and on blob-detector
candidates (the hard negatives a detector meets: vessels, fissures), each far from every
nodule. Only the CT reaches the patch; the truth decides *where*, never *what* is cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from lesiontrials.io.volumes import Volume
from lesiontrials.seeding import rng_for
from lesiontrials.training.recipe import PatchRecipe

HU_LOW, HU_HIGH = -1000.0, 400.0


@dataclass(frozen=True)
class PatchSite:
    """Where one patch is cut: centre (RAS world mm), label and why it was chosen."""

    centre_mm: tuple[float, float, float]
    presence: int  # 1 nodule centred in the patch, 0 none near
    kind: str  # "nodule", "random" or "candidate"


def cut_patch(volume: Volume, centre_mm: np.ndarray, *, size: int,
              spacing_mm: float) -> np.ndarray:
    """(size, size, size) float32 in [0, 1]: the CT resampled (trilinear) on an isotropic
    RAS grid of ``spacing_mm`` centred on ``centre_mm``; points outside the scan take the
    nearest edge voxel."""
    offsets = (np.arange(size, dtype=np.float64) - (size - 1) / 2.0) * spacing_mm
    grid = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), axis=-1)
    world = grid.reshape(-1, 3) + np.asarray(centre_mm, dtype=np.float64)
    voxels = volume.world_to_voxel(world)
    values = ndimage.map_coordinates(volume.array.astype(np.float32, copy=False), voxels.T,
                                     order=1, mode="nearest")
    scaled = (np.clip(values, HU_LOW, HU_HIGH) - HU_LOW) / (HU_HIGH - HU_LOW)
    return scaled.reshape(size, size, size).astype(np.float32)


def _point(values: np.ndarray) -> tuple[float, float, float]:
    return float(values[0]), float(values[1]), float(values[2])


def _far(points: np.ndarray, nodules_mm: np.ndarray, radii_mm: np.ndarray,
         min_distance_mm: float) -> np.ndarray:
    """(n,) bool: points at least ``min_distance_mm`` + radius from every nodule."""
    if len(nodules_mm) == 0 or len(points) == 0:
        return np.ones(len(points), dtype=bool)
    gaps = np.linalg.norm(points[:, None, :] - nodules_mm[None], axis=2) - radii_mm[None]
    return np.asarray((gaps >= min_distance_mm).all(axis=1))


def plan_sites(volume: Volume, *, scan_uid: str, nodules_mm: np.ndarray,
               diameters_mm: np.ndarray, recipe: PatchRecipe,
               avoid_mm: np.ndarray | None = None,
               avoid_diameters_mm: np.ndarray | None = None) -> list[PatchSite]:
    """The patches of one scan, seeded by (recipe seed, scan uid): one per nodule (its
    centre jittered by up to ``jitter_mm`` per axis), ``random_negatives`` random lung
    voxels and the ``hard_negatives`` strongest blob-detector candidates, negatives all
    ``min_distance_mm`` + the nodule radius away from every nodule and from every lesion in
    ``avoid_mm`` (host lesions kept in the image: never a negative, never a positive). A
    scan whose lungs cannot be found from HU yields its positives only."""
    from lesiontrials.scoring.models.volume_baselines import LogBlobDetector, lung_mask

    nodules_mm = np.asarray(nodules_mm, dtype=float).reshape(-1, 3)
    radii = np.asarray(diameters_mm, dtype=float).reshape(-1) / 2.0
    rng = rng_for(recipe.seed, "patch-sites", scan_uid)
    jitter = rng.uniform(-recipe.jitter_mm, recipe.jitter_mm, size=nodules_mm.shape)
    sites = [PatchSite(_point(c), 1, "nodule") for c in nodules_mm + jitter]
    if avoid_mm is not None and avoid_diameters_mm is not None:
        nodules_mm = np.vstack([nodules_mm, np.asarray(avoid_mm, dtype=float).reshape(-1, 3)])
        radii = np.concatenate([radii, np.asarray(avoid_diameters_mm, float).reshape(-1) / 2])
    if recipe.random_negatives:
        lungs = np.argwhere(lung_mask(volume.array))
        world = volume.voxel_to_world(lungs) if len(lungs) else np.zeros((0, 3))
        world = world[_far(world, nodules_mm, radii, recipe.min_distance_mm)]
        if len(world):
            chosen = rng.choice(len(world), size=min(recipe.random_negatives, len(world)),
                                replace=False)
            sites += [PatchSite(_point(world[i]), 0, "random")
                      for i in sorted(chosen.tolist())]
    if recipe.hard_negatives:
        found = LogBlobDetector().detect(volume)
        points = found[["x_mm", "y_mm", "z_mm"]].to_numpy(dtype=float)
        points = points[_far(points, nodules_mm, radii, recipe.min_distance_mm)]
        sites += [PatchSite(_point(p), 0, "candidate")
                  for p in points[: recipe.hard_negatives]]
    return sites
