"""Tubes as chains of capsules (cone frusta with round ends) and their rasterisation.

Each capsule is rasterised inside its own bounding box only, so a tree of hundreds of
branches costs about as much as the voxels it covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from lesiontrials.world.phantom.fields import Grid


@dataclass(frozen=True, eq=False)
class Tubes:
    """Capsule segments in world mm: ends ``p0``, ``p1`` (N, 3), end radii ``r0``, ``r1`` (N,),
    and a generation number per segment (0 for hand-placed trunks)."""

    p0: np.ndarray
    p1: np.ndarray
    r0: np.ndarray
    r1: np.ndarray
    gen: np.ndarray

    def __len__(self) -> int:
        return int(self.p0.shape[0])

    @classmethod
    def empty(cls) -> Tubes:
        zero3 = np.zeros((0, 3))
        return cls(zero3, zero3, np.zeros(0), np.zeros(0), np.zeros(0, dtype=int))

    def select(self, keep: np.ndarray) -> Tubes:
        return Tubes(self.p0[keep], self.p1[keep], self.r0[keep], self.r1[keep], self.gen[keep])

    @staticmethod
    def concat(parts: list[Tubes]) -> Tubes:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Tubes.empty()
        return Tubes(*(np.concatenate([getattr(p, f) for p in parts])
                       for f in ("p0", "p1", "r0", "r1", "gen")))


def polyline_tubes(points: np.ndarray, radii: np.ndarray, *, gen: int = 0) -> Tubes:
    """Consecutive capsules through ``points`` (M, 3) with radii ``radii`` (M,) in mm."""
    points = np.asarray(points, dtype=float)
    radii = np.broadcast_to(np.asarray(radii, dtype=float), (len(points),))
    n = len(points) - 1
    return Tubes(points[:-1], points[1:], radii[:-1].copy(), radii[1:].copy(),
                 np.full(n, gen, dtype=int))


def smooth_curve(control: np.ndarray, radii: np.ndarray, *, step_mm: float) -> tuple[
        np.ndarray, np.ndarray]:
    """Resample a cubic spline through ``control`` points every ~``step_mm`` (mm);
    radii are interpolated linearly along the arc."""
    control = np.asarray(control, dtype=float)
    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(control, axis=0), axis=1))])
    n = max(int(np.ceil(chord[-1] / step_mm)), 1) + 1
    s = np.linspace(0.0, chord[-1], n)
    points = CubicSpline(chord, control, bc_type="natural")(s)
    return points, np.interp(s, chord, np.asarray(radii, dtype=float))


def paint_tubes(
    labels: np.ndarray,
    grid: Grid,
    tubes: Tubes,
    value: int,
    *,
    protect: tuple[int, ...] = (),
    min_radius_mm: float | None = None,
) -> None:
    """Write ``value`` into every voxel whose centre lies inside a capsule (in place).

    Voxels holding a label in ``protect`` keep it. Radii below ``min_radius_mm`` are
    raised to it (default 0.6 × the median voxel side, so thin tubes stay visible on
    coarse grids); capsules thinner than 0.4 × the mean voxel side are skipped there.
    """
    spacing = np.asarray(grid.spacing_mm)
    floor = 0.6 * float(np.median(spacing)) if min_radius_mm is None else float(min_radius_mm)
    skip_below = 0.4 * float(spacing.mean())
    guard = np.zeros(256, dtype=bool)
    guard[list(protect)] = True
    for i in range(len(tubes)):
        r0, r1 = float(tubes.r0[i]), float(tubes.r1[i])
        if max(r0, r1) < skip_below:
            continue
        _paint_capsule(labels, grid, tubes.p0[i], tubes.p1[i], max(r0, floor), max(r1, floor),
                       value, guard if protect else None)


def _paint_capsule(
    labels: np.ndarray, grid: Grid, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float,
    value: int, guard: np.ndarray | None,
) -> None:
    rmax = max(r0, r1)
    sl = grid.box(np.minimum(p0, p1) - rmax, np.maximum(p0, p1) + rmax)
    if sl is None:
        return
    x, y, z = (a.astype(np.float32) for a in grid.box_axes(sl))
    d = (p1 - p0).astype(np.float32)
    dx = (x - np.float32(p0[0]))[:, None, None]
    dy = (y - np.float32(p0[1]))[None, :, None]
    dz = (z - np.float32(p0[2]))[None, None, :]
    length2 = float(d @ d)
    if length2 > 1e-9:
        t = (dx * d[0] + dy * d[1]) + dz * d[2]
        t /= np.float32(length2)
        np.clip(t, 0.0, 1.0, out=t)
    else:
        t = np.zeros((1, 1, 1), dtype=np.float32)
    dist2 = (dx - t * d[0]) ** 2 + (dy - t * d[1]) ** 2
    dist2 += (dz - t * d[2]) ** 2
    radius = np.float32(r0) + np.float32(r1 - r0) * t
    inside = dist2 <= radius * radius
    view = labels[sl]
    if guard is not None:
        inside &= ~guard[view]
    view[inside] = value
