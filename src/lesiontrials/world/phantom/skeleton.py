"""Skeleton: vertebrae (one label per level), spinal cord, ribs 1-12 on each side and
the sternum.

Vertebrae are extruded 2-D outlines (body, pedicles and lamina around the canal,
spinous and transverse processes) per level, separated by disc gaps. Ribs are capsule
chains that leave the vertebral body, pass the transverse process and follow the
outside of the inner rib cage, sloping down towards the front.
"""

from __future__ import annotations

import numpy as np

from lesiontrials.anatomy import LABEL_IDS, LEFT_RIBS, RIGHT_RIBS, SPINAL_CORD, STERNUM
from lesiontrials.world.phantom.fields import Frame, Grid
from lesiontrials.world.phantom.shape import H, ThoraxShape
from lesiontrials.world.phantom.tubes import Tubes, paint_tubes, polyline_tubes

_CANAL_RADIUS = 7.5  # reference-adult mm
_DISC_FRACTION = 0.2  # share of each level's height left to the disc
# Per rib 1..12: fall of the front end below the head (canonical mm) and the angle of
# the front end around the rib cage (degrees; 0 = front midline, 90 = side).
_RIB_DROP = np.array([32, 55, 70, 80, 88, 92, 95, 95, 92, 85, 45, 28], dtype=float)
_RIB_END_DEG = np.array([38, 30, 28, 28, 30, 33, 38, 50, 62, 75, 105, 125], dtype=float)
_RIB_START_DEG = 163.0


