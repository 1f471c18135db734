"""Native nodules for world hosts: donor shapes placed whole inside a chosen lobe.

A native nodule is its donor's continuous shape (:mod:`lesiontrials.shape_field`: shape-
based interpolation between the donor's slices, closed by rounded caps) sampled on the
host grid — the voxels the shape covers at least half of — so it has the same shape on a
3×3×4 mm phantom as on a 0.7 mm one instead of the donor mask's slices stretched into
slabs. The world builder's own simple placement (random position deep enough inside the
lobe that every voxel of the nodule lies in it); the trial insertion stage has its own,
richer placement. Decide (lobe, position) with a seeded generator, then apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import edt
import numpy as np
from scipy import ndimage

from lesiontrials import anatomy
from lesiontrials.geometry import Box, NoduleMask, bounding_box
from lesiontrials.shape_field import mask_on_grid, shape_from_mask


@dataclass(frozen=True)
class DonorShape:
    """A donor mask on its own grid (RAS axes) with its voxel spacing."""

    donor_uid: str
    mask: np.ndarray
    spacing_mm: tuple[float, float, float]


def native_mask(donor: DonorShape, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """The donor's continuous shape sampled on a host grid of ``spacing_mm`` (a tight
    boolean mask; at least one voxel)."""
    return mask_on_grid(shape_from_mask(donor.mask, donor.spacing_mm), spacing_mm)


def _lobe_weights(present: list[int]) -> tuple[list[anatomy.Lobe], np.ndarray]:
    lobes = [anatomy.LOBE_BY_LABEL[i] for i in present]
    weights = np.array([anatomy.NODULE_LOBE_FREQUENCY[lobe] for lobe in lobes], dtype=float)
    return lobes, weights / weights.sum()


def place_in_lobe(
    labels: np.ndarray,
    spacing_mm: tuple[float, float, float],
    nodule: np.ndarray,
    lobe: anatomy.Lobe,
    rng: np.random.Generator,
    *,
    occupied: np.ndarray | None = None,
    margin_mm: float = 1.0,
    box: Box | None = None,
) -> NoduleMask | None:
    """Place ``nodule`` (host spacing) at a random position fully inside ``lobe``.

    ``occupied`` marks voxels (e.g. earlier nodules dilated by a gap) to avoid.
    ``box`` is the lobe's bounding box when the caller already has it.
    Returns ``None`` when the lobe has no room for it.
    """
    label_id = anatomy.LOBE_LABEL_IDS[lobe]
    if box is None:
        box = bounding_box(labels == label_id)
    if box is None:
        return None
    lobe_mask = labels[box] == label_id
    if occupied is not None:
        lobe_mask &= ~occupied[box]
    depth = edt.edt(lobe_mask, anisotropy=spacing_mm, black_border=True)
    centre = (np.asarray(nodule.shape) - 1) / 2.0
    offsets = (np.argwhere(nodule) - centre) * np.asarray(spacing_mm)
    reach = float(np.sqrt((offsets**2).sum(axis=1)).max()) + max(spacing_mm) + margin_mm
    candidates = np.argwhere(depth > reach)
    if len(candidates) == 0:
        return None
    chosen = candidates[rng.integers(len(candidates))] + np.array([s.start for s in box])
    offset = np.round(chosen - centre).astype(int)
    placed = NoduleMask(nodule.astype(bool), (int(offset[0]), int(offset[1]), int(offset[2])))
    if not placed.in_shape(labels.shape) or not np.all(labels[placed.box][placed.mask] == label_id):
        return None
    return placed


def place_native_nodules(
    labels: np.ndarray,
    spacing_mm: tuple[float, float, float],
    donors: list[DonorShape],
    rng: np.random.Generator,
    *,
    min_gap_mm: float = 5.0,
    attempts: int = 4,
) -> list[tuple[DonorShape, anatomy.Lobe, NoduleMask]]:
    """Place each donor in a lobe drawn by :data:`~lesiontrials.anatomy.NODULE_LOBE_FREQUENCY`;
    donors that do not fit after ``attempts`` lobe draws are skipped. Nodules keep
    ``min_gap_mm`` apart."""
    # One pass for every label's box (instead of a full-volume compare per lobe and draw).
    found = ndimage.find_objects(labels)
    boxes = {i: found[i - 1] for i in anatomy.LOBE_LABELS
             if i <= len(found) and found[i - 1] is not None}
    present = [i for i in anatomy.LOBE_LABELS if i in boxes]
    if not present:
        return []
    lobes, weights = _lobe_weights(present)
    occupied = np.zeros(labels.shape, dtype=bool)
    placed: list[tuple[DonorShape, anatomy.Lobe, NoduleMask]] = []
    for donor in donors:
        shape = native_mask(donor, spacing_mm)
        for _ in range(attempts):
            lobe = lobes[int(rng.choice(len(lobes), p=weights))]
            nodule = place_in_lobe(labels, spacing_mm, shape, lobe, rng, occupied=occupied,
                                   box=boxes[anatomy.LOBE_LABEL_IDS[lobe]])
            if nodule is not None:
                placed.append((donor, lobe, nodule))
                _mark_occupied(occupied, nodule, spacing_mm, min_gap_mm)
                break
    return placed


def _mark_occupied(occupied: np.ndarray, nodule: NoduleMask,
                   spacing_mm: tuple[float, float, float], gap_mm: float) -> None:
    pad = [int(np.ceil(gap_mm / s)) + 1 for s in spacing_mm]
    lo = [max(0, o - p) for o, p in zip(nodule.offset, pad, strict=True)]
    hi = [min(n, o + m + p) for o, m, p, n in zip(nodule.offset, nodule.mask.shape, pad,
                                                   occupied.shape, strict=True)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    local = np.zeros(tuple(b - a for a, b in zip(lo, hi, strict=True)), dtype=bool)
    inner = tuple(slice(o - a, o - a + m) for o, a, m in zip(nodule.offset, lo, nodule.mask.shape,
                                                             strict=True))
    local[inner] = nodule.mask
    distance = edt.edt(~local, anisotropy=spacing_mm, black_border=False)
    occupied[box] |= distance <= gap_mm
