"""Shared fixtures of the lesion-fidelity bench: hosts, donor grids, the test ellipsoid
and the noise-free opacity of one drawn lesion."""

from __future__ import annotations

from typing import Any

import numpy as np

from lesiontrials.geometry import NoduleMask
from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.render import Acquisition
from lesiontrials.render.appearance.lesion import lesion_layer, sample_lesion_params

HOSTS = {"screening_0.7x0.7x1.25": (0.7, 0.7, 1.25), "thick_0.7x0.7x5": (0.7, 0.7, 5.0)}


SOURCES = {"0.5mm": (0.5, 0.5, 0.5), "1mm": (1.0, 1.0, 1.0), "3mm": (3.0, 3.0, 3.0),
           "phantom_3x3x4": (3.0, 3.0, 4.0), "lidc_like_0.7x0.7x2.5": (0.7, 0.7, 2.5),
           "lidc_like_0.7x0.7x5": (0.7, 0.7, 5.0),
           # LIDC outlines rasterised at sub-pixel accuracy (world/lidc_subpixel.py: 0.7 mm
           # pixels refined 2×): the contour itself, not the scan's pixel staircase
           "lidc_subpixel_0.35x0.35x2.5": (0.35, 0.35, 2.5),
           "lidc_subpixel_0.35x0.35x5": (0.35, 0.35, 5.0)}


# Phantom natives as the world builds them (world/natives.py): an LIDC donor's continuous
# shape (here the ellipsoid's sub-pixel outlines on 2.5 mm slices) sampled on the phantom
# grid; the render then draws from that native mask (a native reused as a donor).
NATIVES = {"native_3x3x4_from_lidc_subpixel": (3.0, 3.0, 4.0),
           "native_0.7x0.7x1.25_from_lidc_subpixel": (0.7, 0.7, 1.25)}


NATIVE_SOURCE = (0.35, 0.35, 2.5)


RADII = (6.0, 5.0, 4.5)


LUNG_HU, SOLID_HU = -850.0, 35.0


PHASES = 4


def phase(k: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(1000 + k)
    return tuple(float(v) for v in rng.uniform(-0.5, 0.5, 3))  # type: ignore[return-value]


def place(kernel: np.ndarray, shape: tuple[int, int, int]) -> NoduleMask:
    centre = np.asarray(shape) // 2 - np.round(np.argwhere(kernel).mean(axis=0)).astype(int)
    return NoduleMask(kernel, tuple(int(v) for v in centre))  # type: ignore[arg-type]


def opacity(field: Any, nodule: NoduleMask, host: tuple[float, float, float],
             shape: tuple[int, int, int], margin: float = 5.0) -> np.ndarray:
    params = sample_lesion_params(LesionDescriptors(margin=margin), rng=np.random.default_rng(1))
    layer = lesion_layer(params, mask=nodule, spacing_mm=host, shape=shape, field=field)
    out = np.zeros(shape, dtype=np.float32)
    out[layer.box] = layer.alpha
    return out


def acquisition(host: tuple[float, float, float]) -> Acquisition:
    return Acquisition(slice_thickness_mm=host[2], mas=50.0)


def half_max_diameter(alpha: np.ndarray, voxel_mm3: float) -> float:
    return float((6 * float((alpha >= 0.5).sum()) * voxel_mm3 / np.pi) ** (1 / 3))


def ideal_opacity(diameter: float, centre: np.ndarray, host: tuple[float, float, float],
                   shape: tuple[int, int, int], edge_mm: float) -> np.ndarray:
    """The exact partial volume of a perfect sphere (centre in host voxels) with the
    renderer's soft edge: the mean of ``soft_edge(r − |x − c|)`` over a 5×5×20-point
    lattice in every voxel (0.14×0.14×0.25 mm on a 0.7×0.7×5 mm grid) — what any renderer
    that draws the true shape should produce, whatever the donor."""
    from lesiontrials.render.appearance.lesion_shape import soft_edge

    axes = np.meshgrid(*[(np.arange(n) - c) * s for n, c, s in zip(shape, centre, host,
                                                                   strict=True)],
                       indexing="ij")
    lattice = [((np.arange(k) + 0.5) / k - 0.5) * s for k, s in zip((5, 5, 20), host,
                                                                   strict=True)]
    total = np.zeros(shape, dtype=np.float64)
    for dx in lattice[0]:
        for dy in lattice[1]:
            planar = (axes[0] + dx) ** 2 + (axes[1] + dy) ** 2
            for dz in lattice[2]:
                distance = np.sqrt(planar + (axes[2] + dz) ** 2)
                total += soft_edge(diameter / 2 - distance, edge_mm)
    return total / (len(lattice[0]) * len(lattice[1]) * len(lattice[2]))
