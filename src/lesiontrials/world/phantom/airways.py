"""Trachea, carina and a space-filling bronchial tree.

The trachea, main bronchi and bronchus intermedius are placed at canonical landmarks;
from each lobar bronchus a tree grows into its lobe by recursive halving of the lobe's
sample points (each branch heads for the centroid of the region it supplies, the region
is split across the branch, children get radius ``r·(share)^(1/3)``, Murray's law),
in the spirit of Kitaoka et al. (J Appl Physiol 1999).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lesiontrials.world.phantom.fields import Frame
from lesiontrials.world.phantom.lungs import LLL, LUL, RLL, RML, RUL
from lesiontrials.world.phantom.mediastinum import trachea_centreline
from lesiontrials.world.phantom.shape import ThoraxShape
from lesiontrials.world.phantom.tubes import Tubes, polyline_tubes, smooth_curve

#: Lobar bronchus (radius, first length) in reference-adult mm.
_LOBAR = {RUL: (4.8, 14.0), RML: (3.8, 16.0), RLL: (5.0, 14.0), LUL: (4.8, 12.0),
          LLL: (4.8, 16.0)}
_MIN_POINTS = 6


@dataclass(frozen=True, eq=False)
class Tree:
    """Branches of a tree: tubes plus each branch's parent index (-1 for a root) and lobe."""

    tubes: Tubes
    parent: np.ndarray
    lobe: np.ndarray

    @staticmethod
    def concat(parts: list[Tree]) -> Tree:
        offsets = np.cumsum([0] + [len(p.tubes) for p in parts[:-1]])
        parents = [np.where(p.parent >= 0, p.parent + o, -1) for p, o in zip(parts, offsets,
                                                                             strict=True)]
        return Tree(Tubes.concat([p.tubes for p in parts]),
                    np.concatenate(parents).astype(int),
                    np.concatenate([p.lobe for p in parts]).astype(int))


def _split_axis(points: np.ndarray, direction: np.ndarray, rank: int) -> np.ndarray:
    """Principal axis (by variance rank) of the points projected across ``direction``."""
    centred = points - points.mean(axis=0)
    across = centred - np.outer(centred @ direction, direction)
    _, vectors = np.linalg.eigh(across.T @ across)
    return vectors[:, -1 - rank]


def grow_tree(
    rng: np.random.Generator,
    start: np.ndarray,
    points: np.ndarray,
    *,
    radius_mm: float,
    gen: int,
    max_gen: int,
    first_length_mm: float | None = None,
    min_radius_mm: float = 1.0,
    rank: int = 0,
    lobe: int = 0,
) -> Tree:
    """Grow a space-filling tree from ``start`` into ``points`` (world mm, (N, 3)).

    Each branch runs 40 % of the way (60 % for terminal branches, ±10 % random) towards
    the centroid of its points; generations stop at ``max_gen`` or ``min_radius_mm``.
    ``rank`` 1 splits along the second principal axis (for a tree that avoids the first).
    """
    rows: list[tuple[np.ndarray, np.ndarray, float, int, int]] = []
    stack = [(np.asarray(start, dtype=float), np.asarray(points, dtype=float), radius_mm, gen,
              -1, first_length_mm)]
    while stack:
        p0, pts, radius, g, parent, fixed = stack.pop()
        vec = pts.mean(axis=0) - p0
        dist = float(np.linalg.norm(vec))
        if dist < 1e-6:
            continue
        direction = vec / dist
        terminal = g >= max_gen or len(pts) < 2 * _MIN_POINTS or radius < min_radius_mm / 0.79
        frac = (0.6 if terminal else 0.4) * (1.0 + 0.1 * float(rng.uniform(-1.0, 1.0)))
        length = fixed if fixed is not None else float(np.clip(frac * dist, 2.0 * radius,
                                                               0.85 * dist))
        p1 = p0 + direction * length
        rows.append((p0, p1, radius, g, parent))
        if terminal:
            continue
        me = len(rows) - 1
        side = (pts - pts.mean(axis=0)) @ _split_axis(pts, direction, rank) > 0
        for half in (pts[side], pts[~side]):
            if len(half) >= _MIN_POINTS:
                child_r = radius * (len(half) / len(pts)) ** (1.0 / 3.0)
                stack.append((p1, half, child_r, g + 1, me, None))
    return _tree_from_rows(rows, lobe)


def _tree_from_rows(rows: list, lobe: int) -> Tree:
    if not rows:
        return Tree(Tubes.empty(), np.zeros(0, dtype=int), np.zeros(0, dtype=int))
    p0 = np.array([r[0] for r in rows])
    p1 = np.array([r[1] for r in rows])
    radius = np.array([r[2] for r in rows])
    tubes = Tubes(p0, p1, radius, radius * 0.95, np.array([r[3] for r in rows], dtype=int))
    return Tree(tubes, np.array([r[4] for r in rows], dtype=int),
                np.full(len(rows), lobe, dtype=int))


def bronchial_landmarks(shape: ThoraxShape) -> dict[str, np.ndarray]:
    """Canonical carina and the ends of the main bronchi and bronchus intermedius."""
    c = shape.carina
    rmb = c + np.array([22.0, -5.0, -20.0])
    return {"carina": c, "rmb_end": rmb, "bi_end": rmb + np.array([5.0, -1.0, -24.0]),
            "lmb_end": c + np.array([-38.0, -5.0, -30.0])}


def lobar_origins(shape: ThoraxShape) -> dict[int, np.ndarray]:
    """Canonical origin of each lobar bronchus."""
    marks = bronchial_landmarks(shape)
    return {RUL: marks["rmb_end"], RML: marks["bi_end"], RLL: marks["bi_end"],
            LUL: marks["lmb_end"], LLL: marks["lmb_end"]}


def trachea_tubes(shape: ThoraxShape, frame: Frame) -> Tubes:
    """The trachea (world tubes) from above the scan to the carina."""
    radius = 9.0 * frame.size
    points, radii = smooth_curve(frame.to_world(trachea_centreline(shape)), np.full(3, radius),
                                 step_mm=8.0)
    return polyline_tubes(points, radii)


def bronchial_tree(
    rng: np.random.Generator,
    shape: ThoraxShape,
    frame: Frame,
    lobe_points: dict[int, np.ndarray],
    *,
    max_gen: int = 7,
) -> Tree:
    """Main bronchi, bronchus intermedius and one space-filling tree per lobe (world mm).

    Generations: trachea 0, main bronchi 1, lobar 2, segmental 3, … up to ``max_gen``.
    """
    k = frame.size
    marks = {name: frame.to_world(p) for name, p in bronchial_landmarks(shape).items()}
    trunks = polyline_tubes(np.stack([marks["carina"], marks["rmb_end"], marks["bi_end"]]),
                            np.array([7.0, 6.3, 5.6]) * k, gen=1)
    left = polyline_tubes(np.stack([marks["carina"], marks["lmb_end"]]),
                          np.array([6.5, 6.0]) * k, gen=1)
    parts = [Tree(Tubes.concat([trunks, left]), np.array([-1, 0, -1]), np.zeros(3, dtype=int))]
    origins = lobar_origins(shape)
    for label in (RUL, RML, RLL, LUL, LLL):
        radius, length = _LOBAR[label]
        parts.append(grow_tree(rng, frame.to_world(origins[label]),
                               frame.to_world(lobe_points[label]), radius_mm=radius * k, gen=2,
                               max_gen=max_gen, first_length_mm=length * k, lobe=label))
    return Tree.concat(parts)
