"""Packaged 3-D chest-CT encoder: seconds per volume and memory on one real CT. JSON out.

Needs the `encoder` extra and a world (real CTs under raw_ct/REALCT). Usage:
    python benchmarks/bench_encoder.py WORLD/raw_ct/REALCT/REALCT_lung1.nii.gz
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import torch

from lesiontrials.io import read_volume
from lesiontrials.render.fidelity.encoder import build_encoder, encoder_weights_path
from lesiontrials.render.fidelity.feature_distance import preprocess_volume, to_network_input
from lesiontrials.settings import load_settings


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(ct_path: Path, repeats: int = 2) -> None:
    out: dict[str, object] = {"benchmark": "encoder", "threads": torch.get_num_threads()}
    start = time.perf_counter()
    weights = encoder_weights_path(cache_dir=load_settings().cache_dir)
    out["join_verify_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    model = build_encoder(weights=weights)
    out["load_s"] = round(time.perf_counter() - start, 2)
    volume = preprocess_volume(read_volume(ct_path))
    batch = to_network_input(volume).unsqueeze(0)
    runs = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            embedding = model(batch)
        runs.append([round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)])
    out.update({"forward_wall_cpu_s": runs, "peak_rss_mb": _rss_mb(),
                "embedding_shape": list(embedding.shape), "target_s_per_volume": 34})
    print(json.dumps(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2)
