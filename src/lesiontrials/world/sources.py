"""The world's data sources: who the hosts are and how they were scanned.

Two phantom sources differ in population and acquisition the way a screening and a
diagnostic cohort do; the real-CT source holds the two packaged real chest CTs.
Deciding a host (demographics, grid, native donors) is seeded by (world seed, source,
host index) only, so any subset of hosts can be rebuilt alone and gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lesiontrials.world.phantom import PhantomParams, phantom_grid, sample_phantom_params


@dataclass(frozen=True)
class Acquisition:
    """Scanner settings recorded in ``meta/{DS}_acquisition.csv`` (the renderer reads them)."""

    slice_thickness_mm: float
    kvp: float
    mas: float
    kernel: str
    scanner: str


@dataclass(frozen=True)
class PhantomSource:
    name: str
    description: str
    age_range: tuple[float, float]
    male_fraction: float
    pack_years_median: float
    current_smoker_fraction: float
    nodules_per_host: tuple[float, ...]  # P(0), P(1), ... native nodules per host
    malignant_weight: float  # sampling weight of a malignant donor relative to benign
    size_exponent: float  # donor weight ∝ diameter ** size_exponent
    z_spacing_factor: float  # slice spacing relative to the named grid
    thinnest_slice_mm: float  # never reconstructed thinner than this (mm)
    acquisition: Acquisition


PHANTOM_SOURCES: tuple[PhantomSource, ...] = (
    PhantomSource(
        name="SCREEN", description="screening-like: NLST demographics, thin slices, low dose, "
        "mostly small benign nodules",
        age_range=(55.0, 74.0), male_fraction=0.59, pack_years_median=48.0,
        current_smoker_fraction=0.48, nodules_per_host=(0.25, 0.40, 0.25, 0.10),
        malignant_weight=0.35, size_exponent=-0.5, z_spacing_factor=1.0, thinnest_slice_mm=1.25,
        acquisition=Acquisition(1.25, 120.0, 40.0, "soft (B30f-like)", "phantom-screen"),
    ),
    PhantomSource(
        name="DIAG", description="diagnostic-like: older, thicker slices, standard dose, more and "
        "larger malignant nodules",
        age_range=(45.0, 85.0), male_fraction=0.55, pack_years_median=35.0,
        current_smoker_fraction=0.30, nodules_per_host=(0.10, 0.45, 0.30, 0.15),
        malignant_weight=2.5, size_exponent=1.0, z_spacing_factor=1.25, thinnest_slice_mm=1.25,
        acquisition=Acquisition(2.5, 120.0, 200.0, "sharp (B60f-like)", "phantom-diag"),
    ),
)
REAL_SOURCE = "REALCT"


@dataclass(frozen=True)
class HostPlan:
    """Everything decided about one phantom host before anything is drawn."""

    dataset: str
    ct_id: str
    patient_id: str
    params: PhantomParams
    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    smoking_status: str
    pack_years: float
    donor_uids: tuple[str, ...]
    seed: tuple[int, ...] = field(default=())


def host_grid(source: PhantomSource, grid_name: str) -> tuple[tuple[int, int, int],
                                                               tuple[float, float, float]]:
    """Shape (x, y, z) and voxel size (mm) of ``source``'s hosts on the named phantom grid:
    the grid's field of view with the source's slice spacing (the grid's × the source's
    factor, never under the source's thinnest slice: 1.25 mm, as screening protocols
    reconstruct, which also keeps the screening-grid demo within its time budget)."""
    grid = phantom_grid(grid_name)
    sx, sy, sz = grid.spacing_mm
    z_spacing = max(sz * source.z_spacing_factor, source.thinnest_slice_mm)
    nz = round(grid.shape[2] * sz / z_spacing)
    return (grid.shape[0], grid.shape[1], nz), (sx, sy, z_spacing)


def donor_weights(source: PhantomSource, diameters: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Sampling weights over the donor library for ``source``'s native nodules."""
    weights = np.power(np.maximum(diameters, 3.0), source.size_exponent)
    weights = weights * np.where(labels == 1, source.malignant_weight, 1.0)
    return weights / weights.sum()


def plan_hosts(
    source: PhantomSource,
    *,
    source_index: int,
    n_hosts: int,
    grid: str,
    seed: int,
    donor_uids: list[str],
    donor_diameters: np.ndarray,
    donor_labels: np.ndarray,
) -> list[HostPlan]:
    """Decide every host of ``source``: demographics, grid (the named phantom grid) and
    native donors."""
    shape, spacing = host_grid(source, grid)
    weights = donor_weights(source, donor_diameters, donor_labels)
    plans = []
    for index in range(n_hosts):
        host_seed = (seed, source_index, index)
        rng = np.random.default_rng(host_seed)
        params = sample_phantom_params(rng, age_range=source.age_range,
                                       male_fraction=source.male_fraction)
        smoker = rng.random() < source.current_smoker_fraction
        pack_years = float(np.round(source.pack_years_median * np.exp(0.4 * rng.normal()), 1))
        counts = np.asarray(source.nodules_per_host)
        n_nodules = int(rng.choice(len(counts), p=counts / counts.sum()))
        chosen = rng.choice(len(donor_uids), size=n_nodules, replace=False, p=weights)
        plans.append(HostPlan(
            dataset=source.name, ct_id=f"{source.name}_{index:04d}",
            patient_id=f"{source.name}-P{index:04d}", params=params, shape=shape,
            spacing_mm=spacing, smoking_status="current" if smoker else "former",
            pack_years=pack_years, donor_uids=tuple(donor_uids[i] for i in sorted(chosen)),
            seed=host_seed,
        ))
    return plans
