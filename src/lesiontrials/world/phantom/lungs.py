"""Lungs and lobes as implicit surfaces on broadcast coordinate axes.

A lung is a tapered superellipse per axial level (apex on top), clipped by the inner
rib cage, the mediastinal column, the spine, the heart (which makes the cardiac notch
on the left), the descending aorta and the diaphragm dome (right dome higher). Lobes
are split by fissures given as smooth height maps (oblique fissures on both sides, the
horizontal fissure on the right), so each fissure is one continuous surface. Where a
fissure sits is calibrated on a coarse canonical grid so the lobe volume fractions hit
the host's targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lesiontrials.anatomy import LOBE_LABEL_IDS, Lobe
from lesiontrials.world.phantom.fields import Frame, Grid, smooth_profile, superellipse_terms
from lesiontrials.world.phantom.mediastinum import descending_aorta_xy, heart_box, heart_value
from lesiontrials.world.phantom.shape import T_KNOTS, H, LungShape, ThoraxShape

RUL, RML, RLL = (LOBE_LABEL_IDS[Lobe.RUL], LOBE_LABEL_IDS[Lobe.RML], LOBE_LABEL_IDS[Lobe.RLL])
LUL, LLL = LOBE_LABEL_IDS[Lobe.LUL], LOBE_LABEL_IDS[Lobe.LLL]
#: Canonical box that holds both lungs (mm).
LUNG_BOX_LO = np.array([-145.0, -115.0, -50.0])
LUNG_BOX_HI = np.array([145.0, 110.0, H])
_MIDLINE_GAP = 2.5  # half-width of the anterior/posterior junction tissue (mm)
_SPINE_HALF = (32.0, 48.0)  # half-width, half-depth of the paravertebral exclusion (mm)
_PERICARDIUM = 3.0  # gap kept between lung and heart (mm)
_AORTA_CLEARANCE = 15.0  # descending-aorta radius + gap (mm)
_RECESS_FLOOR, _RECESS_SOFTNESS = -4.0, 4.0  # costophrenic recess floor and rounding (mm)


@dataclass(frozen=True)
class FissureOffsets:
    """Heights (canonical mm) added to each fissure's height map."""

    oblique_right: float
    horizontal: float
    oblique_left: float


