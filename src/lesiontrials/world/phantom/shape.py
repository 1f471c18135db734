"""The canonical thorax of one host: every random shape number, sampled in one step.

All coordinates are canonical millimetres (see :mod:`.fields`): x to the patient's
right, y anterior, z superior, lung height 270 mm with z = 0 at the lowest lung base.
Profiles are given at knots of ``t = z / 270`` and interpolated smoothly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lesiontrials.anatomy import LABEL_IDS
from lesiontrials.world.phantom.fields import (
    CANONICAL_LUNG_HEIGHT_MM,
    SmoothField,
    make_field,
    smooth_profile,
)
from lesiontrials.world.phantom.params import REFERENCE_LOBE_FRACTIONS, PhantomParams

H = CANONICAL_LUNG_HEIGHT_MM
#: Knots (fraction of lung height) of the cross-section profiles.
T_KNOTS = np.array([-0.15, 0.0, 0.2, 0.4, 0.6, 0.75, 0.9, 1.0, 1.2])
# Inner rib-cage ellipse: half-width, half-depth, centre y (canonical mm).
_RIBCAGE_A = np.array([132, 134, 138, 138, 132, 122, 106, 94, 86], dtype=float)
_RIBCAGE_B = np.array([95, 95, 94, 91, 84, 77, 68, 62, 58], dtype=float)
_RIBCAGE_YC = np.array([2, 0, -2, -5, -9, -13, -18, -21, -23], dtype=float)
# Right-lung superellipse (mirrored for the left lung): centre x, half-width, centre y,
# half-depth. The rib cage, mediastinum, heart and spine clip it further.
_LUNG_CX = np.array([72, 72, 73, 74, 73, 69, 62, 58, 58], dtype=float)
_LUNG_AX = np.array([74, 74, 74, 73, 69, 62, 51, 43, 40], dtype=float)
_LUNG_CY = np.array([-2, -2, -4, -6, -10, -14, -19, -23, -25], dtype=float)
_LUNG_AY = np.array([100, 100, 98, 95, 87, 78, 65, 55, 51], dtype=float)
# Mediastinal column half-width at z knots (mm).
_COLUMN_Z = np.array([-40.0, 60.0, 140.0, 175.0, 205.0, 240.0, 330.0])
_COLUMN_W = np.array([18.0, 18.0, 21.0, 27.0, 27.0, 22.0, 20.0])
#: Lobe order used for fractions and targets.
LOBE_ORDER = tuple(REFERENCE_LOBE_FRACTIONS)


def _jitter(rng: np.random.Generator, sd: float) -> float:
    """A multiplicative jitter ``1 + sd·z`` with ``z`` standard normal clipped to ±2.5."""
    return 1.0 + sd * float(np.clip(rng.standard_normal(), -2.5, 2.5))


def _shift(rng: np.random.Generator, sd: float) -> float:
    """An additive shift ``sd·z`` with ``z`` standard normal clipped to ±2.5."""
    return sd * float(np.clip(rng.standard_normal(), -2.5, 2.5))


@dataclass(frozen=True, eq=False)
class LungShape:
    """One lung's cross-section profiles (at :data:`T_KNOTS`) and surface noise."""

    side: int  # +1 right, -1 left
    cx: np.ndarray
    ax: np.ndarray
    cy: np.ndarray
    ay: np.ndarray
    exponent: float
    apex_t: float
    noise: SmoothField
    dome_z: float  # top of the diaphragm dome (mm)
    dome_xy: tuple[float, float]  # |x|, y of the dome top
    dome_radii: tuple[float, float]
    dome_drop: float  # fall of the dome per unit normalised radius² (mm)
    dome_noise: SmoothField


