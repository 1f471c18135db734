"""Analysis speed: bootstrap over 50,000 items and a full analysis of a large result table.

Target (issue 7): 1,000 paired resamples over 50,000 items in seconds, memory-light
(cluster bootstrap over 10,000 cases of 5 items since issue 14).
"""

from __future__ import annotations

import json
import resource
import time

import numpy as np
import pandas as pd

from lesiontrials.analysis import analyze, paired_difference


def _results(n_slices: int, rng: np.random.Generator) -> pd.DataFrame:
    truth = rng.choice(["present", "absent"], n_slices)
    frames = []
    for model, skill in (("a", 0.8), ("b", 0.7), ("c", 0.6), ("d", 0.55)):
        for condition in ("plain", "bbox", "contour", "bbox_contour"):
            right = rng.random(n_slices) < skill
            option = np.where(right, truth, np.where(truth == "present", "absent", "present"))
            frames.append(pd.DataFrame({
                "source": "synthetic", "model": model, "condition": condition,
                "task": "presence", "slice_uid": np.arange(n_slices).astype(str),
                "option": option, "truth": truth, "design": "d"}))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random(50_000) < 0.8, rng.random(50_000) < 0.78
    case = np.repeat(np.arange(10_000), 5)  # 5 items per case, 10,000 cases
    start = time.perf_counter()
    paired_difference(a, b, units={"case": case}, replicates=1000, rng=rng)
    bootstrap_s = time.perf_counter() - start
    results = _results(10_000, rng)
    start = time.perf_counter()
    analysis = analyze(results, replicates=1000)
    analysis_s = time.perf_counter() - start
    print(json.dumps({
        "benchmark": "analysis",
        "paired_cluster_bootstrap_1000x50000_seconds": round(bootstrap_s, 4),
        "full_analysis_rows": len(results), "full_analysis_cells": len(analysis.cells),
        "full_analysis_seconds": round(analysis_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
