"""Executor throughput for insertion and rendering, and a paper-size cost estimate. JSON.

Insertion of 512×512×300 phantom-host cases (the inputs of ``bench_insert.py``) through
``run_cases`` on: in-process (1 worker), a local pool (2 workers), a local Ray cluster
(2 CPUs, tasks; cluster start-up timed apart) and submitit's local executor (the SLURM
code path, chunked array tasks). Rendering (analytic backend) of the same inserted cases
on the same executors, each starting from a fresh copy of ``RENDER_CASES`` inserted
cases. The estimate for ``PAPER_VOLUMES`` volumes multiplies the measured CPU seconds per
case by the volume count and divides by the cores of each target. Each measurement records the
1-minute load average before and after it (other work may share the machine).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import bench_insert
from lesiontrials.execution import (
    Executor,
    InProcessExecutor,
    LocalPoolExecutor,
    RunSummary,
    record_summaries,
    use_executor,
)
from lesiontrials.insert import insert_trial
from lesiontrials.paths import Workspace
from lesiontrials.render.trial import render_trial

N_CASES = 12
RENDER_CASES = 8  # analytic rendering costs ≈ 20 CPU s per 512×512×300 case
PAPER_VOLUMES = 44_000
TARGET_CORES = {"local (1 core)": 1, "local (2 cores)": 2, "workstation (32 cores)": 32,
                "Ray cluster (4 × 32 cores)": 128, "SLURM array (500 cores)": 500}


def _insert(name: str, executor: Executor, root: Path, source: Workspace,
            tmp: Path) -> tuple[RunSummary, Workspace]:
    space = Workspace(tmp / f"ws_{name}")
    bench_insert.build_inputs_manifest_only(source, space)
    with use_executor(executor), record_summaries() as summaries:
        insert_trial("bench", workspace=space, data_root=root, show_progress=False)
    return summaries[0], space


def _render(name: str, executor: Executor, root: Path, inserted: Workspace,
            tmp: Path) -> RunSummary:
    """Render a fresh copy of the inserted cases (analytic backend) on ``executor``."""
    space = Workspace(tmp / f"render_{name}")
    cases = sorted(p for p in inserted.cases_dir("bench").iterdir() if p.is_dir())
    for case in cases[:RENDER_CASES]:
        shutil.copytree(case, space.cases_dir("bench") / case.name)
    with use_executor(executor), record_summaries() as summaries:
        render_trial("bench", workspace=space, data_root=root, backend="analytic",
                     show_progress=False)
    shutil.rmtree(space.root)
    return summaries[0]


def _executors(tmp: Path) -> dict[str, tuple[Executor, int, float]]:
    """name -> (executor, workers, start-up seconds)."""
    out: dict[str, tuple[Executor, int, float]] = {
        "in-process": (InProcessExecutor(), 1, 0.0),
        "local-pool-2": (LocalPoolExecutor(workers=2), 2, 0.0),
    }
    try:
        from lesiontrials.execution import RayExecutor

        ray_executor = RayExecutor(num_cpus=2)
        start = time.perf_counter()
        ray_executor.connect()
        out["ray-local-2cpu"] = (ray_executor, 2, time.perf_counter() - start)
    except Exception as exc:  # ray not installed
        print(f"skipping Ray: {exc}", file=sys.stderr)
    try:
        from lesiontrials.execution import SlurmExecutor

        out["submitit-local-chunk4"] = (SlurmExecutor(folder=tmp / "slurm", cluster="local",
                                                      chunk_size=4, poll_s=0.2), 2, 0.0)
    except Exception as exc:  # submitit not installed
        print(f"skipping submitit: {exc}", file=sys.stderr)
    return out


def _estimate(stage: str, measured: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Hours for ``PAPER_VOLUMES`` volumes: measured CPU s per case × volumes / cores.

    Assumes the cores are not shared and scale linearly; Ray start-up is added once, SLURM
    queue waits and per-array-task interpreter start-up are not modelled.
    """
    targets = {"in-process": ["local (1 core)"], "local-pool-2": ["local (2 cores)",
                                                                  "workstation (32 cores)"],
               "ray-local-2cpu": ["Ray cluster (4 × 32 cores)"],
               "submitit-local-chunk4": ["SLURM array (500 cores)"]}
    rows = []
    for name, m in measured.items():
        core_hours = PAPER_VOLUMES * m["cpu_s_per_case"] / 3600
        for target in targets.get(name, []):
            cores = TARGET_CORES[target]
            hours = core_hours / cores + m["startup_s"] / 3600
            rows.append({"stage": stage, "executor": name, "target": target, "cores": cores,
                         "core_hours": round(core_hours, 1), "hours": round(hours, 2)})
    return rows


def _measure(summary: RunSummary, workers: int, startup_s: float,
             load_before: float) -> dict[str, Any]:
    """Throughput, CPU per case and worker utilisation of one stage run."""
    ideal_s = summary.item_wall_s / workers
    return {
        "workers": workers, "cases": summary.items, "done": summary.done,
        "failed": summary.failed, "wall_s": round(summary.wall_s, 2),
        "startup_s": round(startup_s, 2),
        "cases_per_min": round(summary.cases_per_min, 1),
        "cpu_s_per_case": round(summary.cpu_s / max(summary.items, 1), 3),
        "item_wall_s_per_case": round(summary.item_wall_s / max(summary.items, 1), 3),
        # share of the workers' wall time spent in cases (< 1: contention, dispatch)
        "worker_utilisation": round(ideal_s / summary.wall_s, 3),
        "load_1min_before": round(load_before, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    bench_insert.N_CASES = N_CASES
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root, source = tmp / "root", Workspace(tmp / "source")
        bench_insert.build_inputs(root, source)
        insert: dict[str, dict[str, Any]] = {}
        render: dict[str, dict[str, Any]] = {}
        executors = _executors(tmp)
        inserted: Workspace | None = None
        for name, (executor, workers, startup_s) in executors.items():
            load = os.getloadavg()[0]
            summary, space = _insert(name, executor, root, source, tmp)
            insert[name] = _measure(summary, workers, startup_s, load)
            inserted = inserted or space
        assert inserted is not None
        for name, (executor, workers, startup_s) in executors.items():
            load = os.getloadavg()[0]
            summary = _render(name, executor, root, inserted, tmp)
            render[name] = _measure(summary, workers, startup_s, load)
        for executor, _, _ in executors.values():
            if hasattr(executor, "close"):
                executor.close()
    print(json.dumps({
        "benchmark": "execution", "host_shape": list(bench_insert.SHAPE),
        "cases": {"insert": N_CASES, "render": RENDER_CASES},
        "insert": insert, "render": render, "render_backend": "analytic",
        "paper_volumes": PAPER_VOLUMES,
        "estimate": _estimate("insert", insert) + _estimate("render", render),
        "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
    }, indent=1))


if __name__ == "__main__":
    main()
