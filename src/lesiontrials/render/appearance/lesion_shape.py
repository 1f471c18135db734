"""Geometry for lesion appearance, in a crop around the mask (all lengths in mm).

Unit directions from the centroid, lobulation bumps, soft edges, spicule strands and balls;
the shape itself is a :class:`~lesiontrials.shape_field.ShapeField`. Pure
functions on arrays.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr


def unit_directions(offsets_mm: np.ndarray) -> np.ndarray:
    """Unit vectors from the centroid (``(3, *crop)``; zero offset → +z)."""
    norm = np.sqrt((offsets_mm**2).sum(axis=0, keepdims=True))
    out = offsets_mm / np.maximum(norm, 1e-6)
    out[2][norm[0] < 1e-6] = 1.0
    return out


def lobulation_offset_mm(directions: np.ndarray, lobe_axes: np.ndarray,
                         lobe_weights: np.ndarray, amplitude_mm: float) -> np.ndarray:
    """Radial bump (mm) from a few cosine lobes ``max(0, u·v_k)^4``, centred to mean 0."""
    if amplitude_mm <= 0 or len(lobe_axes) == 0:
        return np.zeros(directions.shape[1:], dtype=np.float32)
    bumps = np.zeros(directions.shape[1:], dtype=np.float32)
    for axis, weight in zip(lobe_axes, lobe_weights, strict=True):
        cos = np.tensordot(axis.astype(np.float32), directions, axes=(0, 0))
        bumps += weight * np.clip(cos, 0.0, None) ** 4
    return (amplitude_mm * (bumps - 0.2 * float(np.sum(lobe_weights)))).astype(np.float32)


def soft_edge(sd_mm: np.ndarray, width_mm: float) -> np.ndarray:
    """Opacity 0…1 across a boundary: a Gaussian-blurred step of SD ``width_mm``."""
    return ndtr(sd_mm / max(width_mm, 1e-3)).astype(np.float32)


def segment_distance(offsets_mm: np.ndarray, start_mm: np.ndarray, end_mm: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) of each point to the segment ``start → end`` and the position
    ``t`` (0…1) of its nearest point along it."""
    axis = (end_mm - start_mm).astype(np.float32)
    length2 = float(axis @ axis) or 1e-6
    rel = offsets_mm - start_mm.reshape(3, *([1] * (offsets_mm.ndim - 1))).astype(np.float32)
    t = np.clip(np.tensordot(axis, rel, axes=(0, 0)) / length2, 0.0, 1.0)
    closest = rel - axis.reshape(3, *([1] * (offsets_mm.ndim - 1))) * t
    return np.sqrt((closest**2).sum(axis=0)), t


def segment_opacity(offsets_mm: np.ndarray, start_mm: np.ndarray, end_mm: np.ndarray,
                    width0_mm: float, width1_mm: float, edge_mm: float = 0.3) -> np.ndarray:
    """Opacity of a tapered strand from ``start`` (width0) to ``end`` (width1), fading out."""
    dist, t = segment_distance(offsets_mm, start_mm, end_mm)
    width = width0_mm + (width1_mm - width0_mm) * t
    fade = 1.0 - 0.4 * t
    return (ndtr((width - dist) / edge_mm) * fade).astype(np.float32)


def ball_opacity(offsets_mm: np.ndarray, centre_mm: np.ndarray, radius_mm: float,
                 edge_mm: float = 0.3) -> np.ndarray:
    """Opacity of a soft-edged ball."""
    rel = offsets_mm - centre_mm.reshape(3, *([1] * (offsets_mm.ndim - 1))).astype(np.float32)
    dist = np.sqrt((rel**2).sum(axis=0))
    return ndtr((radius_mm - dist) / edge_mm).astype(np.float32)
