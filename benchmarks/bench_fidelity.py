"""Real-host fidelity of the analytic renderer. Prints JSON.

Builds the embedded world's real hosts (``REALCT``: the two packaged chest CTs, label maps
and anatomy facts derived without a model, exactly as ``lesiontrials world build`` does)
into a temporary data root — or uses ``--root DIR``, a built world — and renders each host
label map with the analytic backend at the host's acquisition, no lesion drawn, for every
seed. Reports per host and seed the HU histogram intersection with the real CT inside the
body and inside the lungs (target > 0.80, issue 6) and the render's wall time on one core;
``population`` rows withhold the host's measured facts (lung density), as for a phantom.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from lesiontrials.paths import DataRoot
from lesiontrials.render.fidelity.real_fidelity import real_host_fidelity
from lesiontrials.settings import load_settings

TARGET = 0.80


def _summary(rows: list[dict[str, object]]) -> dict[str, object]:
    body = [float(r["body"]) for r in rows]  # type: ignore[arg-type]
    lungs = [float(r["lungs"]) for r in rows]  # type: ignore[arg-type]
    return {"min_body": min(body), "min_lungs": min(lungs),
            "below_target": sum(b < TARGET or lu < TARGET for b, lu in zip(body, lungs,
                                                                            strict=True)),
            "cases": len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, help="a built world (default: build REALCT)")
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        root = DataRoot(args.root or Path(tmp) / "root")
        build_s = 0.0
        if args.root is None:
            from lesiontrials.world.hosts import build_real_hosts

            start = time.perf_counter()
            build_real_hosts(root, cache_dir=load_settings().cache_dir)
            build_s = time.perf_counter() - start
        with_facts = real_host_fidelity(root, seeds=seeds)
        population = real_host_fidelity(root, seeds=seeds, use_facts=False)
    print(json.dumps({
        "benchmark": "fidelity", "target": TARGET, "seeds": seeds,
        "build_real_hosts_seconds": round(build_s, 1),
        "with_host_facts": with_facts, "with_host_facts_summary": _summary(with_facts),
        "population": population, "population_summary": _summary(population),
    }))


if __name__ == "__main__":
    main()
