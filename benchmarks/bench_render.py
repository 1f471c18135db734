"""Rendering speed. Prints JSON.

Targets (issue 6): analytic 512×512×300 in ≤ 10 s on one core; host-ct insertion ≤ 3 s per
case; physics on a 32-slice 512² slab ≤ 2 min on 2 cores. Packaged real CTs must be cached
(the world build fetches them). Best of ``REPEATS`` runs.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import numpy as np

from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.render import (
    Acquisition,
    AnalyticRenderer,
    HostCTRenderer,
    LesionSpec,
    physics_slab,
)
from lesiontrials.settings import load_settings
from lesiontrials.testing import sphere_mask
from lesiontrials.world.phantom import generate_phantom, phantom_grid, sample_phantom_params

REPEATS = 3


def best_of(func: Callable[[], object], repeats: int = REPEATS) -> tuple[float, float]:
    """Best wall time and best CPU time (s) of ``repeats`` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        func()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return round(min(walls), 2), round(min(cpus), 2)


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pin(cores: set[int]) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)


def bench_analytic() -> dict[str, object]:
    grid = phantom_grid("full")
    labels = generate_phantom(sample_phantom_params(np.random.default_rng(0)), shape=grid.shape,
                              spacing_mm=grid.spacing_mm).array[:, :, :300].copy()
    lung = np.argwhere(labels == 30)
    nodule = sphere_mask(labels.shape, tuple(lung[len(lung) // 2]), 5.0, grid.spacing_mm)
    spec = [LesionSpec(nodule, LesionDescriptors(spiculation=4.0, lobulation=3.0))]
    acq = Acquisition(slice_thickness_mm=1.0, mas=40.0, kernel="soft")

    def run() -> None:
        AnalyticRenderer().render(labels=labels, spacing_mm=grid.spacing_mm, lesions=spec,
                                  acquisition=acq, seed=1)

    wall, cpu = best_of(run)
    return {"analytic_shape": list(labels.shape), "analytic_seconds_1_core": wall,
            "analytic_cpu_seconds": cpu, "analytic_target_seconds": 10}


def bench_host_ct() -> dict[str, object]:
    from lesiontrials.world.realct import load_real_examples, segment_host

    example = load_real_examples(load_settings().cache_dir)[0]
    assert example.lesion is not None  # lung1, annotated
    labels = segment_host(example.ct, lesion_mask=example.lesion.array).labels.array
    spacing = example.ct.spacing_mm
    lung = np.argwhere(np.isin(labels, (29, 32)))
    nodule = sphere_mask(labels.shape, tuple(lung[len(lung) // 2]), 5.0, spacing)
    spec = [LesionSpec(nodule, LesionDescriptors(attenuation="part_solid", solid_fraction=0.5,
                                                 spiculation=4.0))]
    renderer = HostCTRenderer(ct=example.ct.array)

    def run() -> None:
        renderer.render(labels=labels, spacing_mm=spacing, lesions=spec,
                        acquisition=Acquisition(slice_thickness_mm=5.0), seed=1)

    wall, cpu = best_of(run)
    return {"host_ct_shape": list(labels.shape), "host_ct_seconds_per_case": wall,
            "host_ct_cpu_seconds_per_case": cpu, "host_ct_target_seconds": 3}


def bench_physics() -> dict[str, object]:
    grid = phantom_grid("full")
    labels = generate_phantom(sample_phantom_params(np.random.default_rng(1)), shape=grid.shape,
                              spacing_mm=grid.spacing_mm).array[:, :, 150:182].copy()
    clean = AnalyticRenderer(noise=False).render(
        labels=labels, spacing_mm=grid.spacing_mm, lesions=[], acquisition=Acquisition(),
        seed=0).hu.astype(np.float32)
    start, cpu = time.perf_counter(), _children_cpu()
    physics_slab(clean, pixel_mm=grid.spacing_mm[0], acquisition=Acquisition(mas=50.0), seed=2,
                 n_angles=360, workers=2)
    return {"physics_slab_shape": list(clean.shape), "physics_angles": 360,
            "physics_seconds_2_cores": round(time.perf_counter() - start, 1),
            "physics_cpu_seconds_workers": round(_children_cpu() - cpu, 1),
            "physics_target_seconds": 120}


def main() -> None:
    all_cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    _pin({min(all_cores)} if all_cores else set())
    result: dict[str, object] = {"benchmark": "render"}
    result.update(bench_analytic())
    result.update(bench_host_ct())
    if all_cores:
        _pin(all_cores)
    result.update(bench_physics())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
