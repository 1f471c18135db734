"""Masks of a chest CT from HU thresholds and morphology: body, central airway, lungs.

Used by :func:`lesiontrials.world.realct.segment_host`; arrays are RAS+ ``(x, y, z)``,
thresholds in HU, sizes in mm. In-plane morphology uses Euclidean distance transforms (one
2-D transform per axial slice), which keeps a 512×512×60 CT at a few seconds on one core.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import cc3d
import edt
import numpy as np
from scipy import ndimage

_MAX_SEEDS = 8  # trachea candidates tried, most superior first
_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class HostParams:
    """Thresholds (HU) and sizes (mm) of the host segmentation."""

    body_hu: float = -500.0
    lung_hu: float = -400.0
    airway_seed_hu: float = -950.0
    airway_hu: float = -900.0
    trachea_area_mm2: tuple[float, float] = (30.0, 900.0)
    bronchus_max_area_mm2: float = 450.0
    bronchus_length_mm: float = 30.0
    midline_tolerance_mm: float = 40.0
    close_radius_mm: float = 10.0
    max_hole_mm2: float = 700.0
    bone_low_hu: float = 120.0
    bone_high_hu: float = 250.0
    bone_min_ml: float = 0.3
    calcification_max_ml: float = 10.0
    marrow_hole_mm2: float = 120.0
    marrow_min_hu: float = 60.0
    sternum_half_width_mm: float = 30.0
    sternum_depth_mm: float = 15.0
    smooth_mm: float = 1.5
    soft_hu: float = -30.0
    heart_top_below_carina_mm: float = 15.0
    organ_min_ml: float = 5.0
    back_half_width_mm: float = 70.0
    soft_organs: bool = False
    #: HU band of contrast-enhanced blood (``None``: a non-contrast scan). With it, thick
    #: regions in that band inside the chest cavity (heart chambers, aorta, pulmonary
    #: arteries) are kept out of the bone mask.
    contrast_blood_hu: tuple[float, float] | None = None
    contrast_core_mm: float = 4.0


# ---------------------------------------------------------------------------
# Morphology helpers (in-plane, via Euclidean distance transforms: fast on one core)
# ---------------------------------------------------------------------------
def fill_holes_per_slice(mask: np.ndarray, *, max_area_px: int | None = None) -> np.ndarray:
    """Fill the holes of a 3-D mask in each axial slice (background not reaching the edge).

    With ``max_area_px``, only holes of at most that many pixels are filled.
    """
    lab, n = ndimage.label(~mask, structure=_IN_PLANE)
    edge = np.concatenate([lab[0].ravel(), lab[-1].ravel(), lab[:, 0].ravel(),
                           lab[:, -1].ravel()])
    keep_open = np.zeros(n + 1, dtype=bool)
    keep_open[edge] = True
    keep_open[0] = True
    if max_area_px is not None:
        keep_open |= np.bincount(lab.ravel(), minlength=n + 1) > max_area_px
    return mask | ~keep_open[lab]


def _in_plane_distance(mask: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Distance (mm) of each True voxel to the nearest False voxel of its own slice."""
    out = np.zeros(mask.shape, dtype=np.float32)
    for z in range(mask.shape[2]):
        plane = np.ascontiguousarray(mask[:, :, z])
        if plane.all():
            out[:, :, z] = np.inf
        elif plane.any():
            out[:, :, z] = edt.edt(plane, anisotropy=spacing[:2], black_border=False)
    return out


def dilate_in_plane(mask: np.ndarray, radius_mm: float,
                    spacing: tuple[float, float, float]) -> np.ndarray:
    """Slice-wise dilation by a disk of ``radius_mm``."""
    return _in_plane_distance(~mask, spacing) <= radius_mm


def close_in_plane(mask: np.ndarray, radius_mm: float,
                   spacing: tuple[float, float, float]) -> np.ndarray:
    """Slice-wise closing by a disk of ``radius_mm`` (a rolling ball on the outside)."""
    pad = int(np.ceil(radius_mm / min(spacing[:2]))) + 2
    padded = np.pad(mask, ((pad, pad), (pad, pad), (0, 0)))
    grown = dilate_in_plane(padded, radius_mm, spacing)
    closed = _in_plane_distance(grown, spacing) > radius_mm
    return closed[pad:-pad, pad:-pad] | mask


def _bbox(mask: np.ndarray, margin: tuple[int, int, int]) -> tuple[slice, ...]:
    """Bounding box of a non-empty 3-D mask, grown by ``margin`` voxels, clipped."""
    out = []
    for axis, (m, n) in enumerate(zip(margin, mask.shape, strict=True)):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        out.append(slice(max(int(hit[0]) - m, 0), min(int(hit[-1]) + m + 1, n)))
    return tuple(out)


