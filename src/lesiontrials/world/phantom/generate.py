"""Render a decided layout onto a voxel grid: one uint8 label map in the MAISI space.

Structures are painted from the outside in; a later structure overwrites an earlier one,
so labels never overlap: body → back muscles → lobes → mediastinal fat around the great
vessels → pulmonary vessels → bronchi → trachea → heart → aorta, SVC, esophagus →
vertebrae → spinal cord → ribs → sternum; finally detached lobe islands are merged.
"""

from __future__ import annotations

import numpy as np

from lesiontrials.anatomy import AIRWAY, BODY, PULMONARY_VEIN, TRACHEA
from lesiontrials.io import Volume
from lesiontrials.world.phantom.body import paint_back_muscles, paint_body
from lesiontrials.world.phantom.cleanup import keep_lobes_whole
from lesiontrials.world.phantom.fields import Grid
from lesiontrials.world.phantom.layout import PhantomLayout, build_layout
from lesiontrials.world.phantom.lungs import paint_lungs
from lesiontrials.world.phantom.mediastinum import paint_heart, paint_mediastinum
from lesiontrials.world.phantom.params import PhantomParams
from lesiontrials.world.phantom.skeleton import (
    paint_ribs,
    paint_spinal_cord,
    paint_sternum,
    paint_vertebrae,
)
from lesiontrials.world.phantom.tubes import Tubes, paint_tubes

_FAT_MARGIN_MM = 2.0  # mediastinal fat kept between the great vessels and the lungs


def _inflated(tubes: Tubes, margin_mm: float) -> Tubes:
    return Tubes(tubes.p0, tubes.p1, tubes.r0 + margin_mm, tubes.r1 + margin_mm, tubes.gen)


def render_layout(layout: PhantomLayout, grid: Grid) -> np.ndarray:
    """Paint ``layout`` on ``grid``; returns the uint8 label array (x, y, z)."""
    labels = np.zeros(grid.shape, dtype=np.uint8)
    frame, shape = layout.frame, layout.shape
    paint_body(labels, grid, frame, shape, layout.walls)
    paint_back_muscles(labels, grid, frame, shape)
    paint_lungs(labels, grid, frame, shape, layout.offsets)
    mediastinal = Tubes.concat([*layout.mediastinum.values(), layout.trachea])
    paint_tubes(labels, grid, _inflated(mediastinal, _FAT_MARGIN_MM), BODY)
    paint_tubes(labels, grid, layout.vessels, PULMONARY_VEIN)
    paint_tubes(labels, grid, layout.airways.tubes, AIRWAY)
    paint_tubes(labels, grid, layout.trachea, TRACHEA)
    paint_heart(labels, grid, frame, shape)
    paint_mediastinum(labels, grid, layout.mediastinum)
    paint_vertebrae(labels, grid, frame, shape)
    paint_spinal_cord(labels, grid, frame, shape)
    paint_ribs(labels, grid, frame, shape)
    paint_sternum(labels, grid, frame, shape)
    keep_lobes_whole(labels)
    return labels


def generate_phantom(
    params: PhantomParams,
    *,
    shape: tuple[int, int, int],
    spacing_mm: tuple[float, float, float],
) -> Volume:
    """A procedural thorax label map for ``params`` (uint8, MAISI label ids, RAS+).

    The grid is centred on world (0, 0, 0): the body's front-back and left-right centre
    lies near x = y = 0 and the lungs' mid-height near z = 0. The same ``params`` always
    give the same bytes; ``params.shape_seed`` varies the shape.

    Args:
        params: the host.
        shape: array shape (x, y, z) in voxels.
        spacing_mm: voxel size (x, y, z) in mm.
    """
    grid = Grid.centred(shape, spacing_mm)
    labels = render_layout(build_layout(params), grid)
    return Volume(array=labels, affine=grid.affine)
