"""Procedural thorax phantoms: nodule-free host label maps in the MAISI label space.

Decide, then draw: :func:`sample_phantom_params` draws who the host is,
:func:`generate_phantom` renders its anatomy on any grid (see :func:`phantom_grid`),
and :mod:`.qc` measures lobes and draws a montage.

>>> from lesiontrials.world.phantom import PhantomParams, generate_phantom, phantom_grid
>>> grid = phantom_grid("coarse")
>>> volume = generate_phantom(PhantomParams("F", 63, 162, 26, shape_seed=7),
...                           shape=grid.shape, spacing_mm=grid.spacing_mm)
>>> volume.array.dtype.name, volume.shape
('uint8', (128, 128, 80))
"""

from lesiontrials.world.phantom.generate import generate_phantom, render_layout
from lesiontrials.world.phantom.layout import PhantomLayout, build_layout
from lesiontrials.world.phantom.params import (
    LUNG_VOLUME_RANGE_ML,
    PHANTOM_GRIDS,
    REFERENCE_LOBE_FRACTIONS,
    PhantomGrid,
    PhantomParams,
    phantom_grid,
    sample_phantom_params,
    target_lung_volume_ml,
)
from lesiontrials.world.phantom.qc import lobe_volumes_ml, qc_montage

__all__ = [
    "LUNG_VOLUME_RANGE_ML",
    "PHANTOM_GRIDS",
    "REFERENCE_LOBE_FRACTIONS",
    "PhantomGrid",
    "PhantomLayout",
    "PhantomParams",
    "build_layout",
    "generate_phantom",
    "lobe_volumes_ml",
    "phantom_grid",
    "qc_montage",
    "render_layout",
    "sample_phantom_params",
    "target_lung_volume_ml",
]
