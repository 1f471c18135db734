"""Lung and airway structure the label map does not hold: parenchyma density, vessels
below the label map's resolution, airway walls.

The parenchyma has a level (its median HU; a host's measured lung density when known), a
gravity-dependent gradient — a supine patient's posterior (dependent) lung is denser, by
about 40–60 HU from front to back on the packaged real chest CTs — and a smooth texture.
Two vessel networks (curves where two random fields cross zero) are thinner and fainter
towards the pleura. Each ``paint_*`` function draws in place on a float32 HU volume,
deterministically from its parameters; heavy work happens on a coarse grid (about 1.5 mm)
or in the bounding box of the structure. Body composition:
:mod:`~lesiontrials.render.appearance.body`; bone: :mod:`~lesiontrials.render.appearance.bone`.
"""

from __future__ import annotations

from dataclasses import dataclass

import edt
import numpy as np
from scipy import ndimage

from lesiontrials import anatomy
from lesiontrials.render.appearance.fields import (
    coarse_shape,
    resize_linear,
    smooth_field,
    smooth_field_coarse,
)
from lesiontrials.render.appearance.tissue import AIRWAY_LABELS, LUNG_LABELS

Boxes = list[tuple[slice, slice, slice] | None]
_AIR_HU = -1000.0
_VESSEL_CORR_MM = (4.0, 11.0)  # peripheral and hilar vessel networks
_FINE_SHARE, _BROAD_SHARE = 0.6, 0.8  # of the texture SD: 1.5 mm mottling, 8 mm regions


@dataclass(frozen=True)
class LungParams:
    """Decided lung structure (mm, HU) and field seeds."""

    vessel_widths: tuple[float, float]  # ε of the peripheral and hilar vessel networks
    vessel_hu: float
    gravity: float  # half the front-to-back difference of log tissue fraction
    texture: float  # SD of the log tissue fraction's smooth texture
    seeds: tuple[int, ...]


def sample_lung_params(rng: np.random.Generator) -> LungParams:
    return LungParams(
        vessel_widths=(float(rng.uniform(0.26, 0.31)), float(rng.uniform(0.17, 0.21))),
        vessel_hu=float(rng.uniform(20.0, 50.0)),
        gravity=float(rng.uniform(0.14, 0.24)),
        texture=float(rng.uniform(0.28, 0.38)),
        seeds=tuple(int(s) for s in rng.integers(0, 2**31 - 1, 6)),
    )


def union_box(boxes: Boxes, ids: tuple[int, ...]) -> tuple[slice, ...] | None:
    """The bounding box of the labels ``ids`` from ``ndimage.find_objects`` boxes."""
    found = [boxes[i - 1] for i in ids if i - 1 < len(boxes) and boxes[i - 1] is not None]
    if not found:
        return None
    return tuple(slice(min(b[a].start for b in found if b is not None),
                       max(b[a].stop for b in found if b is not None)) for a in range(3))


def _vessels(shape: tuple[int, ...], step: tuple[float, ...], taper: np.ndarray,
             params: LungParams) -> np.ndarray:
    """Vessel occupancy (0…1) on the coarse grid: tubes along the curves where two random
    fields both cross zero, one network per correlation length (peripheral, hilar)."""
    vessels = np.zeros(shape, dtype=np.float32)
    for k, (eps, corr_mm) in enumerate(zip(params.vessel_widths, _VESSEL_CORR_MM,
                                           strict=True)):
        sigma = tuple(corr_mm / s for s in step)
        field = smooth_field_coarse if min(sigma) >= 3.0 else smooth_field
        a = field(params.seeds[2 * k], shape, sigma)
        b = field(params.seeds[1 + 2 * k], shape, sigma)
        width = eps * (0.45 + 0.55 * taper)
        q = (a * a + b * b) / (2.0 * width * width)
        np.maximum(vessels, np.exp(-q * q), out=vessels)  # flat-topped tube profile
    vessels *= 0.7 + 0.3 * taper
    return vessels