def _disk(x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return ((x[:, None] - cx) / rx) ** 2 + ((y[None, :] - cy) / ry) ** 2 < 1.0


def _segment_2d(x: np.ndarray, y: np.ndarray, p0: tuple[float, float], p1: tuple[float, float],
                radius: float) -> np.ndarray:
    d = np.subtract(p1, p0)
    dx, dy = x[:, None] - p0[0], y[None, :] - p0[1]
    t = np.clip((dx * d[0] + dy * d[1]) / float(d @ d), 0.0, 1.0)
    return (dx - t * d[0]) ** 2 + (dy - t * d[1]) ** 2 < radius**2


def canal_y(shape: ThoraxShape, frame: Frame, Z: np.ndarray) -> np.ndarray:
    """World y of the spinal-canal centre along canonical z."""
    k = frame.size
    body_back = frame.y_world(shape.spine.y_at(Z)) - 0.8 * k * shape.spine.radius_at(Z)
    return body_back - 0.8 * _CANAL_RADIUS * k


def vertebra_outline(x: np.ndarray, y: np.ndarray, *, y_body: float, body_radius: float,
                     y_canal: float, size: float) -> np.ndarray:
    """2-D vertebra mask on the outer grid of world x and y axes (mm)."""
    rc = _CANAL_RADIUS * size
    mask = _disk(x, y, 0.0, y_body, body_radius, 0.8 * body_radius)
    ring = _disk(x, y, 0.0, y_canal, rc + 5.0 * size, rc + 5.0 * size)
    ring &= ~_disk(x, y, 0.0, y_canal, rc, rc)
    mask |= ring & (y[None, :] < y_body - 0.4 * body_radius)
    mask |= _segment_2d(x, y, (0.0, y_canal - rc), (0.0, y_canal - rc - 26.0 * size),
                        3.5 * size)
    for sign in (1.0, -1.0):
        mask |= _segment_2d(x, y, (sign * 0.8 * rc, y_canal),
                            (sign * (rc + 20.0 * size), y_canal - 6.0 * size), 4.5 * size)
    return mask


def paint_vertebrae(labels: np.ndarray, grid: Grid, frame: Frame, shape: ThoraxShape) -> None:
    """One label per vertebral level (33-56 ids), in place."""
    spine, k = shape.spine, frame.size
    for label, zb, zt, radius in zip(spine.labels, spine.z_bottom, spine.z_top,
                                     spine.body_radius, strict=True):
        gap = 0.5 * _DISC_FRACTION * (zt - zb)
        z_mid = np.array([0.5 * (zb + zt)])
        y_body = float(frame.y_world(spine.y_at(z_mid))[0])
        y_c = float(canal_y(shape, frame, z_mid)[0])
        reach = (_CANAL_RADIUS + 30.0) * k + radius * k
        lo = np.array([-reach, y_c - 40.0 * k, float(frame.z_world(zb + gap))])
        hi = np.array([reach, y_body + radius * k, float(frame.z_world(zt - gap))])
        sl = grid.box(lo, hi)
        if sl is None:
            continue
        x, y, _ = grid.box_axes(sl)
        mask = vertebra_outline(x, y, y_body=y_body, body_radius=radius * k, y_canal=y_c, size=k)
        view = labels[sl]
        view[np.broadcast_to(mask[:, :, None], view.shape)] = label


def cord_tubes(shape: ThoraxShape, frame: Frame) -> Tubes:
    """Spinal cord from above the scan down to L1."""
    l1_bottom = shape.spine.z_bottom[-3]
    Z = np.linspace(H + 90.0, l1_bottom, 40)
    points = np.stack([np.zeros_like(Z), canal_y(shape, frame, Z), frame.z_world(Z)], axis=1)
    return polyline_tubes(points, np.full(len(Z), 4.5 * frame.size))


def rib_tubes(shape: ThoraxShape, frame: Frame, rib: int, side: int) -> Tubes:
    """Rib ``rib`` (1-12) of ``side`` (+1 right, -1 left) as a capsule chain (world mm)."""
    k = frame.size
    spine = shape.spine
    level = spine.labels.index(LABEL_IDS[f"vertebrae T{rib}"])
    z_head = 0.5 * (spine.z_bottom[level] + spine.z_top[level])
    s = np.linspace(0.0, 1.0, 16)
    theta = np.deg2rad(_RIB_START_DEG + (_RIB_END_DEG[rib - 1] - _RIB_START_DEG) * s)
    Z = z_head + 12.0 * s * (1.0 - s) - _RIB_DROP[rib - 1] * s**2
    a, b, yc = shape.ribcage_at(Z)
    arc = frame.to_world(np.stack([side * a * np.sin(theta), yc + b * np.cos(theta), Z], axis=1))
    kx = frame.kx_right if side > 0 else frame.kx_left
    normal = np.stack([(arc[:, 0]) / (kx * a) ** 2,
                       (arc[:, 1] - frame.y_world(yc)) / (frame.ky * b) ** 2,
                       np.zeros_like(Z)], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    radius = (3.8 if rib > 1 else 3.3) * k
    arc += normal * (radius + 1.5)
    zh = np.array([z_head])
    y_c = float(canal_y(shape, frame, zh)[0])
    y_head = float(frame.y_world(spine.y_at(zh))[0]) - 4.0 * k
    head = np.array([side * (spine.radius_at(zh)[0] + 2.0) * k, y_head,
                     float(frame.z_world(zh)[0])])
    tubercle = np.array([side * (_CANAL_RADIUS + 21.0) * k, y_c - 2.0 * k, head[2] + 2.0 * k])
    points = np.vstack([head, tubercle, arc])
    return polyline_tubes(points, np.full(len(points), radius), gen=rib)


def paint_ribs(labels: np.ndarray, grid: Grid, frame: Frame, shape: ThoraxShape) -> None:
    """Ribs 1-12 on both sides (63-74 left, 75-86 right), in place. Each rib is two
    capsule chains stacked in z, so its cross-section is a flat band (~8 × 14 mm)."""
    lift = np.array([0.0, 0.0, 3.0 * frame.size])
    for side, ids in ((+1, RIGHT_RIBS), (-1, LEFT_RIBS)):
        for rib in range(1, 13):
            chain = rib_tubes(shape, frame, rib, side)
            for sign in (1.0, -1.0):
                shifted = Tubes(chain.p0 + sign * lift, chain.p1 + sign * lift, chain.r0,
                                chain.r1, chain.gen)
                paint_tubes(labels, grid, shifted, ids[rib - 1], min_radius_mm=0.0)


def paint_sternum(labels: np.ndarray, grid: Grid, frame: Frame, shape: ThoraxShape) -> None:
    """Manubrium, body and xiphoid just in front of the rib cage, in place."""
    k = frame.size
    z_lo, z_hi = 0.2 * H, H - 45.0
    Z_probe = np.linspace(z_lo, z_hi, 32)
    _, b, yc = shape.ribcage_at(Z_probe)
    thickness = 11.0 * k
    y_back = frame.y_world(yc + b) + 1.5
    sl = grid.box(np.array([-26.0 * k, y_back.min(), frame.z_world(z_lo)]),
                  np.array([26.0 * k, y_back.max() + thickness, frame.z_world(z_hi)]))
    if sl is None:
        return
    x, y, z = grid.box_axes(sl)
    Z = frame.z_canonical(z)
    _, b, yc = shape.ribcage_at(Z)
    centre = frame.y_world(yc + b) + 1.5 + 0.5 * thickness
    from_top = (z_hi - Z) * frame.kz
    half_width = np.where(from_top < 45.0, 24.0, 14.0) * k
    half_width = half_width * np.clip((Z - z_lo) / 25.0, 0.35, 1.0)
    u = (np.abs(x[:, None]) / half_width[None, :]) ** 4
    v = ((y[:, None] - centre[None, :]) / (0.5 * thickness)) ** 2
    inside = (u[:, None, :] + v[None, :, :]) < 1.0
    labels[sl][inside] = STERNUM


def paint_spinal_cord(labels: np.ndarray, grid: Grid, frame: Frame, shape: ThoraxShape) -> None:
    paint_tubes(labels, grid, cord_tubes(shape, frame), SPINAL_CORD)
