"""The demo's stages after render, one at a time, on a rendered workspace (issue 24 item 4).

For each stage of ``lesiontrials run`` from the evaluation sets on (evaluation sets + the
real set, score of the weight-free baselines, split, volumes, question bank, analysis; the
demo's train stage is left out, it is another benchmark's) this runs the stage's library
call in a child process of its own, on a local pool of ``--workers`` as ``run`` does, and
prints JSON: per stage its wall and CPU seconds (user + system of the child and every
process it reaped: ``wait4``), the largest single process (``ru_maxrss`` of that
``wait4``) and the peak RSS of the whole process tree (``/proc``, every 0.2 s), with the
load average at its end. A stage that fails stops the benchmark with its exit status.

The workspace must hold rendered cases (``cases/``) and the world (``world/``); the
stages' own outputs (``eval``, ``results``, ``splits``, ``volumes``, ``volume_results``,
``questions``, ``reports``) are removed first unless ``--keep`` (then stages resume).
Run it on a copy: ``cp -a /path/to/demo-workspace /tmp/ws``. Stage CPU seconds on a
loaded machine are the comparable figure; wall is not.

    python benchmarks/bench_post_render.py --workspace /tmp/ws --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_demo import Sampler  # the tree sampler of the demo benchmark

STAGES = ("evaluation sets", "score", "split", "volumes", "questions", "analysis")
OUTPUTS = ("eval", "results", "splits", "volumes", "volume_results", "questions", "reports")


def run_stage(workspace: Path, stage: str, *, workers: int) -> None:
    """One stage's library call in this process (the child side)."""
    import inspect

    from lesiontrials import pipeline
    from lesiontrials.execution import LocalPoolExecutor
    from lesiontrials.settings import load_settings

    settings = load_settings(workspace=workspace, data_root=workspace / "world",
                             workers=workers)
    executor = LocalPoolExecutor(workers=workers)
    if stage == "evaluation sets":
        records = [pipeline.build_slices(settings, executor)]
        if (workspace / "world" / "raw_ct").is_dir():
            records.append(pipeline.build_slices(settings, executor, real=True))
        for record in records:
            record.check()
    elif stage == "score":
        pipeline.score(settings, executor, batch_size=32)
    elif stage == "split":
        pipeline.freeze_split(settings)
    elif stage == "volumes":
        pipeline.volumes(settings)
    elif stage == "questions":
        takes_executor = "executor" in inspect.signature(pipeline.questions).parameters
        if takes_executor:
            pipeline.questions(settings, executor)
        else:
            pipeline.questions(settings)
    elif stage == "analysis":
        pipeline.analyze(settings, name="demo")
    else:
        raise SystemExit(f"unknown stage {stage!r}: one of {STAGES}")


def measure(workspace: Path, stage: str, *, workers: int) -> dict[str, object]:
    """Run ``stage`` in a child process and measure it (the parent side)."""
    command = [sys.executable, __file__, "--workspace", str(workspace), "--workers",
               str(workers), "--stage", stage]
    start = time.perf_counter()
    child = subprocess.Popen(command)
    sampler = Sampler(child.pid)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    sampler.done.set()
    child.returncode = os.waitstatus_to_exitcode(status)
    return {"stage": stage, "exit_code": child.returncode, "wall_s": round(wall, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "user_s": round(usage.ru_utime, 1), "system_s": round(usage.ru_stime, 1),
            "largest_process_mb": round(usage.ru_maxrss / 1024, 1),
            "peak_tree_rss_mb": round(sampler.take_peak(), 1),
            "load_average": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stage", choices=STAGES, default=None,
                        help="(internal) run this one stage here")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES),
                        help="which stages to measure, in this order")
    parser.add_argument("--keep", action="store_true",
                        help="keep the stages' earlier outputs (they then resume)")
    args = parser.parse_args()
    if args.stage is not None:
        run_stage(args.workspace, args.stage, workers=args.workers)
        return
    if not (args.workspace / "cases").is_dir():
        raise SystemExit(f"{args.workspace} has no cases/: render a demo workspace first")
    if not args.keep:
        for name in OUTPUTS:
            shutil.rmtree(args.workspace / name, ignore_errors=True)
    load_before = os.getloadavg()[0]
    stages = []
    for stage in args.stages:
        stages.append(measure(args.workspace, stage, workers=args.workers))
        if stages[-1]["exit_code"] != 0:
            break
    print(json.dumps({
        "benchmark": "post_render", "workspace": str(args.workspace),
        "workers": args.workers, "stages": stages,
        "cpu_s": round(sum(float(s["cpu_s"]) for s in stages), 1),  # type: ignore[arg-type]
        "wall_s": round(sum(float(s["wall_s"]) for s in stages), 1),  # type: ignore[arg-type]
        "largest_process_mb": max(float(s["largest_process_mb"]) for s in stages),  # type: ignore[arg-type]
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count()}))
    if any(s["exit_code"] != 0 for s in stages):
        sys.exit(1)


if __name__ == "__main__":
    main()
