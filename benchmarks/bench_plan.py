"""Planning speed: all designs at paper size on a 13,140-row release-schema index. JSON out.

Target (issue 4): ≤ 10 s in total on one core.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from lesiontrials.index import NoduleIndex, build_index
from lesiontrials.paths import DataRoot
from lesiontrials.testing import RELEASE_COUNTS, write_release_profiles
from lesiontrials.trials import DESIGNS, PlanContext, hosts_from_index, plan_design


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        table = build_index(DataRoot(write_release_profiles(Path(tmp), RELEASE_COUNTS))).table
    table["mask_available"] = True
    table["host_available"] = True  # every scan may host (no files are read when planning)
    index = NoduleIndex(table)
    ctx = PlanContext(index, hosts_from_index(index))
    per_design, cases = {}, {}
    start = time.perf_counter()
    for number, (name, _) in sorted(DESIGNS.items()):
        t0 = time.perf_counter()
        plan = plan_design(ctx, number, size="paper", seed=0)
        per_design[name] = round(time.perf_counter() - t0, 3)
        cases[name] = int(plan.manifest["case_uid"].nunique())
    total = time.perf_counter() - start
    print(json.dumps({
        "benchmark": "plan", "index_nodules": len(table), "hosts": len(ctx.hosts),
        "total_seconds": round(total, 2), "target_seconds": 10.0, "meets_target": total <= 10,
        "total_cases": sum(cases.values()), "seconds_per_design": per_design,
        "cases_per_design": cases,
    }))


if __name__ == "__main__":
    main()
