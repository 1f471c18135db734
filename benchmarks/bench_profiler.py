"""Profiler speed: a 512×512×300 label map with 5 nodules, one core. Prints JSON.

Target (issue 2): ≤ 3 s for all five nodules, excluding file reading.
"""

from __future__ import annotations

import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from lesiontrials.measurements import profile_nodules
from lesiontrials.testing import box_thorax, sphere_mask


def main() -> None:
    thorax = box_thorax((512, 512, 300), (0.7, 0.7, 1.0), origin_mm=(-180.0, -180.0, -150.0))
    shape, spacing = thorax.volume.shape, thorax.spacing_mm
    centres = [(400, 250, 220), (380, 300, 100), (120, 260, 200), (110, 200, 80), (300, 250, 180)]
    radii = [3.0, 5.0, 8.0, 12.0, 4.0]
    masks = [sphere_mask(shape, c, r, spacing) for c, r in zip(centres, radii, strict=True)]
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        frame = profile_nodules(thorax.volume, masks, nodule_ids=[f"n{i}" for i in range(5)])
        timings.append(time.perf_counter() - start)
    print(json.dumps({
        "benchmark": "profiler", "shape": list(shape), "spacing_mm": list(spacing),
        "nodules": len(frame), "seconds_best": round(min(timings), 3),
        "seconds_all": [round(t, 3) for t in timings], "target_seconds": 3.0,
        "meets_target": min(timings) <= 3.0,
    }))


if __name__ == "__main__":
    main()
