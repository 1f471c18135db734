"""World build speed. Prints JSON.

Targets (issue 3): the demo world (≥ 24 phantom hosts, both real hosts, ≥ 1,000 LIDC
donors) in ≤ 3 min on 2 cores; one full-size phantom host (512×512×~300) in ≤ 10 s on one
core. Packaged data must already be cached (the first build fetches it).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from lesiontrials.settings import load_settings
from lesiontrials.world.build import build_world
from lesiontrials.world.phantom import generate_phantom, phantom_grid, sample_phantom_params


def main() -> None:
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = build_world(Path(tmp) / "world", size="demo", seed=0, workers=2,
                             cache_dir=settings.cache_dir)
        demo_seconds = time.perf_counter() - start
    grid = phantom_grid("full")
    params = sample_phantom_params(np.random.default_rng(0))
    start = time.perf_counter()
    volume = generate_phantom(params, shape=grid.shape, spacing_mm=grid.spacing_mm)
    full_seconds = time.perf_counter() - start
    datasets = result.info["datasets"]
    print(json.dumps({
        "benchmark": "world",
        "demo_world_seconds_2_workers": round(demo_seconds, 1), "demo_target_seconds": 180,
        "demo_phantom_hosts": datasets["SCREEN"]["hosts"] + datasets["DIAG"]["hosts"],
        "demo_lidc_donors": datasets["LIDC"]["donors"],
        "full_phantom_seconds_1_core": round(full_seconds, 2), "full_target_seconds": 10,
        "full_shape": list(volume.shape),
    }))


if __name__ == "__main__":
    main()