def _parenchyma(shape: tuple[int, ...], step: tuple[float, ...], params: LungParams,
                level_hu: float) -> np.ndarray:
    """Parenchyma HU on the coarse grid: air plus a tissue fraction that is log-normal
    around the level's, denser towards the back (gravity) and mottled at two scales."""
    log_fraction = smooth_field(params.seeds[-2], shape, tuple(max(0.6, 1.5 / s) for s in step))
    log_fraction *= np.float32(params.texture * _FINE_SHARE)
    log_fraction += np.float32(params.texture * _BROAD_SHARE) * smooth_field_coarse(
        params.seeds[-1], shape, tuple(8.0 / s for s in step))
    ap = np.linspace(1.0, -1.0, shape[1], dtype=np.float32)[None, :, None]  # posterior → +1
    log_fraction += np.float32(params.gravity) * ap
    return np.float32(_AIR_HU) + np.float32(level_hu - _AIR_HU) * np.exp(log_fraction)


def paint_lungs(volume: np.ndarray, labels: np.ndarray, spacing_mm: tuple[float, float, float],
                params: LungParams, level_hu: float, boxes: Boxes) -> None:
    """Parenchyma (median ``level_hu``) with its gravity gradient, texture and vessels."""
    box = union_box(boxes, (*LUNG_LABELS, anatomy.NODULE))
    if box is None:
        return
    lung = np.isin(labels[box], (*LUNG_LABELS, anatomy.NODULE))
    shape = coarse_shape(lung.shape, spacing_mm, 1.5)
    step = tuple(n_full * s / n for n_full, s, n in zip(lung.shape, spacing_mm, shape,
                                                        strict=True))
    coarse_lung = resize_linear(lung.astype(np.float32), shape) > 0.5
    depth = edt.edt(coarse_lung.view(np.uint8), anisotropy=step, black_border=True)
    vessels = _vessels(shape, step, np.clip(depth / 25.0, 0.0, 1.0), params)
    del depth
    coarse = _parenchyma(shape, step, params, level_hu)
    coarse += (np.float32(params.vessel_hu) - coarse) * vessels
    fine = resize_linear(coarse, lung.shape)
    region = volume[box]
    region[lung] = fine[lung]


def match_lung_median(volume: np.ndarray, labels: np.ndarray, median_hu: float, *,
                      with_nodules: bool = True) -> None:
    """Shift the lung voxels so that their median is ``median_hu`` (a host's measured lung
    density). Done on the painted anatomy (inserted nodules' voxels are lung background
    there), and once more, by the few HU the scanner's blur of the vessels adds, on the
    rendered image (``with_nodules=False``: drawn lesions keep their HU)."""
    lung = np.isin(labels, (*LUNG_LABELS, anatomy.NODULE) if with_nodules else LUNG_LABELS)
    if not lung.any():
        return
    values = volume[lung]
    volume[lung] = values + np.float32(median_hu - float(np.median(values[::3])))


def paint_airway_walls(volume: np.ndarray, labels: np.ndarray,
                       spacing_mm: tuple[float, float, float], means: dict[str, float],
                       boxes: Boxes) -> None:
    """Airway lumen as air and its outermost voxel layer as wall (partial volume for voxels
    coarser than a 1 mm wall)."""
    box = union_box(boxes, AIRWAY_LABELS)
    if box is None:
        return
    airway = np.isin(labels[box], AIRWAY_LABELS)
    lumen = ndimage.binary_erosion(airway, structure=ndimage.generate_binary_structure(3, 1)[
        :, :, 1:2])  # in-plane erosion: walls run along the tube
    share = min(1.0, 1.0 / min(spacing_mm[:2]))
    wall_hu = means["airway_lumen"] + share * (means["airway_wall"] - means["airway_lumen"])
    region = volume[box]
    region[airway & ~lumen] = wall_hu
