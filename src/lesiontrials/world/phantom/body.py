"""Body outline (label 200: skin, subcutaneous fat, chest-wall muscle) and the deep back
muscles (left/right autochthon, 104/105).

The outline wraps the rib cage with a chest wall and a BMI-dependent fat layer; the back
is flattened (supine patient) and lies behind the paraspinal muscles. Above the lungs
the shoulder girdle keeps the upper-chest size; below them the abdomen keeps the
lower-chest size with a little extra anterior fat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lesiontrials.anatomy import BODY, LABEL_IDS
from lesiontrials.world.phantom.fields import Frame, Grid
from lesiontrials.world.phantom.params import PhantomParams, fat_thickness_mm
from lesiontrials.world.phantom.shape import H, ThoraxShape

LEFT_AUTOCHTHON = LABEL_IDS["left autochthon"]
RIGHT_AUTOCHTHON = LABEL_IDS["right autochthon"]
_Z_CHEST = (0.0, 0.8 * H)  # canonical levels the outline follows; held beyond
_BACK_BEHIND_SPINE = 74.0  # depth of the back behind the vertebral-body centre (mm, × size)


@dataclass(frozen=True)
class BodyWalls:
    """Soft-tissue thicknesses outside the rib cage (mm)."""

    fat_front: float
    fat_side: float
    fat_back: float
    wall_front: float  # ribs, intercostals and pectoral muscle (reference adult)
    wall_side: float


def body_walls(params: PhantomParams) -> BodyWalls:
    """Chest-wall and fat thicknesses for a host (mm)."""
    fat = fat_thickness_mm(params)
    muscle = 1.1 if params.sex == "M" else 0.9
    return BodyWalls(fat_front=fat, fat_side=0.85 * fat, fat_back=0.6 * fat,
                     wall_front=24.0 * muscle, wall_side=20.0 * muscle)


def body_profile(shape: ThoraxShape, frame: Frame, walls: BodyWalls,
                 z: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per world level z: half-width, front y, back y and centre y of the outline (mm)."""
    Z = frame.z_canonical(z)
    Zc = np.clip(Z, *_Z_CHEST)
    a, b, yc = shape.ribcage_at(Zc)
    k = frame.size
    kx = 0.5 * (frame.kx_right + frame.kx_left)
    half_width = kx * a + walls.wall_side * k + walls.fat_side
    belly = walls.fat_front * 0.5 * np.clip(-Z / 120.0, 0.0, 1.0)
    front = frame.y_world(yc + b) + walls.wall_front * k + walls.fat_front + belly
    back = frame.y_world(shape.spine.y_at(Zc)) - _BACK_BEHIND_SPINE * k - walls.fat_back
    return half_width, front, back, frame.y_world(yc)


def centring_shift_y(shape: ThoraxShape, frame: Frame, walls: BodyWalls) -> float:
    """World y shift that puts the body's front-back midpoint at y = 0 (mid-chest)."""
    z_mid = frame.z_world(np.array([0.45 * H]))
    _, front, back, _ = body_profile(shape, frame, walls, z_mid)
    return float(-0.5 * (front[0] + back[0]))


def paint_body(labels: np.ndarray, grid: Grid, frame: Frame, shape: ThoraxShape,
               walls: BodyWalls, *, chunk: int = 32) -> None:
    """Fill the body outline with 200 (in place), a slab of ``chunk`` slices at a time."""
    x, y, z = grid.axis(0), grid.axis(1), grid.axis(2)
    half_width, front, back, centre = body_profile(shape, frame, walls, z)
    u = ((x[:, None] / half_width) ** 2).astype(np.float32)
    rel = y[:, None] - centre
    v = np.where(rel >= 0, (rel / (front - centre)) ** 2,
                 np.abs(rel / (centre - back)) ** 4).astype(np.float32)
    for k0 in range(0, grid.shape[2], chunk):
        ks = slice(k0, min(k0 + chunk, grid.shape[2]))
        inside = (u[:, None, ks] + v[None, :, ks]) < 1.0
        labels[:, :, ks] = inside.view(np.uint8) * np.uint8(BODY)


def paint_back_muscles(labels: np.ndarray, grid: Grid, frame: Frame,
                       shape: ThoraxShape) -> None:
    """Erector spinae (autochthon) beside the spinous processes, in place; body voxels only."""
    k = frame.size
    z_lo = float(frame.z_world(shape.spine.z_bottom[-1]))
    z_hi = float(frame.z_world(shape.spine.z_top[0]))
    z_all = grid.axis(2)
    z_all = z_all[(z_all >= z_lo) & (z_all <= z_hi)]
    if z_all.size == 0:
        return
    half_w, half_d = 23.0 * k, 22.0 * k
    y_centre = frame.y_world(shape.spine.y_at(frame.z_canonical(z_all))) - 44.0 * k
    sl = grid.box(np.array([-60.0 * k, y_centre.min() - half_d, z_lo]),
                  np.array([60.0 * k, y_centre.max() + half_d, z_hi]))
    if sl is None:
        return
    x, y, z = grid.box_axes(sl)
    y_centre = frame.y_world(shape.spine.y_at(frame.z_canonical(z))) - 44.0 * k
    v = ((np.abs(y[:, None] - y_centre[None, :]) / half_d) ** 2.5).astype(np.float32)
    view = labels[sl]
    for label, sign in ((RIGHT_AUTOCHTHON, 1.0), (LEFT_AUTOCHTHON, -1.0)):
        u = ((np.abs(x - sign * 29.0 * k) / half_w) ** 2.5).astype(np.float32)
        inside = (u[:, None, None] + v[None, :, :]) < 1.0
        inside &= view == BODY
        view[inside] = label
