"""Geometry for MAISI: snap a label map to the sizes the model accepts, and restore it.

MAISI generates volumes whose in-plane size is one of ``ACCEPTED_XY`` and whose depth is
one of ``ACCEPTED_Z`` voxels. A host grid is brought there by (1) resampling (nearest
neighbour for labels) when an axis is longer than the largest accepted size, then (2)
centre-padding each axis with background up to the next accepted size. :func:`restore`
undoes both on the generated HU volume (crop, then linear resampling back), so the output
has the host's shape and therefore keeps the host's affine and origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

ACCEPTED_XY: tuple[int, ...] = (256, 384, 512)
ACCEPTED_Z: tuple[int, ...] = (128, 256, 384, 512, 640, 768)


@dataclass(frozen=True)
class SnapPlan:
    """How a host grid maps onto the model grid (all per axis x, y, z)."""

    host_shape: tuple[int, int, int]
    resampled_shape: tuple[int, int, int]
    model_shape: tuple[int, int, int]
    pad_before: tuple[int, int, int]
    model_spacing_mm: tuple[float, float, float]


def plan_snap(shape: tuple[int, int, int], spacing_mm: tuple[float, float, float], *,
              accepted_xy: tuple[int, ...] = ACCEPTED_XY,
              accepted_z: tuple[int, ...] = ACCEPTED_Z) -> SnapPlan:
    """Decide the resampling and padding that bring ``shape`` to accepted sizes."""
    resampled, model, pad, spacing = [], [], [], []
    for n, s, accepted in zip(shape, spacing_mm, (accepted_xy, accepted_xy, accepted_z),
                              strict=True):
        largest = max(accepted)
        m = min(n, largest)
        target = min(a for a in accepted if a >= m)
        resampled.append(m)
        model.append(target)
        pad.append((target - m) // 2)
        spacing.append(s * n / m)
    return SnapPlan(tuple(shape), tuple(resampled), tuple(model), tuple(pad),  # type: ignore[arg-type]
                    tuple(spacing))  # type: ignore[arg-type]


def _zoom_to(array: np.ndarray, shape: tuple[int, ...], order: int) -> np.ndarray:
    if array.shape == tuple(shape):
        return array
    factors = [t / n for t, n in zip(shape, array.shape, strict=True)]
    return ndimage.zoom(array, factors, order=order, mode="nearest", grid_mode=True)


def snap_labels(labels: np.ndarray, plan: SnapPlan) -> np.ndarray:
    """Labels on the model grid (nearest-neighbour resampling, background padding)."""
    resampled = _zoom_to(labels, plan.resampled_shape, order=0)
    out = np.zeros(plan.model_shape, dtype=labels.dtype)
    box = tuple(slice(p, p + n) for p, n in zip(plan.pad_before, plan.resampled_shape,
                                                strict=True))
    out[box] = resampled
    return out


def restore(volume: np.ndarray, plan: SnapPlan) -> np.ndarray:
    """A model-grid volume back on the host grid (crop the padding, resample linearly)."""
    box = tuple(slice(p, p + n) for p, n in zip(plan.pad_before, plan.resampled_shape,
                                                strict=True))
    return _zoom_to(np.asarray(volume[box], dtype=np.float32), plan.host_shape, order=1)


def label_bits(labels: np.ndarray) -> np.ndarray:
    """``(8, *shape)`` float32: bit k of every label id (MAISI ControlNet conditioning)."""
    ids = np.asarray(labels, dtype=np.uint8)
    return np.stack([((ids >> k) & 1).astype(np.float32) for k in range(8)])
