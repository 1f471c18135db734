"""Decide where a nodule goes: lobe + percent position → target voxel → a position
that fits (snapped into the lobe, pleural distance kept, companions kept apart).

Axis conventions (RAS+ arrays ``(x, y, z)``, as in :mod:`lesiontrials.anatomy`):
the cranio-caudal percent is measured over the lobe's occupied slices (``cc`` 0 = its
most inferior slice, 100 = its most superior); the in-plane percents over the lobe's
occupied extent *on that slice* (``ml`` 0 = patient's left-most column, 100 = right-most;
``ap`` 0 = most posterior row, 100 = most anterior). Targets are fractional voxel
coordinates of the nodule's centroid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lesiontrials import anatomy
from lesiontrials.geometry import Box, NoduleMask
from lesiontrials.insert.transplant import (
    Spacing,
    companion_zone,
    correlate_counts,
    pleura_violations,
    window_box,
)


@dataclass(frozen=True)
class FitRule:
    """What a position must satisfy: ``min_inside_fraction`` of the voxels on
    ``region_ids`` and ``min_lung_fraction`` inside the lung interior, every voxel
    ≥ ``min_pleural_mm`` from the pleura, and more than ``gap_mm`` (and one voxel
    diagonal) from every companion."""

    region_ids: tuple[int, ...]
    min_inside_fraction: float
    min_pleural_mm: float = 0.0
    gap_mm: float = 0.0
    min_lung_fraction: float = 0.0


@dataclass(frozen=True)
class Fit:
    """A position that satisfies the rule: kernel offset in the host grid, the distance
    (mm) its centroid moved from the target, and what blocked the target itself."""

    offset: tuple[int, int, int]
    shift_mm: float
    blocked: tuple[str, ...]


def choose_lobe(present: Sequence[int], rng: np.random.Generator) -> int:
    """A lobe label id among ``present``, drawn with nodule lobe frequencies."""
    if not present:
        raise ValueError("no lobes to choose from")
    ids = sorted(present)
    weights = np.array([anatomy.NODULE_LOBE_FREQUENCY[anatomy.LOBE_BY_LABEL[i]] for i in ids])
    return int(ids[int(rng.choice(len(ids), p=weights / weights.sum()))])


def draw_free_percents(cc_pct: float, ml_pct: float, ap_pct: float,
                       rng: np.random.Generator) -> tuple[float, float, float]:
    """Replace NaN (free) percents by uniform draws on [0, 100], in the order cc, ml, ap."""
    drawn = [p if math.isfinite(p) else float(rng.uniform(0.0, 100.0))
             for p in (cc_pct, ml_pct, ap_pct)]
    return drawn[0], drawn[1], drawn[2]


def lobe_target(labels: np.ndarray, lobe_box: Box, lobe_id: int, *, cc_pct: float,
                ml_pct: float, ap_pct: float) -> np.ndarray:
    """Target voxel ``(x, y, z)`` of a percent position in a lobe (see module docstring).

    Percents must lie in [0, 100] (out-of-range values are refused, never clamped: the
    planner replaces them, see ``trials/rows.py``). Works on one slice of the lobe's box.
    """
    given = (cc_pct, ml_pct, ap_pct)
    if not all(math.isfinite(p) and 0.0 <= p <= 100.0 for p in given):
        raise ValueError(f"lobe percents {given} must be finite and inside [0, 100]")
    cc, ml, ap = (float(p) for p in given)
    z0, z1 = lobe_box[2].start, lobe_box[2].stop - 1
    z = z0 + cc / 100.0 * (z1 - z0)
    section = _lobe_section(labels, lobe_box, lobe_id, int(np.floor(z + 0.5)))
    xs = np.flatnonzero(section.any(axis=1)) + lobe_box[0].start
    ys = np.flatnonzero(section.any(axis=0)) + lobe_box[1].start
    x = xs.min() + ml / 100.0 * (xs.max() - xs.min())
    y = ys.min() + ap / 100.0 * (ys.max() - ys.min())
    return np.array([x, y, z], dtype=float)


def level_percents(labels: np.ndarray, lobe_box: Box, lobe_id: int,
                   centroid: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`lobe_target`: (cc, ml, ap) percents of a centroid."""
    z0, z1 = lobe_box[2].start, lobe_box[2].stop - 1
    z = float(np.clip(centroid[2], z0, z1))
    section = _lobe_section(labels, lobe_box, lobe_id, int(np.floor(z + 0.5)))
    xs = np.flatnonzero(section.any(axis=1)) + lobe_box[0].start
    ys = np.flatnonzero(section.any(axis=0)) + lobe_box[1].start
    return (_pct(centroid[2], z0, z1), _pct(centroid[0], xs.min(), xs.max()),
            _pct(centroid[1], ys.min(), ys.max()))


