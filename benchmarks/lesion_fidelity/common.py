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


def partial_volume_diameter(alpha: np.ndarray, voxel_mm3: float) -> float:
    """The half-maximum equivalent diameter without rounding voxels to in or out: each
    voxel counts by the fraction of it inside the half-maximum surface, which is its
    opacity where the edge is symmetric about that surface (mm). Thresholding at 0.5
    rounds every boundary voxel to 0 or 1; on 5 mm slices the two end slices then make the
    volume jump by a slab of the nodule's cap at a time."""
    return float((6 * float(alpha.sum(dtype=np.float64)) * voxel_mm3 / np.pi) ** (1 / 3))


def ideal_opacity(diameter: float, centre: np.ndarray, host: tuple[float, float, float],
                   shape: tuple[int, int, int], edge_mm: float,
                   radii: tuple[float, float, float] | None = None) -> np.ndarray:
    """The exact partial volume of a perfect sphere (centre in host voxels) with the
    renderer's soft edge: the mean of ``soft_edge(r − |x − c|)`` over a 5×5×20-point
    lattice in every voxel (0.14×0.14×0.25 mm on a 0.7×0.7×5 mm grid) — what any renderer
    that draws the true shape should produce, whatever the donor. ``radii``: an
    axis-aligned ellipsoid instead (the distance is then in units scaled so that the
    surface is at ``diameter / 2``: the surface is exact, the soft edge's width off by the
    ratio of the radii — for 6×5×4.5 mm semi-axes and a 0.25 mm edge, ≤ 0.06 mm)."""
    from lesiontrials.render.appearance.lesion_shape import soft_edge

    stretch = (np.ones(3) if radii is None
               else (diameter / 2) / np.asarray(radii, dtype=np.float64))
    axes = np.meshgrid(*[(np.arange(n) - c) * s * k
                         for n, c, s, k in zip(shape, centre, host, stretch, strict=True)],
                       indexing="ij")
    host = tuple(float(s * k) for s, k in zip(host, stretch, strict=True))  # type: ignore[assignment]
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


def central_slice_diameter(alpha: np.ndarray, pixel_mm: tuple[float, float]) -> float:
    """In-plane diameter as a reader measures it: on the axial slice where the half-maximum
    region (opacity ≥ 0.5) is largest, the diameter of the circle of that area (mm)."""
    areas = (alpha >= 0.5).sum(axis=(0, 1))
    if areas.max() == 0:
        return 0.0
    return float(2.0 * np.sqrt(areas.max() * pixel_mm[0] * pixel_mm[1] / np.pi))


def z_extent(alpha: np.ndarray, slice_mm: float) -> float:
    """Extent along z (mm) of the half-maximum region: through the in-plane voxel nearest
    the opacity's centroid (the same column for two renders of one nodule), the distance
    between the two 0.5 crossings along z (linear between slice centres; 0 when the
    column's peak is under 0.5)."""
    weights = alpha.sum(axis=2)
    total = float(weights.sum()) or 1.0
    x = round(float((weights.sum(axis=1) * np.arange(alpha.shape[0])).sum()) / total)
    y = round(float((weights.sum(axis=0) * np.arange(alpha.shape[1])).sum()) / total)
    column = alpha[x, y, :].astype(np.float64)
    above = np.flatnonzero(column >= 0.5)
    if above.size == 0:
        return 0.0
    lo, hi = int(above[0]), int(above[-1])

    def crossing(inside: int, outside: int) -> float:
        if outside < 0 or outside >= column.size:
            return float(inside)
        a, b = column[inside], column[outside]
        return inside + (a - 0.5) / max(a - b, 1e-9) * (outside - inside)

    return float((crossing(hi, hi + 1) - crossing(lo, lo - 1)) * slice_mm)