# ---------------------------------------------------------------------------
# Body
# ---------------------------------------------------------------------------
def body_mask(hu: np.ndarray, *, threshold_hu: float = -500.0) -> np.ndarray:
    """Largest 6-connected component above ``threshold_hu``, holes filled per slice."""
    dense = np.asarray(hu) > threshold_hu
    if not dense.any():
        raise ValueError("no voxel above the body threshold: is the CT in HU?")
    largest = cc3d.largest_k(dense, k=1, connectivity=6) > 0
    return fill_holes_per_slice(largest)


def midline_x(body: np.ndarray, trachea: np.ndarray) -> float:
    """Mid-sagittal x (voxels): the trachea's mean x, else the body's."""
    counts = (trachea if trachea.any() else body).sum(axis=(1, 2)).astype(float)
    return float((counts * np.arange(counts.size)).sum() / counts.sum())


# ---------------------------------------------------------------------------
# Airway: trachea (above the carina) and main bronchi (below it)
# ---------------------------------------------------------------------------
def trace_airway(
    hu: np.ndarray, body: np.ndarray, *, spacing: tuple[float, float, float], params: HostParams
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Trachea and main-bronchus masks (bool, grown to ``lung_hu``) and the carina slice.

    Empty masks and ``None`` when no trachea is found (e.g. a scan of the lung bases only).
    """
    p = params
    dark = body & (hu < p.airway_hu)
    track, carina = None, None
    for z, seed in itertools.islice(_trachea_seeds(hu, body, spacing, p), _MAX_SEEDS):
        track, carina = _track_down(dark, z, seed, spacing, p)
        n_slices = int(track.any(axis=(0, 1)).sum())
        if carina is not None or n_slices * spacing[2] >= 30.0:
            break
        track = None
    empty = np.zeros(hu.shape, dtype=bool)
    if track is None:
        return empty, empty.copy(), None
    margin = int(np.ceil(3.0 / min(spacing[:2]))) + 1
    box = _bbox(track, (margin, margin, 0))
    near = dilate_in_plane(track[box], 2.0, spacing)
    grown = empty.copy()
    grown[box] = near & (hu[box] < p.lung_hu) & body[box]
    split = hu.shape[2] if carina is None else carina
    trachea, bronchi = grown.copy(), grown
    trachea[:, :, :split] = False
    bronchi[:, :, split:] = False
    return trachea, bronchi, carina


def _trachea_seeds(hu: np.ndarray, body: np.ndarray, spacing: tuple[float, float, float],
                   p: HostParams) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(z, mask2d)``: round dark tubes near the midline, most superior first."""
    px_mm2 = spacing[0] * spacing[1]
    lo, hi = p.trachea_area_mm2
    for z in range(hu.shape[2] - 1, hu.shape[2] // 3, -1):
        sl_body = body[:, :, z]
        if not sl_body.any():
            continue
        columns = sl_body.sum(axis=1).astype(float)
        mid_x = (columns * np.arange(columns.size)).sum() / columns.sum()
        lab, _ = ndimage.label(sl_body & (hu[:, :, z] < p.airway_seed_hu))
        found = []
        for index, box in enumerate(ndimage.find_objects(lab), start=1):
            piece = lab[box] == index
            area = piece.sum() * px_mm2
            centre_x = (box[0].start + box[0].stop - 1) / 2.0
            offset_mm = abs(centre_x - mid_x) * spacing[0]
            if lo <= area <= hi and piece.mean() >= 0.45 and offset_mm <= p.midline_tolerance_mm:
                found.append((offset_mm, index))
        for _, index in sorted(found):
            yield z, lab == index


def _track_down(dark: np.ndarray, z0: int, seed: np.ndarray,
                spacing: tuple[float, float, float], p: HostParams
                ) -> tuple[np.ndarray, int | None]:
    """Follow the tube from slice ``z0`` down; return its mask and the carina slice."""
    px_mm2 = spacing[0] * spacing[1]
    track = np.zeros(dark.shape, dtype=bool)
    track[:, :, z0] = seed
    branches, carina = [seed], None
    for z in range(z0 - 1, -1, -1):
        if carina is not None and (carina - z) * spacing[2] > p.bronchus_length_mm:
            break
        lab, _ = ndimage.label(dark[:, :, z])
        pieces: list[np.ndarray] = []
        for branch in branches:
            reach = _dilate_2d(branch, 3.0, spacing)
            limit = p.trachea_area_mm2[1] if carina is None else p.bronchus_max_area_mm2
            for index in np.unique(lab[reach]):
                piece = lab == index
                if index == 0 or any((piece & q).any() for q in pieces):
                    continue
                if piece.sum() * px_mm2 > limit:  # leaked into the lung
                    if carina is not None:
                        continue
                    piece &= _dilate_2d(branch, 1.5, spacing)
                pieces.append(piece)
        if carina is None:
            pieces, split = _carina_check(pieces, spacing)
            carina = z + 1 if split else None
        if not pieces:
            break
        for piece in pieces:
            track[:, :, z] |= piece
        branches = pieces
    return track, carina


def _carina_check(pieces: list[np.ndarray], spacing: tuple[float, float, float]
                  ) -> tuple[list[np.ndarray], bool]:
    """Two side-by-side pieces mean the trachea has split; else keep the largest."""
    if not pieces:
        return pieces, False
    pieces = sorted(pieces, key=lambda q: -int(q.sum()))
    big = [q for q in pieces if q.sum() * spacing[0] * spacing[1] >= 15.0]
    if len(big) >= 2:
        (x1, y1), (x2, y2) = (np.argwhere(q).mean(axis=0) for q in big[:2])
        if abs(x1 - x2) * spacing[0] > max(8.0, abs(y1 - y2) * spacing[1]):
            return big[:2], True
    return pieces[:1], False


def _dilate_2d(mask: np.ndarray, radius_mm: float, spacing: tuple[float, float, float]
               ) -> np.ndarray:
    """Dilation of a small 2-D mask, computed on its bounding box."""
    out = np.zeros_like(mask)
    if not mask.any():
        return out
    margin = int(np.ceil(radius_mm / min(spacing[:2]))) + 1
    box = _bbox(mask[:, :, None], (margin, margin, 0))[:2]
    out[box] = dilate_in_plane(mask[box][:, :, None], radius_mm, spacing)[:, :, 0]
    return out


# ---------------------------------------------------------------------------
# Lungs
# ---------------------------------------------------------------------------
def split_lungs(candidates: np.ndarray, *, midline_x: float,
                spacing: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Right and left lung (bool) from lung-candidate air: the largest component per side.

    The three largest components are cut, slice by slice, at their least-filled column
    within 40 mm of ``midline_x`` (an empty column when the lungs do not touch).
    """
    lab = cc3d.connected_components(candidates, connectivity=6)
    if lab.max() == 0:
        return np.zeros_like(candidates), np.zeros_like(candidates)
    sizes = np.bincount(lab.ravel())[1:]
    union = np.isin(lab, np.argsort(sizes)[::-1][:3] + 1)
    cut = _cut_columns(union, midline_x, spacing)
    x = np.arange(lab.shape[0])[:, None, None]
    right_side = x > cut[None, None, :]
    right = cc3d.largest_k(union & right_side, k=1, connectivity=6) > 0
    left = cc3d.largest_k(union & ~right_side, k=1, connectivity=6) > 0
    return right, left


def _cut_columns(mask: np.ndarray, mid: float, spacing: tuple[float, float, float],
                 window_mm: float = 40.0) -> np.ndarray:
    """Per slice, the x (voxels) of the least-filled column near ``mid`` (ties: nearest)."""
    half = round(window_mm / spacing[0])
    lo, hi = max(int(mid) - half, 0), min(int(mid) + half + 1, mask.shape[0])
    cuts = np.full(mask.shape[2], mid)
    if hi <= lo:
        return cuts
    counts = mask[lo:hi].sum(axis=1)  # (x, z)
    for z in range(mask.shape[2]):
        column = counts[:, z]
        best = np.flatnonzero(column == column.min()) + lo
        cuts[z] = best[np.argmin(np.abs(best - mid))]
    return cuts


def clean_lungs(right: np.ndarray, left: np.ndarray, *, lesion: np.ndarray | None,
                spacing: tuple[float, float, float], radius_mm: float, max_hole_mm2: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Add the lesion to the lung it touches, close in plane and fill holes, per side.

    Holes up to ``max_hole_mm2`` (vessels, small nodules) are filled; larger ones (the dome of
    the diaphragm cut by a slice) are not.
    """
    max_px = int(max_hole_mm2 / (spacing[0] * spacing[1]))
    extra = [np.zeros_like(right), np.zeros_like(left)]
    if lesion is not None and lesion.any():
        lab = cc3d.connected_components(lesion, connectivity=26)
        for index, box in enumerate(ndimage.find_objects(lab), start=1):
            grown = tuple(slice(max(s.start - 20, 0), s.stop + 20) for s in box)
            piece = lab[grown] == index
            near = dilate_in_plane(piece, 5.0, spacing)
            side = 0 if (near & right[grown]).sum() >= (near & left[grown]).sum() else 1
            extra[side][grown] |= piece
    out = []
    for lung, add in zip((right, left), extra, strict=True):
        lung = lung | add
        if not lung.any():
            out.append(lung)
            continue
        pad = int(np.ceil(radius_mm / min(spacing[:2]))) + 1
        box = _bbox(lung, (pad, pad, 0))
        cleaned = np.zeros_like(lung)
        closed = close_in_plane(lung[box], radius_mm, spacing)
        cleaned[box] = fill_holes_per_slice(closed, max_area_px=max_px)
        out.append(cleaned)
    right_c, left_c = out
    both = right_c & left_c
    right_c[both & ~(right | extra[0])] = False
    left_c[both & right_c] = False
    return right_c, left_c
