"""Mediastinum: heart, aorta, superior vena cava, esophagus and the pulmonary trunk.

Centrelines are drawn through canonical landmarks (tied to the carina, the heart and the
spine) and mapped to world millimetres; radii are reference adult values × the host's
size. The heart is a rotated, noisy ellipsoid sitting left of the midline.
"""

from __future__ import annotations

import numpy as np

from lesiontrials.anatomy import AORTA, ESOPHAGUS, HEART, SUPERIOR_VENA_CAVA
from lesiontrials.world.phantom.fields import Frame, Grid
from lesiontrials.world.phantom.shape import H, HeartShape, ThoraxShape
from lesiontrials.world.phantom.tubes import Tubes, paint_tubes, polyline_tubes, smooth_curve


def heart_value(
    heart: HeartShape, X: np.ndarray, Y: np.ndarray, Z: np.ndarray, *, margin: float = 0.0
) -> np.ndarray:
    """Ellipsoid level set (< 1 inside) on the outer grid of canonical axes (float32);
    ``margin`` (mm) inflates every semi-axis."""
    dX = (np.asarray(X, dtype=np.float32) - np.float32(heart.centre[0]))[:, None, None]
    dY = (np.asarray(Y, dtype=np.float32) - np.float32(heart.centre[1]))[None, :, None]
    dZ = (np.asarray(Z, dtype=np.float32) - np.float32(heart.centre[2]))[None, None, :]
    total = heart.noise(X, Y, Z)
    for axis, semi in zip(heart.axes, heart.semi_axes + margin, strict=True):
        u = (dX * np.float32(axis[0] / semi) + dY * np.float32(axis[1] / semi))
        u = u + dZ * np.float32(axis[2] / semi)
        total += u * u
    return total


def heart_box(heart: HeartShape, *, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Canonical bounding box (lo, hi) of the heart."""
    half = heart.half_extent + margin
    return heart.centre - half, heart.centre + half


def paint_heart(labels: np.ndarray, grid: Grid, frame: Frame, shape: ThoraxShape) -> None:
    """Label the heart (115) in place."""
    lo, hi = heart_box(shape.heart)
    sl = grid.box(frame.to_world(lo), frame.to_world(hi))
    if sl is None:
        return
    X, Y, Z = frame.axes_to_canonical(grid.box_axes(sl))
    inside = heart_value(shape.heart, X, Y, Z) < 1.0
    labels[sl][inside] = HEART


def descending_aorta_xy(shape: ThoraxShape, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical centre (x, y) of the descending aorta along z: left-anterior of the spine."""
    Z = np.asarray(Z, dtype=float)
    x = np.where(Z > 0.0, -26.0, -26.0 + 0.2 * np.minimum(-Z, 60.0))
    return x, shape.spine.y_at(Z) + 20.0


def esophagus_xy(shape: ThoraxShape, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical centre (x, y) of the esophagus: behind the trachea, veering left below."""
    Z = np.asarray(Z, dtype=float)
    drift = np.clip((90.0 - Z) / 110.0, 0.0, 1.0)
    y_spine_front = shape.spine.y_at(Z) + shape.spine.radius_at(Z)
    return -3.0 - 20.0 * drift**2, y_spine_front + 9.0 + 14.0 * drift**2


def _aorta(shape: ThoraxShape, frame: Frame) -> Tubes:
    c = shape.carina
    root = shape.heart.centre + np.array([24.0, -8.0, 26.0])
    z_desc = np.array([c[2] - 10.0, 90.0, 20.0, -40.0, -110.0])
    xd, yd = descending_aorta_xy(shape, z_desc)
    control = np.array([
        root, [10.0, 20.0, c[2] - 28.0], [11.0, 18.0, c[2] + 8.0], [-14.0, 2.0, c[2] + 30.0],
        [-25.0, -28.0, c[2] + 20.0], *np.stack([xd, yd, z_desc], axis=1),
    ])
    radii = np.array([15.0, 15.5, 15.0, 13.5, 12.5, 12.0, 12.0, 11.5, 11.0, 10.5])
    points, r = smooth_curve(frame.to_world(control), radii * frame.size, step_mm=6.0)
    return polyline_tubes(points, r)


def _svc(shape: ThoraxShape, frame: Frame) -> Tubes:
    c = shape.carina
    control = np.array([[36.0, 4.0, H + 90.0], [35.0, 4.0, c[2] + 10.0],
                        [31.0, 6.0, shape.heart.centre[2] + 28.0]])
    points, r = smooth_curve(frame.to_world(control), np.full(3, 9.5 * frame.size), step_mm=8.0)
    return polyline_tubes(points, r)


def _esophagus(shape: ThoraxShape, frame: Frame) -> Tubes:
    z = np.linspace(H + 90.0, -40.0, 27)
    x, y = esophagus_xy(shape, z)
    x = x - np.clip(-z, 0.0, None) * 0.35
    points = frame.to_world(np.stack([x, y, z], axis=1))
    return polyline_tubes(points, np.full(len(z), 8.0 * frame.size))


def trachea_centreline(shape: ThoraxShape) -> np.ndarray:
    """Canonical trachea control points from above the scan to the carina."""
    c = shape.carina
    return np.array([[1.0, c[1] + 6.0, H + 90.0], [1.5, c[1] + 3.0, c[2] + 60.0], c])


def pulmonary_trunk(shape: ThoraxShape, frame: Frame) -> tuple[Tubes, np.ndarray]:
    """The pulmonary trunk from the right-ventricular outflow to its bifurcation; returns the
    tubes and the bifurcation point (world mm)."""
    c = shape.carina
    bifurcation = np.array([-16.0, 4.0, c[2] - 22.0])
    control = np.array([shape.heart.centre + np.array([8.0, 20.0, 26.0]),
                        [-17.0, 22.0, c[2] - 34.0], bifurcation])
    points, r = smooth_curve(frame.to_world(control), np.full(3, 13.0 * frame.size),
                             step_mm=6.0)
    return polyline_tubes(points, r), frame.to_world(bifurcation)


def mediastinal_tubes(shape: ThoraxShape, frame: Frame) -> dict[int, Tubes]:
    """World tubes of the aorta, superior vena cava and esophagus, keyed by label id."""
    return {AORTA: _aorta(shape, frame), SUPERIOR_VENA_CAVA: _svc(shape, frame),
            ESOPHAGUS: _esophagus(shape, frame)}


def paint_mediastinum(labels: np.ndarray, grid: Grid, tubes: dict[int, Tubes]) -> None:
    """Paint the mediastinal tubes (in place), largest last so it wins where they touch."""
    for label in (ESOPHAGUS, SUPERIOR_VENA_CAVA, AORTA):
        paint_tubes(labels, grid, tubes[label], label)
