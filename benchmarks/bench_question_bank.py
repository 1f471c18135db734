"""Question-bank generation speed (lesiontrials.scoring.questions): items per second.

Generates synthetic realised truth (1-3 nodules per case, every 10th case nodule-free,
LIDC-like ratings) in memory and times :func:`build_bank` over it. Prints JSON.
Usage: ``python benchmarks/bench_question_bank.py [--cases 2000]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from lesiontrials.anatomy import Lobe
from lesiontrials.scoring.questions.bank import build_bank
from lesiontrials.scoring.questions.truth import CaseTruth, case_from_insert


def synthetic_cases(n: int, seed: int = 0) -> list[CaseTruth]:
    rng = np.random.default_rng(seed)
    lobes = [lobe.value for lobe in Lobe]
    cases = []
    for c in range(n):
        count = 0 if c % 10 == 0 else int(rng.integers(1, 4))
        nodules = []
        for k in range(count):
            lobe = lobes[int(rng.integers(len(lobes)))]
            d = float(rng.lognormal(np.log(8.0), 0.5))
            nodules.append({"nodule_index": k, "donor_characteristics": {
                "texture": float(rng.integers(1, 6)), "calcification": float(rng.integers(1, 7))},
                "realised": {
                    "lobe": lobe, "side": lobe.split("_")[0],
                    "zone": ["upper_zone", "middle_zone", "lower_zone"][int(rng.integers(3))],
                    "equivalent_diameter_mm": d, "max_axis_diameter_mm": d * 1.3,
                    "volume_mm3": np.pi / 6 * d ** 3,
                    "pleural_distance_mm": float(rng.uniform(0, 20)),
                    "centroid_mm": [0.0, 0.0, float(rng.uniform(-150, 50))]}})
        cases.append(case_from_insert({"case_uid": f"bench-{c:05d}", "status": "done",
                                       "nodules": nodules}))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    args = parser.parse_args()
    cases = synthetic_cases(args.cases)
    build_bank(cases[:50])  # warm-up
    start = time.perf_counter()
    items = build_bank(cases, seed=0)
    seconds = time.perf_counter() - start
    print(json.dumps({"cases": len(cases), "items": len(items), "seconds": round(seconds, 3),
                      "items_per_s": round(len(items) / seconds)}, indent=2))


if __name__ == "__main__":
    main()