@dataclass(frozen=True, eq=False)
class FissureShape:
    """A fissure as a height map ``z = z_ref + tilt·(x, y) + curve·y² + noise(x, y)``;
    the offset that sets the lobe split is calibrated later."""

    tilt_x: float
    tilt_y: float
    curve_y: float
    noise: SmoothField

    def height(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Height map (canonical mm) on the outer grid of the X and Y axes."""
        Xc = np.asarray(X, dtype=float)[:, None]
        Yc = np.asarray(Y, dtype=float)[None, :]
        base = self.tilt_x * np.abs(Xc) + self.tilt_y * Yc + self.curve_y * Yc**2
        return (base + self.noise(X, Y)).astype(np.float32)


@dataclass(frozen=True, eq=False)
class HeartShape:
    """A rotated ellipsoid with surface noise: centre, semi-axes, rows = unit axes."""

    centre: np.ndarray
    semi_axes: np.ndarray
    axes: np.ndarray
    noise: SmoothField

    @property
    def half_extent(self) -> np.ndarray:
        """Half size of the axis-aligned bounding box (mm)."""
        return np.sqrt(((self.semi_axes[:, None] * self.axes) ** 2).sum(axis=0)) * 1.1


@dataclass(frozen=True, eq=False)
class SpineShape:
    """Vertebral levels: label ids, z ranges and body radii (canonical mm)."""

    labels: tuple[int, ...]
    z_bottom: np.ndarray
    z_top: np.ndarray
    body_radius: np.ndarray
    y_body: float  # body centre y at the straight-spine reference
    kyphosis: float  # posterior bow of the mid-thoracic spine (mm)

    def y_at(self, Z: np.ndarray) -> np.ndarray:
        """Vertebral-body centre y along z (kyphosis bows the mid-thorax backwards)."""
        z_lo, z_hi = float(self.z_bottom[-1]), float(self.z_top[0])
        u = np.clip((np.asarray(Z, dtype=float) - z_lo) / (z_hi - z_lo), 0.0, 1.0)
        return self.y_body - self.kyphosis * np.sin(np.pi * u)

    def radius_at(self, Z: np.ndarray) -> np.ndarray:
        centres = 0.5 * (self.z_bottom + self.z_top)
        order = np.argsort(centres)
        return np.interp(Z, centres[order], self.body_radius[order])


@dataclass(frozen=True, eq=False)
class ThoraxShape:
    """Every random shape number of one host, in canonical millimetres."""

    ribcage: tuple[np.ndarray, np.ndarray, np.ndarray]  # a, b, yc at T_KNOTS
    right: LungShape
    left: LungShape
    column_x: float
    column_w: np.ndarray  # at _COLUMN_Z
    heart: HeartShape
    spine: SpineShape
    oblique_right: FissureShape
    horizontal: FissureShape
    oblique_left: FissureShape
    carina: np.ndarray  # (3,)
    lobe_targets: dict[str, float]
    volume_variation: float
    ap_ratio: float  # chest depth / width relative to the canonical thorax

    def lung(self, side: int) -> LungShape:
        return self.right if side > 0 else self.left

    def ribcage_at(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inner rib-cage half-width, half-depth and centre y along z."""
        t = np.asarray(Z, dtype=float) / H
        a, b, yc = self.ribcage
        return smooth_profile(T_KNOTS, a, t), smooth_profile(T_KNOTS, b, t), smooth_profile(
            T_KNOTS, yc, t)

    def column_width_at(self, Z: np.ndarray) -> np.ndarray:
        return smooth_profile(_COLUMN_Z, self.column_w, Z)


def _sample_lung(rng: np.random.Generator, side: int, *, dome_z: float,
                 drop_scale: float = 1.0) -> LungShape:
    width, depth = _jitter(rng, 0.03), _jitter(rng, 0.03)
    lo, hi = (-160.0, -130.0, -40.0), (160.0, 130.0, 300.0)
    return LungShape(
        side=side,
        cx=side * _LUNG_CX * _jitter(rng, 0.02),
        ax=_LUNG_AX * width,
        cy=_LUNG_CY + _shift(rng, 2.0),
        ay=_LUNG_AY * depth,
        exponent=2.8 + _shift(rng, 0.15),
        apex_t=0.74 + _shift(rng, 0.02),
        noise=make_field(rng, lo=lo, hi=hi, n_terms=4, amplitude=0.045),
        dome_z=dome_z,
        dome_xy=(64.0 + _shift(rng, 5.0), 6.0 + _shift(rng, 5.0)),
        dome_radii=(72.0 * _jitter(rng, 0.05), 78.0 * _jitter(rng, 0.05)),
        dome_drop=36.0 * drop_scale * _jitter(rng, 0.06),
        dome_noise=make_field(rng, lo=lo[:2], hi=hi[:2], n_terms=3, amplitude=2.5),
    )


def _sample_heart(rng: np.random.Generator, params: PhantomParams) -> HeartShape:
    centre = np.array([-30.0 + _shift(rng, 4.0), 18.0 + _shift(rng, 3.0), 95.0 + _shift(rng, 5.0)])
    age_factor = 1.0 + 0.003 * (params.age_years - 60.0)
    semi = np.array([62.0, 48.0, 43.0]) * age_factor * np.array(
        [_jitter(rng, 0.05), _jitter(rng, 0.05), _jitter(rng, 0.05)])
    long_axis = np.array([-0.62 + _shift(rng, 0.06), 0.52 + _shift(rng, 0.06),
                          -0.58 + _shift(rng, 0.06)])
    u1 = long_axis / np.linalg.norm(long_axis)
    u2 = np.cross(u1, [0.0, 0.0, 1.0])
    u2 /= np.linalg.norm(u2)
    u3 = np.cross(u1, u2)
    noise = make_field(rng, lo=(-120.0, -60.0, 20.0), hi=(60.0, 110.0, 180.0), n_terms=3,
                       amplitude=0.05)
    return HeartShape(centre, semi, np.stack([u1, u2, u3]), noise)


def _sample_spine(rng: np.random.Generator, params: PhantomParams) -> SpineShape:
    """Levels C5..L3: T1 top just above the lung apex, T12 bottom just below the bases."""
    t1_top = H + 6.0 + _shift(rng, 5.0)
    t12_bottom = -12.0 + _shift(rng, 5.0)
    weights = 1.0 + 0.4 * np.arange(12) / 11.0
    heights_t = (t1_top - t12_bottom) * weights / weights.sum()
    names = [f"C{i}" for i in (5, 6, 7)] + [f"T{i}" for i in range(1, 13)] + ["L1", "L2", "L3"]
    heights = np.concatenate([[0.75 * heights_t[0]] * 3, heights_t, [1.12 * heights_t[-1]] * 3])
    tops = t1_top + 3 * 0.75 * heights_t[0] - np.concatenate([[0.0], np.cumsum(heights)[:-1]])
    radii = np.concatenate([[12.5] * 3, np.linspace(14.0, 20.0, 12), [21.0, 22.0, 22.5]])
    kyphosis = 5.0 + 0.2 * max(0.0, params.age_years - 50.0) + _shift(rng, 2.0)
    return SpineShape(
        labels=tuple(LABEL_IDS[f"vertebrae {name}"] for name in names),
        z_bottom=tops - heights, z_top=tops, body_radius=radii * _jitter(rng, 0.04),
        y_body=-60.0 + _shift(rng, 2.0), kyphosis=max(kyphosis, 0.0),
    )


def _sample_lobe_targets(rng: np.random.Generator) -> dict[str, float]:
    """Lobe fractions near the reference, each within about ±3 points, summing to 1."""
    raw = np.array([REFERENCE_LOBE_FRACTIONS[k] for k in LOBE_ORDER])
    noisy = raw + np.clip(0.012 * rng.standard_normal(len(raw)), -0.03, 0.03)
    noisy /= noisy.sum()
    return {k: float(v) for k, v in zip(LOBE_ORDER, noisy, strict=True)}


def _sample_fissure(rng: np.random.Generator, *, tilt_x: float, tilt_y: float,
                    curve_y: float, amplitude: float) -> FissureShape:
    noise = make_field(rng, lo=(-160.0, -130.0), hi=(160.0, 130.0), n_terms=3,
                       amplitude=amplitude)
    return FissureShape(tilt_x + _shift(rng, 0.03), tilt_y * _jitter(rng, 0.06),
                        curve_y + _shift(rng, 0.0005), noise)


def sample_thorax_shape(params: PhantomParams) -> ThoraxShape:
    """Draw the canonical thorax of ``params`` from ``params.shape_seed`` (deterministic)."""
    rng = np.random.default_rng(params.shape_seed)
    ribcage = (_RIBCAGE_A * _jitter(rng, 0.02), _RIBCAGE_B * _jitter(rng, 0.02),
               _RIBCAGE_YC + _shift(rng, 1.5))
    dome_right = 0.24 * H + _shift(rng, 5.0)
    dome_left = dome_right - (16.0 + _shift(rng, 3.0))
    right = _sample_lung(rng, +1, dome_z=dome_right)
    # The left dome is lower but its recesses reach about as deep: a flatter dome.
    left = _sample_lung(rng, -1, dome_z=dome_left, drop_scale=dome_left / dome_right)
    heart = _sample_heart(rng, params)
    spine = _sample_spine(rng, params)
    oblique_right = _sample_fissure(rng, tilt_x=0.20, tilt_y=-0.95, curve_y=0.0015,
                                    amplitude=3.5)
    horizontal = _sample_fissure(rng, tilt_x=-0.06, tilt_y=-0.12, curve_y=0.0, amplitude=2.5)
    oblique_left = _sample_fissure(rng, tilt_x=0.18, tilt_y=-1.05, curve_y=0.0015,
                                   amplitude=3.5)
    carina = np.array([2.0, -22.0 + _shift(rng, 2.0), H - 100.0 + _shift(rng, 6.0)])
    return ThoraxShape(
        ribcage=ribcage, right=right, left=left,
        column_x=-3.0 + _shift(rng, 1.5), column_w=_COLUMN_W * _jitter(rng, 0.05),
        heart=heart, spine=spine, oblique_right=oblique_right, horizontal=horizontal,
        oblique_left=oblique_left, carina=carina, lobe_targets=_sample_lobe_targets(rng),
        volume_variation=float(np.exp(np.clip(0.06 * rng.standard_normal(), -0.15, 0.15))),
        ap_ratio=(1.0 + 0.004 * (params.age_years - 60.0)) * _jitter(rng, 0.04),
    )
