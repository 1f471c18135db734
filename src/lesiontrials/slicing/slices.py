"""Pure slice selection and rendering: which axial slices become items, and their pixels.

Positives: the axial slice through a nodule's centroid (the nodule's slice nearest the
centroid z, so the nodule is always in plane) with its z−1/z+1 neighbours as context.
Negatives: slices at least ``margin_mm`` (and never fewer than 2 slices) from every nodule
voxel of the scan, with at least ``min_lung_area_mm2`` of lung in view, spread over the
eligible range. All arrays are RAS+ ``(x, y, z)``; display images follow
:mod:`lesiontrials.slicing.windowing`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from lesiontrials.errors import InputError
from lesiontrials.geometry import NoduleMask
from lesiontrials.io.images import CODEC_LEVELS, PngCodec
from lesiontrials.slicing.overlays import OverlayStyle, PixelBox, draw_overlay
from lesiontrials.slicing.windowing import axial_display, encode

AIR_HU = -400.0  # below this, a voxel inside the body counts as lung in the HU estimate


@dataclass(frozen=True)
class SliceParams:
    """How slices are chosen and drawn (part of every evaluation set's input digest)."""

    margin_mm: float = 10.0  # negatives: minimum z-distance from any nodule voxel (mm)
    min_lung_area_mm2: float = 5000.0  # negatives: lung area in the slice (mm²)
    negatives_per_case: int = 1  # from each scan that holds nodules
    negatives_per_free_case: int = 1  # from each nodule-free case
    edge_mm: float = 4.0  # negatives: minimum z-distance from the volume's first/last slice
    style: OverlayStyle = field(default_factory=OverlayStyle)
    #: PNG deflate: zlib level 1. ISA-L level 1 encodes 4.6× faster for 2 % smaller
    #: files, but twice gave another stream for the same pixels in another process
    #: (session 8's CI, session 9's resume test): the same inputs must give the same bytes
    #: (``benchmarks/RESULTS.md``, session 9). ``isal`` stays selectable, with that caveat.
    png_codec: PngCodec = "zlib"
    png_level: int = 1  # the codec's level (isal 0–3, zlib 0–9)

    def __post_init__(self) -> None:
        if self.png_codec not in CODEC_LEVELS or self.png_level not in CODEC_LEVELS[
                self.png_codec]:
            raise InputError(f"PNG codec {self.png_codec!r} at level {self.png_level}",
                             column="png_level", fix="use isal levels 0–3 or zlib 0–9")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def slice_uid(*, source: str, case: str, target: str | int, z: int) -> str:
    """Canonical slice uid: SHA-256 (20 hex) of (source, case, nodule/negative id, z).

    It does not depend on condition, profile or set name, so every rendering of one slice
    shares it.
    """
    text = "\x1f".join([source, case, str(target), str(int(z))])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def centre_z(nodule: NoduleMask, *, centroid_z: float | None = None) -> int:
    """The nodule's axial slice nearest its centroid z (ties → the lower slice)."""
    offset_z = nodule.offset[2]
    zs = offset_z + np.flatnonzero(nodule.mask.any(axis=(0, 1)))
    if zs.size == 0:
        raise ValueError("empty nodule mask")
    target = nodule.centroid_voxel()[2] if centroid_z is None else centroid_z
    return int(zs[np.argmin(np.abs(zs - target))])


def context_zs(z: int, depth: int) -> tuple[int, int, int]:
    """``(z−1, z, z+1)`` clipped to ``[0, depth)`` (edges repeat the centre)."""
    return (max(z - 1, 0), z, min(z + 1, depth - 1))


def z_range(nodule: NoduleMask) -> tuple[int, int] | None:
    """Inclusive axial range ``(z0, z1)`` of a nodule's voxels, ``None`` if empty."""
    zs = np.flatnonzero(nodule.mask.any(axis=(0, 1)))
    if zs.size == 0:
        return None
    return int(nodule.offset[2] + zs[0]), int(nodule.offset[2] + zs[-1])


def label_z_ranges(labels: np.ndarray, label: int) -> list[tuple[int, int]]:
    """Axial ranges holding ``label`` (one range per run of consecutive slices)."""
    present = np.flatnonzero((labels == label).any(axis=(0, 1)))
    if present.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(present) > 1)
    starts = np.concatenate([[present[0]], present[breaks + 1]])
    stops = np.concatenate([present[breaks], [present[-1]]])
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def plane_mask(nodule: NoduleMask, *, shape: tuple[int, int, int], z: int) -> np.ndarray:
    """The nodule's voxels on axial slice ``z`` as a display-oriented ``(H, W)`` mask."""
    plane = np.zeros(shape[:2], dtype=bool)
    local_z = z - nodule.offset[2]
    if 0 <= local_z < nodule.mask.shape[2]:
        x0, y0 = nodule.offset[0], nodule.offset[1]
        crop = nodule.mask[:, :, local_z]
        xs = slice(max(x0, 0), min(x0 + crop.shape[0], shape[0]))
        ys = slice(max(y0, 0), min(y0 + crop.shape[1], shape[1]))
        plane[xs, ys] = crop[xs.start - x0:xs.stop - x0, ys.start - y0:ys.stop - y0]
    return axial_display(plane)