def _pct(value: float, lo: float, hi: float) -> float:
    return float(np.clip(100.0 * (value - lo) / max(hi - lo, 1e-9), 0.0, 100.0))


def _lobe_section(labels: np.ndarray, lobe_box: Box, lobe_id: int, z: int) -> np.ndarray:
    """The lobe's in-plane mask on slice ``z``, or on the nearest slice that has any."""
    z0, z1 = lobe_box[2].start, lobe_box[2].stop - 1
    z = int(np.clip(z, z0, z1))
    for step in range(z1 - z0 + 1):
        for candidate in (z - step, z + step):
            if z0 <= candidate <= z1:
                section = labels[lobe_box[0], lobe_box[1], candidate] == lobe_id
                if section.any():
                    return section
    raise ValueError(f"lobe {lobe_id} has no voxels in its box")


def random_lobe_voxel(labels: np.ndarray, lobe_box: Box, lobe_id: int,
                      rng: np.random.Generator, *, tries: int = 256) -> np.ndarray:
    """A uniformly random voxel of the lobe (rejection sampling inside its box)."""
    lo = np.array([s.start for s in lobe_box])
    hi = np.array([s.stop for s in lobe_box])
    for _ in range(tries):
        voxel = rng.integers(lo, hi)
        if labels[tuple(voxel)] == lobe_id:
            return voxel.astype(float)
    voxels = np.argwhere(labels[lobe_box] == lobe_id)
    return (voxels[int(rng.integers(len(voxels)))] + lo).astype(float)


def find_fit(labels: np.ndarray, spacing_mm: Spacing, kernel: np.ndarray,
             target_voxel: np.ndarray, rule: FitRule, *, limit: Box,
             companions: Sequence[NoduleMask] = (), search_start_mm: float = 6.0,
             max_shift_mm: float | None = None) -> Fit | None:
    """The position nearest ``target_voxel`` (centroid distance in mm, ties to the lowest
    index) where ``kernel`` satisfies ``rule`` with its centroid inside ``limit``.

    Searches a window that doubles from ``search_start_mm`` up to ``max_shift_mm`` (or
    until it covers ``limit``); returns ``None`` when nothing fits.
    """
    shape = np.asarray(labels.shape)
    kshape = np.asarray(kernel.shape)
    centroid = np.argwhere(kernel).mean(axis=0)
    target = np.asarray(target_voxel, dtype=float)
    spacing = np.asarray(spacing_mm)
    start = np.floor(target - centroid + 0.5).astype(int)
    lo_allowed = np.maximum(0, np.ceil([s.start - c for s, c in zip(limit, centroid,
                                                                    strict=True)])).astype(int)
    hi_allowed = np.minimum(shape - kshape, np.floor(
        [s.stop - 1 - c for s, c in zip(limit, centroid, strict=True)])).astype(int)
    if np.any(hi_allowed < lo_allowed):
        return None
    start_allowed = bool(np.all(start >= lo_allowed) and np.all(start <= hi_allowed))
    if start_allowed and not constraints_at(labels, spacing_mm, kernel, start, rule, companions):
        shift = float(np.linalg.norm((start + centroid - target) * spacing))
        return Fit(tuple(int(v) for v in start), shift, ())  # type: ignore[arg-type]
    cap = math.inf if max_shift_mm is None else float(max_shift_mm)
    radius = float(search_start_mm)
    while True:
        reach = np.ceil(min(radius, cap) / spacing).astype(int)
        lo = np.maximum(start - reach, lo_allowed)
        hi = np.minimum(start + reach, hi_allowed)
        if np.all(hi >= lo):
            best = _best_in_window(labels, spacing_mm, kernel, lo, hi, target - centroid,
                                   rule, companions, cap)
            if best is not None:
                return _fit(labels, spacing_mm, kernel, rule, companions, best, start,
                            start_allowed)
        covered = np.all(lo == lo_allowed) and np.all(hi == hi_allowed)
        if covered or radius >= cap:
            return None
        radius *= 2.0


