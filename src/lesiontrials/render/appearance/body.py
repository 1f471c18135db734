"""Composition of the body region (label 200): skin, subcutaneous fat, muscle, deep tissue.

The label map holds the body as one region; its fat and lean tissue are drawn here as a
*fat fraction* ``f`` ∈ [0, 1] per voxel, ``HU = f·fat + (1 − f)·lean``, on a coarse grid
(about 1.5 mm in-plane). The expected fat share ``μ`` depends on the depth below the skin
— dermis, subcutaneous fat with fibrous septa, the chest-wall muscle layer with inter- and
intramuscular fat (marbling), then the deep body — and the pattern is a unit-variance
random field ``G`` thresholded softly::

    f = Φ((t − G) / s),   t = Φ⁻¹(μ) · √(1 + s²)

so that ``E[f] = μ`` exactly. ``G`` mixes, with weights that change with depth, a fine
field (1.5 mm: septa, marbling), an organ-scale field (:data:`ORGAN_MM`: fat pads around
organs; it also moves the zone edges) and sheets parallel to the skin (the fat planes
between chest-wall muscles). ``s`` is the partial-volume softness: fat and lean structures
finer than a voxel leave voxels between −100 and +40 HU, as real 5 mm chest CT shows
(about a sixth of the packaged real CTs' body voxels lie in −80…0 HU, twice what a
fat/muscle layering gives). The deep body is mostly fat around labelled organs (phantoms)
and mostly lean where the label map also covers heart, vessels and liver (real hosts).
Lean tissue varies by the muscle texture SD within a muscle and between organs.

The result is quantised to 4 HU steps and carried as label codes (unused MAISI ids
:data:`CODE_FIRST`…) so the full-resolution image is one table lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

import edt
import numpy as np
from scipy.special import ndtr, ndtri

from lesiontrials import anatomy
from lesiontrials.render.appearance.fields import smooth_field, smooth_field_coarse

CODE_FIRST, CODE_COUNT = 136, 64  # label codes 136…199 (unused MAISI ids)
CODE_LOW_HU, CODE_STEP_HU = -140.0, 4.0  # code k ↔ CODE_LOW_HU + k · CODE_STEP_HU
_MEDIASTINAL = (anatomy.HEART, anatomy.AORTA)
ORGAN_MM = 10.0  # correlation length of the organ-scale pattern


@dataclass(frozen=True)
class BodyParams:
    """Decided body composition (mm, fractions) and field seeds."""

    skin_mm: float  # dermis thickness
    fat_mm: float  # subcutaneous fat thickness (below the skin)
    muscle_mm: float  # chest-wall muscle layer thickness below the fat
    septa: float  # lean share of the subcutaneous fat (fibrous septa)
    marbling: float  # fat share of the muscle layer (inter- and intramuscular fat)
    deep_fat_organs: float  # fat share of the deep body when organs have labels
    deep_fat_plain: float  # fat share of the deep body when they do not
    softness: float  # partial-volume softness ``s`` of the fat pattern
    sheet_mm: float  # spacing of the fat planes between chest-wall muscles
    seeds: tuple[int, int, int]  # organ scale (and zone wobble), fine pattern, lean texture


def sample_body_params(rng: np.random.Generator) -> BodyParams:
    """Draw a body composition."""
    return BodyParams(
        skin_mm=float(rng.uniform(1.5, 2.5)),
        fat_mm=float(rng.uniform(6.0, 22.0)),
        muscle_mm=float(rng.uniform(10.0, 20.0)),
        septa=float(rng.uniform(0.02, 0.05)),
        marbling=float(rng.uniform(0.30, 0.45)),
        deep_fat_organs=float(rng.uniform(0.75, 0.9)),
        deep_fat_plain=float(rng.uniform(0.25, 0.40)),
        softness=float(rng.uniform(0.3, 0.45)),
        sheet_mm=float(rng.uniform(7.0, 12.0)),
        seeds=tuple(int(s) for s in rng.integers(0, 2**31 - 1, 3)),  # type: ignore[arg-type]
    )


def code_hu() -> np.ndarray:
    """HU of each body code (``CODE_COUNT`` values)."""
    return (CODE_LOW_HU + CODE_STEP_HU * np.arange(CODE_COUNT)).astype(np.float32)


def _zone_knots(params: BodyParams, deep_fat: float) -> tuple[list[float], np.ndarray]:
    """Depth knots (mm) and, per knot, the pattern's threshold ``t``, softness ``s`` and
    the weights of its fine, organ-scale and sheet components (linear between knots)."""
    p = params
    fat_end = p.skin_mm + p.fat_mm
    muscle_end = fat_end + p.muscle_mm
    depth = [0.0, p.skin_mm, p.skin_mm + 2.0, fat_end - 1.0, fat_end + 1.0,
             muscle_end - 2.0, muscle_end + 2.0]
    share = [0.0, 0.0, 1.0 - p.septa, 1.0 - p.septa, p.marbling, p.marbling, deep_fat]
    sub, deep = 2.0 * p.softness, 1.3 * p.softness  # septa are thinner than a voxel
    soft = [p.softness, p.softness, sub, sub, p.softness, p.softness, deep]
    weights = [_SKIN, _SKIN, _SUBCUTANEOUS, _SUBCUTANEOUS, _MUSCLE, _MUSCLE, _DEEP]
    rows = [[float(ndtri(np.clip(mu, 0.005, 0.995))) * float(np.sqrt(1.0 + s * s)), s,
             *(np.asarray(w) / np.linalg.norm(w))]
            for mu, s, w in zip(share, soft, weights, strict=True)]
    return depth, np.array(rows, dtype=np.float64)


# Weights of the fat pattern's components per zone: fine (septa, marbling), organ-scale
# (fat around organs), sheets parallel to the skin (fat planes between muscles).
_SKIN, _SUBCUTANEOUS = (1.0, 0.0, 0.0), (1.0, 0.3, 0.0)
_MUSCLE, _DEEP = (0.7, 0.3, 0.6), (0.5, 1.0, 0.0)


def _pattern(depth: np.ndarray, knots: list[float], table: np.ndarray, organ: np.ndarray,
             params: BodyParams, sigma_fine: tuple[float, ...]) -> np.ndarray:
    """``(t − G)/s`` on the coarse grid, ``G`` the zone-weighted unit-variance pattern.
    Depth-dependent terms come from tables in 0.25 mm steps."""
    steps = np.arange(0.0, float(depth.max()) + 0.5, 0.25)
    index = np.clip(depth * 4.0, 0, steps.size - 1).astype(np.intp)
    sheets = np.sqrt(2.0) * np.cos(steps * (2.0 * np.pi / params.sheet_mm))

    def at(column: int, factor: np.ndarray | float = 1.0) -> np.ndarray:
        return (np.interp(steps, knots, table[:, column]) * factor).astype(np.float32)[index]

    pattern = at(3) * organ
    pattern += at(4, sheets)
    pattern += at(2) * smooth_field(params.seeds[1], depth.shape, sigma_fine)
    out = at(0)
    out -= pattern
    out /= at(1)
    return out


def body_fat_fraction(coarse: np.ndarray, coarse_spacing: tuple[float, float, float],
                      params: BodyParams, organ: np.ndarray) -> np.ndarray:
    """Fat fraction (float32, 0…1) of every voxel of a coarse label grid (meaningful in the
    body; the depth is measured in plane from the skin). ``organ``: the organ-scale field,
    which also moves the zone edges (a leaner region has a thinner fat layer)."""
    patient = coarse != anatomy.BACKGROUND
    depth = edt.edt(patient.view(np.uint8),
                    anisotropy=(coarse_spacing[0], coarse_spacing[1], 1e6), black_border=False)
    depth -= 3.0 * organ * np.clip(depth / 6.0, 0.0, 1.0)  # the skin stays at the skin
    np.maximum(depth, 0.0, out=depth)
    deep_fat = (params.deep_fat_organs if np.isin(coarse, _MEDIASTINAL).any()
                else params.deep_fat_plain)
    knots, table = _zone_knots(params, deep_fat)
    sigma = tuple(max(0.6, 1.5 / s) for s in coarse_spacing)
    return ndtr(_pattern(depth, knots, table, organ, params, sigma)).astype(np.float32)


def body_codes(coarse: np.ndarray, coarse_spacing: tuple[float, float, float],
               params: BodyParams, means: dict[str, float], lean_sd_hu: float) -> np.ndarray:
    """uint8 body codes (``CODE_FIRST`` + level) of every coarse voxel. Lean tissue varies
    by ``lean_sd_hu``, within a muscle (1 mm) and between organs (denser organ cores)."""
    organ = smooth_field_coarse(params.seeds[0], coarse.shape,
                                tuple(ORGAN_MM / s for s in coarse_spacing))
    fat = body_fat_fraction(coarse, coarse_spacing, params, organ)
    lean = smooth_field(params.seeds[2], fat.shape, tuple(max(0.5, 1.0 / s)
                                                         for s in coarse_spacing))
    lean += organ
    del organ
    lean *= np.float32(lean_sd_hu / np.sqrt(2.0))
    lean += np.float32(means["muscle"])
    fat *= np.float32(means["fat"]) - lean
    fat += lean
    fat -= np.float32(CODE_LOW_HU)
    fat *= np.float32(1.0 / CODE_STEP_HU)
    np.clip(fat, 0, CODE_COUNT - 1, out=fat)
    return (np.rint(fat) + CODE_FIRST).astype(np.uint8)


def _upsample_nearest(coarse: np.ndarray, factors: tuple[int, ...],
                      shape: tuple[int, ...]) -> np.ndarray:
    out = coarse
    for axis, factor in enumerate(factors):
        if factor > 1:
            out = np.repeat(out, factor, axis=axis)
    return out[tuple(slice(0, n) for n in shape)]


def split_body(code: np.ndarray, spacing_mm: tuple[float, float, float], params: BodyParams,
               means: dict[str, float], lean_sd_hu: float) -> None:
    """Recode label 200 in ``code`` (a copy of the labels) into body codes. In place."""
    factors = tuple(max(1, round(1.5 / s)) for s in spacing_mm)
    coarse = code[::factors[0], ::factors[1], ::factors[2]]
    coarse_spacing = tuple(s * f for s, f in zip(spacing_mm, factors, strict=True))
    codes = body_codes(coarse, coarse_spacing, params, means,  # type: ignore[arg-type]
                       lean_sd_hu)
    np.copyto(code, _upsample_nearest(codes, factors, code.shape), where=code == anatomy.BODY)
