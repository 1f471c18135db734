"""Central pulmonary vessels (all labelled 119): pulmonary trunk, arteries along the
bronchi, and four pulmonary veins from the left atrium into their lobes.

Only the central generations are drawn; smaller peripheral vessels stay lung parenchyma,
so every lobe remains whole.
"""

from __future__ import annotations

import numpy as np

from lesiontrials.world.phantom.airways import Tree, grow_tree, lobar_origins
from lesiontrials.world.phantom.fields import Frame
from lesiontrials.world.phantom.lungs import LLL, LUL, RLL, RML, RUL
from lesiontrials.world.phantom.mediastinum import pulmonary_trunk
from lesiontrials.world.phantom.shape import ThoraxShape
from lesiontrials.world.phantom.tubes import Tubes, polyline_tubes, smooth_curve

#: Pulmonary arteries follow the bronchi down to this generation (lobar = 2).
ARTERY_MAX_GEN = 5
#: Pulmonary veins branch this many generations inside their lobes.
VEIN_GENERATIONS = 3
_ARTERY_TO_AIRWAY_RADIUS = 1.15


def _accompanying_offsets(tree: Tree, *, side_of: dict[int, int]) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """Offsets (world mm) at each branch's start and end that put an artery beside it.

    The offset at a branch point is shared by the parent's end and the children's starts,
    so the artery stays continuous.
    """
    tubes = tree.tubes
    d = tubes.p1 - tubes.p0
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    hint = np.stack([np.array([float(side_of.get(int(lb), 1)), 0.6, 0.4]) for lb in tree.lobe])
    hint /= np.linalg.norm(hint, axis=1, keepdims=True)
    across = hint - (hint * d).sum(axis=1, keepdims=True) * d
    across /= np.maximum(np.linalg.norm(across, axis=1, keepdims=True), 1e-9)
    gap = tubes.r1 * (1.0 + _ARTERY_TO_AIRWAY_RADIUS) + 0.8
    end = across * gap[:, None]
    start = np.where((tree.parent >= 0)[:, None], end[np.maximum(tree.parent, 0)], end)
    return start, end


def _arteries(tree: Tree, frame: Frame, trunk_end: dict[int, np.ndarray]) -> Tubes:
    keep = (tree.tubes.gen >= 2) & (tree.tubes.gen <= ARTERY_MAX_GEN) & (tree.lobe > 0)
    side_of = {RUL: 1, RML: 1, RLL: 1, LUL: -1, LLL: -1}
    start, end = _accompanying_offsets(tree, side_of=side_of)
    t = tree.tubes
    ratio = _ARTERY_TO_AIRWAY_RADIUS
    branches = Tubes(t.p0 + start, t.p1 + end, t.r0 * ratio, t.r1 * ratio, t.gen).select(keep)
    links = []
    roots = np.nonzero(keep & (tree.parent < 0))[0]
    for i in roots:
        side = side_of[int(tree.lobe[i])]
        links.append(polyline_tubes(np.stack([trunk_end[side], t.p0[i] + start[i]]),
                                    np.array([9.0 * frame.size, t.r0[i] * ratio])))
    return Tubes.concat([branches, *links])


def _main_arteries(shape: ThoraxShape, frame: Frame) -> tuple[Tubes, dict[int, np.ndarray]]:
    """Pulmonary trunk, right and left pulmonary arteries; returns the hilar ends."""
    trunk, fork = pulmonary_trunk(shape, frame)
    c = shape.carina
    right = frame.to_world(np.array([[12.0, -6.0, c[2] - 24.0], [36.0, -12.0, c[2] - 24.0]]))
    left = frame.to_world(np.array([[-30.0, -6.0, c[2] - 14.0], [-44.0, -18.0, c[2] - 14.0]]))
    k = frame.size
    parts = [trunk]
    for path, radius in ((right, 10.5), (left, 10.0)):
        points, radii = smooth_curve(np.vstack([fork, path]), np.full(3, radius * k),
                                     step_mm=6.0)
        parts.append(polyline_tubes(points, radii))
    return Tubes.concat(parts), {1: right[-1], -1: left[-1]}


def _veins(rng: np.random.Generator, shape: ThoraxShape, frame: Frame,
           lobe_points: dict[int, np.ndarray], origins: dict[int, np.ndarray]) -> Tubes:
    """Four pulmonary veins: left-atrial ostium → hilum → a short tree into each lobe."""
    k = frame.size
    atrium = shape.heart.centre + np.array([24.0, -32.0, 30.0])
    plan = (  # ostium offset from the atrium, lobes drained
        (np.array([10.0, 0.0, 6.0]), (RUL, RML)),
        (np.array([8.0, -6.0, -14.0]), (RLL,)),
        (np.array([-14.0, -2.0, 6.0]), (LUL,)),
        (np.array([-12.0, -8.0, -14.0]), (LLL,)),
    )
    parts = []
    for offset, lobes in plan:
        ostium = atrium + offset
        hilum = 0.5 * (ostium + np.mean([origins[lb] for lb in lobes], axis=0))
        hilum[1] = 0.5 * (hilum[1] + ostium[1]) + 6.0
        hilum[2] = ostium[2]
        ends = frame.to_world(np.stack([ostium, hilum]))
        parts.append(polyline_tubes(ends, np.array([7.5, 7.0]) * k))
        for lobe in lobes:
            tree = grow_tree(rng, ends[1], frame.to_world(lobe_points[lobe]),
                             radius_mm=6.0 * k / np.sqrt(len(lobes)), gen=2,
                             max_gen=1 + VEIN_GENERATIONS, rank=1, lobe=lobe)
            parts.append(tree.tubes)
    return Tubes.concat(parts)


def pulmonary_vessels(
    rng: np.random.Generator,
    shape: ThoraxShape,
    frame: Frame,
    airway_tree: Tree,
    lobe_points: dict[int, np.ndarray],
) -> Tubes:
    """All central pulmonary vessel tubes (world mm)."""
    main, hila = _main_arteries(shape, frame)
    arteries = _arteries(airway_tree, frame, hila)
    veins = _veins(rng, shape, frame, lobe_points, lobar_origins(shape))
    return Tubes.concat([main, arteries, veins])
