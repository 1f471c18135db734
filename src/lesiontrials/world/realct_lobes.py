"""Approximate lung lobes from fissure planes fitted to each lung's extent.

The lobes here are **approximate**: the fissures are not found in the image. Each fissure is
a plane across the sagittal profile of one lung, written in fractions of that lung's extent
(``cc`` 0 = lowest lung voxel, 1 = highest; ``ap`` 0 = most posterior, 1 = most anterior):

* oblique fissure (both lungs): from the posterior surface high up (``oblique_posterior_cc``,
  about the level of T3-T4) down to the anterior surface near the front of the diaphragm
  (``oblique_anterior_cc``); lung above and in front of it is upper (and, on the right,
  middle) lobe, lung behind and below it is lower lobe;
* horizontal fissure (right lung): the level ``horizontal_cc`` that splits the part in front
  of the oblique fissure into upper (above) and middle (below) lobe.

Defaults give lobar shares close to those of healthy adults on the two packaged CTs (right
lung ≈ 38/16/46 % upper/middle/lower, left ≈ 50/50 %). When a lung is cut by the scan range
(it still fills the first or last slice) its missing end is extrapolated to
``typical_height_mm``. Small pieces of a lobe cut off by the planes join the neighbouring
lobe, so every lobe is one 6-connected component (pieces touching no other lobe excepted).
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage

from lesiontrials.anatomy import LOBE_LABEL_IDS, Lobe


@dataclass(frozen=True)
class FissurePlanes:
    """Fissure positions of one lung, in fractions of its cc and ap extent (see module)."""

    oblique_posterior_cc: float
    oblique_anterior_cc: float
    horizontal_cc: float | None = None


RIGHT_FISSURES = FissurePlanes(oblique_posterior_cc=0.72, oblique_anterior_cc=0.20,
                               horizontal_cc=0.55)
LEFT_FISSURES = FissurePlanes(oblique_posterior_cc=0.74, oblique_anterior_cc=0.22)
TYPICAL_LUNG_HEIGHT_MM = 240.0  # apex to posterior costophrenic recess, adult
_EDGE_AREA_FRACTION = 0.02  # lung area in an end slice (vs the largest) that means "cut"


def assign_lobes(
    right: np.ndarray,
    left: np.ndarray,
    *,
    spacing_mm: tuple[float, float, float],
    right_fissures: FissurePlanes = RIGHT_FISSURES,
    left_fissures: FissurePlanes = LEFT_FISSURES,
    typical_height_mm: float = TYPICAL_LUNG_HEIGHT_MM,
) -> tuple[np.ndarray, tuple[bool, bool]]:
    """Lobe label map (uint8, ids 28-32, 0 elsewhere) from right/left lung masks (RAS+).

    Returns the map and whether the lungs are cut by the scan at the (inferior, superior) end.
    """
    labels = np.zeros(right.shape, dtype=np.uint8)
    cut_low, cut_high = False, False
    sides = ((right, right_fissures, (Lobe.RUL, Lobe.RML, Lobe.RLL)),
             (left, left_fissures, (Lobe.LUL, None, Lobe.LLL)))
    for mask, fissures, lobes in sides:
        if not mask.any():
            continue
        box = _bbox(mask)
        crop = mask[box]
        z_range, cut = _cc_range_mm(crop, box[2].start, right.shape[2], spacing_mm,
                                    typical_height_mm)
        cut_low, cut_high = cut_low or cut[0], cut_high or cut[1]
        upper, middle, lower = (0 if lobe is None else LOBE_LABEL_IDS[lobe] for lobe in lobes)
        ids = (upper, middle, lower)
        lobe_crop = _cut_by_planes(crop, box, z_range, spacing_mm, fissures, ids)
        _join_fragments(lobe_crop, tuple(i for i in ids if i))
        labels[box][crop] = lobe_crop[crop]
    return labels, (cut_low, cut_high)


def _bbox(mask: np.ndarray) -> tuple[slice, slice, slice]:
    slices = []
    for axis in range(3):
        hit = np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))[0]
        slices.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return slices[0], slices[1], slices[2]


def _cc_range_mm(
    crop: np.ndarray, z0: int, nz: int, spacing: tuple[float, float, float], height_mm: float
) -> tuple[tuple[float, float], tuple[bool, bool]]:
    """Lung cc extent in mm (slice centres, whole-volume z), extrapolated where cut."""
    area = crop.sum(axis=(0, 1)).astype(float)
    low, high = float(z0) * spacing[2], float(z0 + crop.shape[2] - 1) * spacing[2]
    cut_low = z0 == 0 and area[0] > _EDGE_AREA_FRACTION * area.max()
    cut_high = z0 + crop.shape[2] == nz and area[-1] > _EDGE_AREA_FRACTION * area.max()
    missing = max(height_mm - (high - low), 0.0)
    if cut_low and cut_high:
        low, high = low - missing / 2, high + missing / 2
    elif cut_low:
        low -= missing
    elif cut_high:
        high += missing
    return (low, high), (bool(cut_low), bool(cut_high))


def _ap_range_mm(crop: np.ndarray, y0: int, spacing: tuple[float, float, float]
                 ) -> tuple[float, float]:
    """Robust ap extent in mm (0.5 and 99.5 percentiles of the lung's voxels along y)."""
    counts = crop.sum(axis=(0, 2)).astype(float)
    cum = np.cumsum(counts) / counts.sum()
    lo = int(np.searchsorted(cum, 0.005))
    hi = int(np.searchsorted(cum, 0.995))
    return (y0 + lo) * spacing[1], (y0 + max(hi, lo + 1)) * spacing[1]


def _cut_by_planes(
    crop: np.ndarray, box: tuple[slice, slice, slice], z_range: tuple[float, float],
    spacing: tuple[float, float, float], fissures: FissurePlanes, ids: tuple[int, int, int],
) -> np.ndarray:
    """Label the lung voxels of ``crop`` upper/middle/lower by the fissure planes."""
    upper_id, middle_id, lower_id = ids
    y_lo, y_hi = _ap_range_mm(crop, box[1].start, spacing)
    y_mm = (np.arange(box[1].start, box[1].stop) * spacing[1])[None, :, None]
    z_mm = (np.arange(box[2].start, box[2].stop) * spacing[2])[None, None, :]
    ap = (y_mm - y_lo) / max(y_hi - y_lo, 1e-6)
    cc = (z_mm - z_range[0]) / max(z_range[1] - z_range[0], 1e-6)
    slope = fissures.oblique_anterior_cc - fissures.oblique_posterior_cc
    front = cc > fissures.oblique_posterior_cc + slope * ap  # (1, ny, nz)
    out = np.where(front, upper_id, lower_id).astype(np.uint8)
    if fissures.horizontal_cc is not None and middle_id:
        out = np.where(front & (cc <= fissures.horizontal_cc), middle_id, out)
    return np.where(crop, np.broadcast_to(out, crop.shape), 0).astype(np.uint8)


def _join_fragments(labels: np.ndarray, ids: tuple[int, ...], *, rounds: int = 4) -> None:
    """Give every piece of a lobe but its largest to the lobe it touches most (in place)."""
    for _ in range(rounds):
        changed = False
        for lid in ids:
            comp = cc3d.connected_components(labels == lid, connectivity=6)
            n = int(comp.max())
            if n <= 1:
                continue
            sizes = np.bincount(comp.ravel())[1:]
            keep = int(np.argmax(sizes)) + 1
            for index, box in enumerate(ndimage.find_objects(comp), start=1):
                if index == keep or box is None:
                    continue
                changed |= _relabel_fragment(labels, comp, index, box, lid)
        if not changed:
            return


def _relabel_fragment(labels: np.ndarray, comp: np.ndarray, index: int,
                      box: tuple[slice, ...], lid: int) -> bool:
    grown = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
    piece = comp[grown] == index
    ring = ndimage.binary_dilation(piece) & ~piece
    around = labels[grown][ring]
    around = around[(around != 0) & (around != lid)]
    if around.size == 0:
        return False
    labels[grown][piece] = np.bincount(around).argmax()
    return True
