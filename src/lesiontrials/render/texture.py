"""Tissue structure the label map does not hold: fat/muscle layers of the body, lung
vessels below the label map's resolution, airway walls and bone cortex/marrow.

Each ``paint_*`` function draws in place on a float32 HU volume, deterministically from its
:class:`TextureParams`; heavy work happens on a coarse grid (about 1.5 mm) or in the
bounding box of the structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import edt
import numpy as np
from scipy import ndimage
from scipy.special import ndtri

from lesiontrials import anatomy
from lesiontrials.render.fields import coarse_shape, resize_linear, smooth_field
from lesiontrials.render.tissue import AIRWAY_LABELS, BONE_LABELS, LUNG_LABELS

Boxes = list[tuple[slice, slice, slice] | None]


@dataclass(frozen=True)
class TextureParams:
    """Decided structure parameters (mm, HU) and field seeds."""

    fat_mm: float  # subcutaneous fat thickness
    muscle_mm: float  # chest-wall muscle thickness below the fat
    deep_fat_fraction: float  # share of the deep body (mediastinum, abdomen) that is fat
    vessel_widths: tuple[float, float]  # ε of the fine and coarse vessel networks
    vessel_hu: float
    gravity_hu: float  # dependent (posterior) lung is denser by up to this much
    seeds: tuple[int, ...]


def sample_texture_params(rng: np.random.Generator) -> TextureParams:
    return TextureParams(
        fat_mm=float(rng.uniform(8.0, 22.0)),
        muscle_mm=float(rng.uniform(8.0, 16.0)),
        deep_fat_fraction=float(rng.uniform(0.8, 0.9)),
        vessel_widths=(float(rng.uniform(0.22, 0.26)), float(rng.uniform(0.12, 0.15))),
        vessel_hu=float(rng.uniform(20.0, 50.0)),
        gravity_hu=float(rng.uniform(25.0, 45.0)),
        seeds=tuple(int(s) for s in rng.integers(0, 2**31 - 1, 8)),
    )


def _upsample_nearest(coarse: np.ndarray, factors: tuple[int, ...],
                      shape: tuple[int, ...]) -> np.ndarray:
    out = coarse
    for axis, factor in enumerate(factors):
        if factor > 1:
            out = np.repeat(out, factor, axis=axis)
    return out[tuple(slice(0, n) for n in shape)]


#: Label codes (unused MAISI ids) for the body's layers, three texture levels each:
#: tissue → (code of the low, middle, high level). Levels sit at mean + (−1, 0, +1)·SD.
BODY_CODES: dict[str, tuple[int, int, int]] = {
    "fat": (241, 242, 243), "muscle": (244, 245, 246), "soft_tissue": (247, 248, 249)}
_MEDIASTINAL = (anatomy.HEART, anatomy.AORTA)


def body_code_hu(means: dict[str, float]) -> dict[int, float]:
    """HU of every body code: the tissue mean ± its texture SD."""
    from lesiontrials.render.tissue import TISSUES

    return {code: means[name] + level * TISSUES[name].texture_sd_hu
            for name, codes in BODY_CODES.items() for level, code in zip((-1, 0, 1), codes,
                                                                          strict=True)}


def split_body(code: np.ndarray, spacing_mm: tuple[float, float, float],
               params: TextureParams) -> None:
    """Recode label 200 in ``code`` (a copy of the labels) by depth below the skin: skin,
    subcutaneous fat, muscle, then deep tissue — mostly fat with soft-tissue islands when
    the mediastinal organs have their own labels (phantoms), mostly soft tissue when the
    body label also covers heart and vessels (real-host label maps). In place."""
    f, g, h = (max(1, round(1.5 / s)) for s in spacing_mm)
    coarse = code[::f, ::g, ::h]
    patient = coarse != anatomy.BACKGROUND
    depth = edt.edt(patient.view(np.uint8), anisotropy=(spacing_mm[0] * f, spacing_mm[1] * g,
                                                       1e6), black_border=False)
    wobble = smooth_field(params.seeds[0], depth.shape, (4.0, 4.0, 4.0))
    nodes = smooth_field(params.seeds[1], depth.shape, (1.5, 1.5, 1.5))
    grain = smooth_field(params.seeds[7], depth.shape, (1.0, 1.0, 1.0))
    fat_edge = params.fat_mm + 3.0 * wobble
    muscle_edge = fat_edge + params.muscle_mm + 2.0 * wobble
    deep_fat = params.deep_fat_fraction if np.isin(coarse, _MEDIASTINAL).any() else 0.55
    classes = np.zeros(depth.shape, dtype=np.uint8)  # 0 fat, 1 muscle, 2 soft tissue
    classes[(nodes > float(ndtri(deep_fat))) & (depth > muscle_edge + 8.0)] = 2
    classes[depth < muscle_edge + 8.0] = 1  # muscle and intercostal soft tissue
    classes[depth < fat_edge] = 0  # subcutaneous fat
    classes[depth < 1.5] = 1  # skin
    level = np.digitize(grain, (-0.6, 0.6)).astype(np.uint8)  # 0, 1, 2 texture levels
    table = np.array([c for codes in BODY_CODES.values() for c in codes], dtype=np.uint8)
    full = _upsample_nearest(table[classes * 3 + level], (f, g, h), code.shape)
    np.copyto(code, full, where=code == anatomy.BODY)


def _union_box(boxes: Boxes, ids: tuple[int, ...]) -> tuple[slice, ...] | None:
    found = [boxes[i - 1] for i in ids if i - 1 < len(boxes) and boxes[i - 1] is not None]
    if not found:
        return None
    return tuple(slice(min(b[a].start for b in found if b is not None),
                       max(b[a].stop for b in found if b is not None)) for a in range(3))


def paint_lungs(volume: np.ndarray, labels: np.ndarray, spacing_mm: tuple[float, float, float],
                params: TextureParams, means: dict[str, float], boxes: Boxes) -> None:
    """Parenchyma with two vessel networks (curves where two random fields cross zero),
    thinner and fainter towards the pleura, a smooth texture and a dependent-density
    gradient (denser posteriorly, as in a supine patient)."""
    box = _union_box(boxes, (*LUNG_LABELS, anatomy.NODULE))
    if box is None:
        return
    crop_labels = labels[box]
    lung = np.isin(crop_labels, (*LUNG_LABELS, anatomy.NODULE))
    shape = coarse_shape(lung.shape, spacing_mm, 1.5)
    step = tuple(n_full * s / n for n_full, s, n in zip(lung.shape, spacing_mm, shape,
                                                        strict=True))
    coarse_lung = resize_linear(lung.astype(np.float32), shape) > 0.5
    depth = edt.edt(coarse_lung.view(np.uint8), anisotropy=step, black_border=True)
    taper = np.clip(depth / 25.0, 0.0, 1.0)
    vessels = np.zeros(shape, dtype=np.float32)
    for k, (eps, corr_mm) in enumerate(zip(params.vessel_widths, (4.0, 11.0), strict=True)):
        sigma = tuple(corr_mm / s for s in step)
        a = smooth_field(params.seeds[2 + 2 * k], shape, sigma)
        b = smooth_field(params.seeds[3 + 2 * k], shape, sigma)
        width = eps * (0.45 + 0.55 * taper)
        q = (a * a + b * b) / (2.0 * width * width)
        np.maximum(vessels, np.exp(-q * q), out=vessels)  # flat-topped tube profile
    vessels *= 0.7 + 0.3 * taper
    texture = smooth_field(params.seeds[6], shape, tuple(3.0 / s for s in step))
    ap = np.linspace(1.0, -1.0, shape[1], dtype=np.float32)[None, :, None]  # posterior → +1
    lung_hu = means["lung"] - 45.0 + params.gravity_hu * ap
    coarse = lung_hu + 30.0 * texture + (params.vessel_hu - lung_hu) * vessels
    fine = resize_linear(coarse, lung.shape)
    region = volume[box]
    region[lung] = fine[lung]


def paint_airway_walls(volume: np.ndarray, labels: np.ndarray,
                       spacing_mm: tuple[float, float, float], means: dict[str, float],
                       boxes: Boxes) -> None:
    """Airway lumen as air and its outermost voxel layer as wall (partial volume for voxels
    coarser than a 1 mm wall)."""
    box = _union_box(boxes, AIRWAY_LABELS)
    if box is None:
        return
    airway = np.isin(labels[box], AIRWAY_LABELS)
    lumen = ndimage.binary_erosion(airway, structure=ndimage.generate_binary_structure(3, 1)[
        :, :, 1:2])  # in-plane erosion: walls run along the tube
    share = min(1.0, 1.0 / min(spacing_mm[:2]))
    wall_hu = means["airway_lumen"] + share * (means["airway_wall"] - means["airway_lumen"])
    region = volume[box]
    region[airway & ~lumen] = wall_hu


def paint_bones(volume: np.ndarray, labels: np.ndarray, spacing_mm: tuple[float, float, float],
                means: dict[str, float], boxes: Boxes) -> None:
    """Cortex (outer ~1.2 mm) and marrow of every bone label, per bone bounding box."""
    share = min(1.0, 1.2 / min(spacing_mm))
    cortex_hu = means["bone_marrow"] + share * (means["bone_cortex"] - means["bone_marrow"])
    for label in BONE_LABELS:
        if label - 1 >= len(boxes) or boxes[label - 1] is None:
            continue
        box = boxes[label - 1]
        assert box is not None
        bone = labels[box] == label
        depth = edt.edt(bone.view(np.uint8), anisotropy=spacing_mm, black_border=True)
        region = volume[box]
        region[bone & (depth <= max(1.2, min(spacing_mm) * 1.01))] = cortex_hu