def lung_area_mm2(lung: np.ndarray, *, spacing_mm: Sequence[float]) -> np.ndarray:
    """Lung area per axial slice in mm² (``(Z,)``) from a boolean ``(X, Y, Z)`` mask."""
    counts = np.count_nonzero(lung, axis=(0, 1))
    return counts.astype(float) * float(spacing_mm[0]) * float(spacing_mm[1])


def labels_in(labels: np.ndarray, ids: Sequence[int]) -> np.ndarray:
    """Boolean mask of the voxels whose uint8 label is in ``ids`` (a lookup table; much
    faster than ``np.isin`` on large volumes)."""
    table = np.zeros(256, dtype=bool)
    table[np.asarray(ids, dtype=int)] = True
    return table[np.asarray(labels, dtype=np.uint8)]


def hu_lung_mask(hu: np.ndarray, *, air_hu: float = AIR_HU) -> np.ndarray:
    """Rough lung mask from HU alone: air below ``air_hu`` that is not connected to the
    slice border (the air around the patient), slice by slice. ``(X, Y, Z)`` bool."""
    air = np.asarray(hu) < air_hu
    out = np.zeros_like(air)
    for z in range(air.shape[2]):
        labels, n = ndimage.label(air[:, :, z])
        if n == 0:
            continue
        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        keep = np.ones(n + 1, dtype=bool)
        keep[border] = False
        keep[0] = False
        out[:, :, z] = keep[labels]
    return out


def negative_candidates(
    *,
    depth: int,
    excluded: Sequence[tuple[int, int]],
    lung_area: np.ndarray,
    spacing_z_mm: float,
    margin_mm: float,
    min_lung_area_mm2: float,
    edge_mm: float = 0.0,
) -> np.ndarray:
    """Slices eligible as negatives: far enough (≥ ``margin_mm``, ≥ 2 slices) from every
    excluded range, enough lung, and not at the volume's edge: z±1 exist and the slice is
    more than ``edge_mm`` from the first and last slice (a case's CT may be an axial slab,
    whose end slices the scanner's z-blur treats differently from the inside)."""
    margin = max(2, math.ceil(margin_mm / spacing_z_mm))
    edge = max(1, math.ceil(edge_mm / spacing_z_mm))
    z = np.arange(depth)
    ok = (z >= edge) & (z <= depth - 1 - edge) & (np.asarray(lung_area) >= min_lung_area_mm2)
    for z0, z1 in excluded:
        distance = np.maximum(np.maximum(z0 - z, z - z1), 0)
        ok &= distance >= margin
    return z[ok]


def choose_spread(candidates: np.ndarray, count: int, rng: np.random.Generator) -> list[int]:
    """Pick ``count`` candidates spread over their range: one at random from each of
    ``count`` consecutive groups (sorted output; fewer when there are fewer candidates)."""
    candidates = np.sort(np.asarray(candidates, dtype=int))
    if count <= 0 or candidates.size == 0:
        return []
    groups = np.array_split(candidates, min(count, candidates.size))
    return sorted(int(rng.choice(g)) for g in groups)


@dataclass(frozen=True)
class RenderedItem:
    """One slice's encoded images in one profile: per condition (image, drawn box), plus
    the plain z−1/z+1 neighbours."""

    conditions: dict[str, tuple[np.ndarray, PixelBox | None]]
    context: tuple[np.ndarray, np.ndarray]


def render_item(
    encoded: dict[int, np.ndarray],
    *,
    zs: tuple[int, int, int],
    plane: np.ndarray | None,
    conditions: Sequence[str],
    style: OverlayStyle,
) -> RenderedItem:
    """Overlay the centre slice ``encoded[zs[1]]`` for each condition (``plane`` is the
    nodule's display mask, ``None`` for negatives); neighbours stay plain."""
    centre = encoded[zs[1]]
    drawn = {c: draw_overlay(centre, plane, condition=c, style=style) for c in conditions}
    return RenderedItem(drawn, (encoded[zs[0]], encoded[zs[2]]))


def encode_slices(hu: np.ndarray, zs: Sequence[int], *, profile: str) -> dict[int, np.ndarray]:
    """Display-orient and encode each needed axial slice once: ``{z: uint8 image}``."""
    return {int(z): encode(axial_display(hu[:, :, int(z)]), profile=profile)
            for z in sorted(set(zs))}