def _fit(labels: np.ndarray, spacing_mm: Spacing, kernel: np.ndarray, rule: FitRule,
         companions: Sequence[NoduleMask], best: tuple[np.ndarray, float], start: np.ndarray,
         start_allowed: bool) -> Fit:
    """The found position, with what blocked the target's own position."""
    offset, shift = best
    blocked = constraints_at(labels, spacing_mm, kernel, start, rule, companions)
    if not start_allowed:
        blocked = (*blocked, "outside_lobe")
    return Fit(tuple(int(v) for v in offset), shift, blocked)  # type: ignore[arg-type]


def _best_in_window(labels: np.ndarray, spacing_mm: Spacing, kernel: np.ndarray,
                    lo: np.ndarray, hi: np.ndarray, ideal: np.ndarray, rule: FitRule,
                    companions: Sequence[NoduleMask], cap_mm: float
                    ) -> tuple[np.ndarray, float] | None:
    """Nearest valid offset in ``[lo, hi]`` to the ideal (fractional) offset."""
    window = window_box(lo, hi + np.asarray(kernel.shape), labels.shape)
    crop = labels[window]
    ok = correlate_counts(np.isin(crop, np.asarray(rule.region_ids)), kernel) >= _needed(
        rule.min_inside_fraction, kernel)
    grids = np.meshgrid(*[(np.arange(a, b + 1) - c) * s for a, b, c, s in
                          zip(lo, hi, ideal, spacing_mm, strict=True)], indexing="ij",
                        sparse=True)
    distance = np.sqrt(grids[0] ** 2 + grids[1] ** 2 + grids[2] ** 2)
    ok &= distance <= cap_mm + 1e-9
    if not ok.any():
        return None
    bad = _forbidden(labels, spacing_mm, window, rule, companions)
    if rule.min_lung_fraction > 0:
        outside = ~np.isin(crop, np.asarray(anatomy.LUNG_INTERIOR_LABELS))
        if rule.min_lung_fraction >= 1.0:  # no voxel outside: one correlation for all
            bad = outside if bad is None else bad | outside
        else:
            ok &= correlate_counts(outside, kernel) <= int(np.count_nonzero(kernel)) - _needed(
                rule.min_lung_fraction, kernel)
    if bad is not None:
        ok &= correlate_counts(bad, kernel) == 0
    if not ok.any():
        return None
    index = np.unravel_index(int(np.argmin(np.where(ok, distance, np.inf))), ok.shape)
    return lo + np.asarray(index), float(distance[index])


def _needed(fraction: float, kernel: np.ndarray) -> int:
    return math.ceil(fraction * int(np.count_nonzero(kernel)) - 1e-9)


def _forbidden(labels: np.ndarray, spacing_mm: Spacing, window: Box, rule: FitRule,
               companions: Sequence[NoduleMask]) -> np.ndarray | None:
    """Voxels no nodule voxel may occupy: too close to the pleura or to a companion."""
    bad = None
    if rule.min_pleural_mm > 0:
        bad = pleura_violations(labels, anatomy.LUNG_INTERIOR_LABELS, window, spacing_mm,
                                rule.min_pleural_mm)
    zone = companion_zone(window, companions, spacing_mm, rule.gap_mm, labels.shape)
    if zone is not None:
        bad = zone if bad is None else bad | zone
    return bad


def constraints_at(labels: np.ndarray, spacing_mm: Spacing, kernel: np.ndarray,
                   offset: np.ndarray, rule: FitRule,
                   companions: Sequence[NoduleMask] = ()) -> tuple[str, ...]:
    """Names of the constraints a kernel at ``offset`` violates: ``outside_volume``,
    ``containment``, ``lung``, ``pleura``, ``companion``."""
    nodule = NoduleMask(kernel, tuple(int(v) for v in offset))  # type: ignore[arg-type]
    if not nodule.in_shape(labels.shape):
        return ("outside_volume",)
    failed = []
    under = labels[nodule.box][kernel]
    if int(np.isin(under, np.asarray(rule.region_ids)).sum()) < _needed(
            rule.min_inside_fraction, kernel):
        failed.append("containment")
    if int(np.isin(under, np.asarray(anatomy.LUNG_INTERIOR_LABELS)).sum()) < _needed(
            rule.min_lung_fraction, kernel):
        failed.append("lung")
    bad = _forbidden(labels, spacing_mm, nodule.box, rule, ())
    if bad is not None and bad[kernel].any():
        failed.append("pleura")
    zone = companion_zone(nodule.box, companions, spacing_mm, rule.gap_mm, labels.shape)
    if zone is not None and zone[kernel].any():
        failed.append("companion")
    return tuple(failed)
