"""Calibration on a coarse canonical grid: lung volumes, fissure offsets, lobe samples.

Scaling the canonical thorax by (kx, ky, kz) scales each lung's volume by kx·ky·kz and
keeps lobe fractions, so measuring once on a coarse canonical grid is enough to hit a
host's lung volume and lobe fractions on any world grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lesiontrials.world.phantom.lungs import (
    LLL,
    LUL,
    RLL,
    RML,
    RUL,
    FissureOffsets,
    fissure_heights,
    lobe_map,
    lung_mask,
    side_box,
)
from lesiontrials.world.phantom.shape import ThoraxShape

#: Voxel side (canonical mm) of the calibration grid.
CALIBRATION_STEP_MM = 4.0
_MAX_SAMPLES_PER_LOBE = 3000


@dataclass(frozen=True, eq=False)
class LungCalibration:
    """Canonical lung volumes (mm³), fissure offsets and lobe point samples (canonical mm)."""

    volume_right_mm3: float
    volume_left_mm3: float
    offsets: FissureOffsets
    lobe_points: dict[int, np.ndarray]


def _axes(lo: np.ndarray, hi: np.ndarray, step: float) -> tuple[np.ndarray, ...]:
    return tuple(np.arange(lo[i] + 0.5 * step, hi[i], step) for i in range(3))


def _lobe_fraction_targets(shape: ThoraxShape) -> tuple[float, float, float]:
    """(RLL share of the right lung, RML share of RUL+RML, LLL share of the left lung)."""
    t = shape.lobe_targets
    right = t["right_lung_upper_lobe"] + t["right_lung_middle_lobe"] + t["right_lung_lower_lobe"]
    left = t["left_lung_upper_lobe"] + t["left_lung_lower_lobe"]
    rml_share = t["right_lung_middle_lobe"] / (t["right_lung_middle_lobe"]
                                               + t["right_lung_upper_lobe"])
    return t["right_lung_lower_lobe"] / right, rml_share, t["left_lung_lower_lobe"] / left


def _sample_points(mask: np.ndarray, axes: tuple[np.ndarray, ...]) -> np.ndarray:
    idx = np.argwhere(mask)
    stride = max(1, int(np.ceil(len(idx) / _MAX_SAMPLES_PER_LOBE)))
    idx = idx[::stride]
    return np.stack([axes[i][idx[:, i]] for i in range(3)], axis=1)


def calibrate_lungs(shape: ThoraxShape, *, step_mm: float = CALIBRATION_STEP_MM) -> LungCalibration:
    """Measure the canonical lungs and place the fissures at the target lobe fractions."""
    q_rll, q_rml, q_lll = _lobe_fraction_targets(shape)
    masks, axes_by_side, volumes = {}, {}, {}
    for side in (+1, -1):
        lo, hi = side_box(shape, side)
        axes = _axes(lo, hi, step_mm)
        masks[side] = lung_mask(shape, side, *axes)
        axes_by_side[side] = axes
        volumes[side] = float(masks[side].sum()) * step_mm**3
    if min(volumes.values()) <= 0:
        raise RuntimeError("phantom lungs came out empty; the shape parameters are invalid")
    offsets = _fissure_offsets(shape, masks, axes_by_side, q_rll=q_rll, q_rml=q_rml,
                               q_lll=q_lll)
    points: dict[int, np.ndarray] = {}
    for side in (+1, -1):
        lobes = lobe_map(shape, offsets, side, masks[side], *axes_by_side[side])
        for label in ((RUL, RML, RLL) if side > 0 else (LUL, LLL)):
            points[label] = _sample_points(lobes == label, axes_by_side[side])
    return LungCalibration(volumes[+1], volumes[-1], offsets, points)


def _fissure_offsets(shape: ThoraxShape, masks: dict[int, np.ndarray],
                     axes_by_side: dict[int, tuple[np.ndarray, ...]], *, q_rll: float,
                     q_rml: float, q_lll: float) -> FissureOffsets:
    """Offsets as quantiles of ``z - height(x, y)`` over the lung voxels."""
    found = {}
    for side in (+1, -1):
        X, Y, Z = axes_by_side[side]
        oblique, horizontal = fissure_heights(shape, side, X, Y)
        rel = Z[None, None, :] - oblique[:, :, None]
        values = rel[masks[side]]
        off_o = float(np.quantile(values, q_rll if side > 0 else q_lll))
        found[side] = off_o
        if horizontal is not None:
            upper = masks[side] & (rel >= off_o)
            rel_h = (Z[None, None, :] - horizontal[:, :, None])[upper]
            found[0] = float(np.quantile(rel_h, q_rml))
    return FissureOffsets(oblique_right=found[+1], horizontal=found[0], oblique_left=found[-1])