def side_box(shape: ThoraxShape, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Canonical box (lo, hi) holding the lung of ``side`` (+1 right, -1 left)."""
    lo, hi = LUNG_BOX_LO.copy(), LUNG_BOX_HI.copy()
    if side > 0:
        lo[0] = shape.column_x + _MIDLINE_GAP
    else:
        hi[0] = shape.column_x - _MIDLINE_GAP
    return lo, hi


def dome_height(lung: LungShape, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Diaphragm surface z (canonical mm) under one lung on the outer grid of X and Y."""
    xd, yd = lung.dome_xy
    rx, ry = lung.dome_radii
    u = ((np.abs(np.asarray(X, dtype=float)) - xd) / rx)[:, None]
    v = ((np.asarray(Y, dtype=float) - yd) / ry)[None, :]
    height = lung.dome_z - lung.dome_drop * (u**2 + v**2) + lung.dome_noise(X, Y)
    # Soft floor: the deepest recesses level off at the lowest lung base (z ≈ 0).
    rel = (height - _RECESS_FLOOR) / _RECESS_SOFTNESS
    return (_RECESS_FLOOR + _RECESS_SOFTNESS * np.logaddexp(0.0, rel)).astype(np.float32)


def _raise_to(f: np.ndarray, g: np.ndarray) -> None:
    np.maximum(f, g, out=f)


def _cross_section(lung: LungShape, X: np.ndarray, Y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Tapered superellipse level set plus surface noise (< 1 inside)."""
    t = Z / H
    cx, ax, cy, ay = (smooth_profile(T_KNOTS, p, t) for p in (lung.cx, lung.ax, lung.cy, lung.ay))
    rel = np.clip((t - lung.apex_t) / (1.0 - lung.apex_t), 0.0, 1.0)
    taper = np.maximum(np.sqrt(np.clip(1.0 - rel**2, 0.0, 1.0)), 1e-4)
    tu, tv = superellipse_terms((X[:, None] - cx) / (ax * taper), (Y[:, None] - cy) / (ay * taper),
                                exponent=lung.exponent)
    f = tu[:, None, :] + tv[None, :, :]
    f += lung.noise(X, Y, Z)
    return f


def _clip_by_walls(f: np.ndarray, shape: ThoraxShape, X: np.ndarray, Y: np.ndarray,
                   Z: np.ndarray) -> None:
    """Rib cage (inside), mediastinal column and spine (outside), in place."""
    a, b, yc = shape.ribcage_at(Z)
    buf = np.empty_like(f)
    ru = ((X[:, None] / a) ** 2).astype(np.float32)
    rv = (((Y[:, None] - yc) / b) ** 2).astype(np.float32)
    np.add(ru[:, None, :], rv[None, :, :], out=buf)
    _raise_to(f, buf)
    w = shape.column_width_at(Z)
    cu = (((X[:, None] - shape.column_x) / w) ** 2).astype(np.float32)
    cv = (((Y[:, None] - yc) / (b + 12.0)) ** 2).astype(np.float32)
    np.add(cu[:, None, :], cv[None, :, :], out=buf)
    np.subtract(np.float32(2.0), buf, out=buf)
    _raise_to(f, buf)
    ix = np.nonzero(np.abs(X) < _SPINE_HALF[0])[0]
    if ix.size:
        sx = slice(ix[0], ix[-1] + 1)
        ys = shape.spine.y_at(Z) - 22.0
        su = (np.abs(X[sx] / _SPINE_HALF[0]) ** 3).astype(np.float32)
        sv = (np.abs((Y[:, None] - ys) / _SPINE_HALF[1]) ** 3).astype(np.float32)
        g = np.float32(2.0) - (su[:, None, None] + sv[None, :, :])
        _raise_to(f[sx], g)


def _clip_by_organs(f: np.ndarray, shape: ThoraxShape, lung: LungShape, X: np.ndarray,
                    Y: np.ndarray, Z: np.ndarray) -> None:
    """Diaphragm (above), heart and descending aorta (outside), in place."""
    g = dome_height(lung, X, Y)[:, :, None] - Z.astype(np.float32)[None, None, :]
    g *= np.float32(0.1)
    g += np.float32(1.0)
    _raise_to(f, g)
    lo, hi = heart_box(shape.heart, margin=_PERICARDIUM)
    sub = _sub_box((X, Y, Z), lo, hi)
    if sub is not None:
        hv = heart_value(shape.heart, X[sub[0]], Y[sub[1]], Z[sub[2]], margin=_PERICARDIUM)
        _raise_to(f[sub], np.float32(2.0) - hv)
    xd, yd = descending_aorta_xy(shape, Z)
    ix = np.nonzero(np.abs(X - xd.mean()) < _AORTA_CLEARANCE + 8.0)[0]
    if ix.size:
        sx = slice(ix[0], ix[-1] + 1)
        du = ((X[sx, None] - xd) ** 2).astype(np.float32)
        dv = ((Y[:, None] - yd) ** 2).astype(np.float32)
        g = du[:, None, :] + dv[None, :, :]
        g *= np.float32(-1.0 / _AORTA_CLEARANCE**2)
        g += np.float32(2.0)
        _raise_to(f[sx], g)


def _sub_box(axes: tuple[np.ndarray, ...], lo: np.ndarray, hi: np.ndarray) -> tuple[
        slice, ...] | None:
    slices = []
    for axis, low, high in zip(axes, lo, hi, strict=True):
        idx = np.nonzero((axis >= low) & (axis <= high))[0]
        if idx.size == 0:
            return None
        slices.append(slice(idx[0], idx[-1] + 1))
    return tuple(slices)


def lung_mask(shape: ThoraxShape, side: int, X: np.ndarray, Y: np.ndarray,
              Z: np.ndarray) -> np.ndarray:
    """Boolean lung of ``side`` on the outer grid of canonical axes X, Y, Z (mm)."""
    X, Y, Z = (np.asarray(a, dtype=float) for a in (X, Y, Z))
    out = np.zeros((len(X), len(Y), len(Z)), dtype=bool)
    keep = np.nonzero(np.greater(Z, LUNG_BOX_LO[2]) & np.less(Z, H))[0]
    if keep.size == 0 or len(X) == 0 or len(Y) == 0:
        return out
    zs = slice(keep[0], keep[-1] + 1)
    lung = shape.lung(side)
    f = _cross_section(lung, X, Y, Z[zs])
    _clip_by_walls(f, shape, X, Y, Z[zs])
    _clip_by_organs(f, shape, lung, X, Y, Z[zs])
    out[:, :, zs] = f < 1.0
    return out


def fissure_heights(shape: ThoraxShape, side: int, X: np.ndarray,
                    Y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Uncalibrated oblique (and, right only, horizontal) fissure height maps."""
    if side > 0:
        return shape.oblique_right.height(X, Y), shape.horizontal.height(X, Y)
    return shape.oblique_left.height(X, Y), None


def lobe_map(shape: ThoraxShape, offsets: FissureOffsets, side: int, mask: np.ndarray,
             X: np.ndarray, Y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Lobe labels (uint8, 0 outside ``mask``) of one lung on canonical axes."""
    oblique, horizontal = fissure_heights(shape, side, X, Y)
    z = np.asarray(Z, dtype=np.float32)[None, None, :]
    off_o = offsets.oblique_right if side > 0 else offsets.oblique_left
    lower = z < (oblique + np.float32(off_o))[:, :, None]
    labels = np.full(mask.shape, RUL if side > 0 else LUL, dtype=np.uint8)
    if horizontal is not None:
        labels[z < (horizontal + np.float32(offsets.horizontal))[:, :, None]] = RML
    labels[lower] = RLL if side > 0 else LLL
    labels *= mask
    return labels


def paint_lungs(labels: np.ndarray, grid: Grid, frame: Frame, shape: ThoraxShape,
                offsets: FissureOffsets) -> None:
    """Write the five lobes into ``labels`` (in place)."""
    for side in (+1, -1):
        lo, hi = side_box(shape, side)
        sl = grid.box(frame.to_world(lo), frame.to_world(hi))
        if sl is None:
            continue
        X, Y, Z = frame.axes_to_canonical(grid.box_axes(sl))
        mask = lung_mask(shape, side, X, Y, Z)
        lobes = lobe_map(shape, offsets, side, mask, X, Y, Z)
        view = labels[sl]
        view[mask] = lobes[mask]
