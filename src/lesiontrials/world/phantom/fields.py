"""Geometry primitives: the voxel grid, the canonical↔world frame, smooth random fields.

The phantom is designed in a *canonical* thorax (millimetres of a reference man whose
lungs are 270 mm tall, x to the patient's right, y anterior, z superior, z = 0 at the
lowest lung base). A :class:`Frame` scales it per host; its map is separable per axis
(with separate scales for the right and left halves), so a grid's world axes map to
canonical axes one axis at a time and implicit surfaces can be evaluated on broadcast
1-D coordinate arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

#: Lung height of the canonical thorax (mm).
CANONICAL_LUNG_HEIGHT_MM = 270.0


@dataclass(frozen=True)
class Grid:
    """An axis-aligned RAS+ voxel grid: ``shape`` (x, y, z), voxel size, world origin (mm)."""

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]

    @classmethod
    def centred(cls, shape: tuple[int, int, int], spacing_mm: tuple[float, float, float]) -> Grid:
        """A grid whose centre voxel lies at world (0, 0, 0)."""
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"shape must be three positive ints, got {shape}")
        if len(spacing_mm) != 3 or min(spacing_mm) <= 0:
            raise ValueError(f"spacing_mm must be three positive floats, got {spacing_mm}")
        shape = tuple(int(n) for n in shape)  # type: ignore[assignment]
        spacing = tuple(float(s) for s in spacing_mm)
        origin = tuple(-0.5 * (n - 1) * s for n, s in zip(shape, spacing, strict=True))
        return cls(shape, spacing, origin)  # type: ignore[arg-type]

    @property
    def affine(self) -> np.ndarray:
        """4×4 voxel → RAS mm affine."""
        affine = np.diag([*self.spacing_mm, 1.0])
        affine[:3, 3] = self.origin_mm
        return affine

    def axis(self, i: int, sl: slice | None = None) -> np.ndarray:
        """World coordinates (mm) of the voxel centres along axis ``i`` (optionally a slice)."""
        coords = self.origin_mm[i] + self.spacing_mm[i] * np.arange(self.shape[i])
        return coords if sl is None else coords[sl]

    def box(self, lo_mm: np.ndarray, hi_mm: np.ndarray) -> tuple[slice, slice, slice] | None:
        """Index slices of the voxels whose centres lie in the world box, or None if empty."""
        slices = []
        for i in range(3):
            start = int(np.ceil((lo_mm[i] - self.origin_mm[i]) / self.spacing_mm[i]))
            stop = int(np.floor((hi_mm[i] - self.origin_mm[i]) / self.spacing_mm[i])) + 1
            start, stop = max(start, 0), min(stop, self.shape[i])
            if stop <= start:
                return None
            slices.append(slice(start, stop))
        return tuple(slices)  # type: ignore[return-value]

    def box_axes(self, slices: tuple[slice, slice, slice]) -> tuple[np.ndarray, ...]:
        """World coordinate axes (mm) of a box."""
        return tuple(self.axis(i, slices[i]) for i in range(3))


@dataclass(frozen=True)
class Frame:
    """Canonical → world map: x scaled by ``kx_right``/``kx_left`` on each side of the
    midline, ``y = ky·Y + y0_mm``, ``z = kz·Z + z0_mm``."""

    kx_right: float
    kx_left: float
    ky: float
    kz: float
    y0_mm: float
    z0_mm: float

    @property
    def size(self) -> float:
        """Geometric-mean linear scale (for radii of tubes and bones)."""
        return float((0.5 * (self.kx_right + self.kx_left) * self.ky * self.kz) ** (1.0 / 3.0))

    def x_world(self, X: np.ndarray | float) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return np.where(X >= 0, X * self.kx_right, X * self.kx_left)

    def x_canonical(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, x / self.kx_right, x / self.kx_left)

    def y_world(self, Y: np.ndarray | float) -> np.ndarray:
        return self.ky * np.asarray(Y, dtype=float) + self.y0_mm

    def y_canonical(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y, dtype=float) - self.y0_mm) / self.ky

    def z_world(self, Z: np.ndarray | float) -> np.ndarray:
        return self.kz * np.asarray(Z, dtype=float) + self.z0_mm

    def z_canonical(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, dtype=float) - self.z0_mm) / self.kz

    def to_world(self, points: np.ndarray) -> np.ndarray:
        """Map canonical points ``(..., 3)`` to world mm."""
        p = np.asarray(points, dtype=float)
        return np.stack([self.x_world(p[..., 0]), self.y_world(p[..., 1]),
                         self.z_world(p[..., 2])], axis=-1)

    def axes_to_canonical(self, axes: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """World coordinate axes (x, y, z) → canonical axes."""
        return self.x_canonical(axes[0]), self.y_canonical(axes[1]), self.z_canonical(axes[2])


@dataclass(frozen=True, eq=False)
class SmoothField:
    """A smooth random scalar field on a box: a tensor-product cosine series.

    Evaluated on 1-D coordinate axes, it returns the field on their outer grid with one
    small matrix product per axis, so a 3-D field costs about one pass over the box.
    """

    coeffs: np.ndarray  # (n,)*ndim
    phases: tuple[np.ndarray, ...]
    lo: tuple[float, ...]
    hi: tuple[float, ...]

    def _basis(self, axis: int, s: np.ndarray) -> np.ndarray:
        n = self.coeffs.shape[axis]
        u = (np.asarray(s, dtype=float) - self.lo[axis]) / (self.hi[axis] - self.lo[axis])
        k = np.arange(1, n + 1)
        return np.cos(np.pi * k[None, :] * u[:, None] + self.phases[axis][None, :])

    def __call__(self, *axes: np.ndarray) -> np.ndarray:
        """The field (float32) on the outer grid of the given coordinate axes."""
        bases = [self._basis(i, a).astype(np.float32) for i, a in enumerate(axes)]
        c = self.coeffs.astype(np.float32)
        if c.ndim == 1:
            return bases[0] @ c
        if c.ndim == 2:
            return bases[0] @ c @ bases[1].T
        tail = np.einsum("abc,jb,kc->ajk", c, bases[1], bases[2])
        n = c.shape[0]
        out = bases[0] @ tail.reshape(n, -1)
        return out.reshape(len(axes[0]), len(axes[1]), len(axes[2]))


def make_field(
    rng: np.random.Generator,
    *,
    lo: tuple[float, ...],
    hi: tuple[float, ...],
    n_terms: int = 4,
    amplitude: float = 1.0,
) -> SmoothField:
    """A random :class:`SmoothField` of RMS ``amplitude`` over the box ``[lo, hi]``.

    Higher cosine orders get smaller weights (1/k), so the field is dominated by a few
    broad bumps of half-wavelength ``(hi - lo) / k``.
    """
    ndim = len(lo)
    shape = (n_terms,) * ndim
    orders = np.indices(shape).sum(axis=0) + ndim
    coeffs = rng.standard_normal(shape) / orders.astype(float)
    phases = tuple(rng.uniform(0.0, 2.0 * np.pi, n_terms) for _ in range(ndim))
    field = SmoothField(coeffs, phases, tuple(map(float, lo)), tuple(map(float, hi)))
    probe = field(*(np.linspace(lo[i], hi[i], 12) for i in range(ndim)))
    rms = float(np.sqrt(np.mean(np.square(probe, dtype=float))))
    scale = amplitude / rms if rms > 0 else 0.0
    return SmoothField(coeffs * scale, phases, field.lo, field.hi)


def smooth_profile(knots: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Monotone-cubic (PCHIP) interpolation of a profile, held constant beyond the knots."""
    knots = np.asarray(knots, dtype=float)
    t = np.clip(np.asarray(t, dtype=float), knots[0], knots[-1])
    return PchipInterpolator(knots, np.asarray(values, dtype=float))(t)


def superellipse_terms(
    u: np.ndarray, v: np.ndarray, *, exponent: float
) -> tuple[np.ndarray, np.ndarray]:
    """``|u|**p`` and ``|v|**p`` as float32 (the caller adds them on a broadcast grid)."""
    return (np.abs(u) ** exponent).astype(np.float32), (np.abs(v) ** exponent).astype(np.float32)
