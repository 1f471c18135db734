"""Index speed: build from 13,140 release-schema rows (7 datasets) and query. Prints JSON.

Targets (issue 2): build ≤ 2 s; a query ≤ 5 ms.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from lesiontrials.index import NoduleIndex, PlacementTarget, build_index, match_donors
from lesiontrials.paths import DataRoot
from lesiontrials.testing import RELEASE_COUNTS, write_release_profiles


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = DataRoot(write_release_profiles(Path(tmp), RELEASE_COUNTS))
        builds = []
        for _ in range(3):
            start = time.perf_counter()
            table = build_index(root).table
            builds.append(time.perf_counter() - start)
    index = NoduleIndex(table)
    query = (index.query().dataset("LUNA25", "DLCS24").label(1).lobe("RUL", "RLL")
             .diameter(5, 15).pleural_distance(high_mm=60))
    query.count()  # warm the column cache
    query_times = []
    for _ in range(200):
        start = time.perf_counter()
        query.count()
        query_times.append(time.perf_counter() - start)
    match_times = []
    for _ in range(50):
        start = time.perf_counter()
        match_donors(index, PlacementTarget(lobe="LUL", diameter_mm=8.0, pleural_distance_mm=4.0))
        match_times.append(time.perf_counter() - start)
    print(json.dumps({
        "benchmark": "index", "rows_in": sum(RELEASE_COUNTS.values()), "nodules": len(table),
        "build_seconds_best": round(min(builds), 3), "build_target_seconds": 2.0,
        "query_ms_median": round(1000 * float(np.median(query_times)), 3),
        "query_target_ms": 5.0,
        "match_ms_median": round(1000 * float(np.median(match_times)), 3),
        "meets_targets": min(builds) <= 2.0 and float(np.median(query_times)) <= 0.005,
    }))


if __name__ == "__main__":
    main()
