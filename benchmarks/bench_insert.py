"""Insertion speed: a 512×512×300 phantom host with 1-3 nodules per case. Prints JSON.

Targets (issue 5): ≤ 2 s per case on one core including NIfTI read and write, ≤ 1.5 GB
peak memory per worker; cases/minute reported for 1 and 2 workers. The per-case timing
(best of 3 per case) and the memory peak are measured in a fresh (spawned) worker
process, so the phantom generation of this script does not count.

``--data-root PATH`` (issue 24) instead benchmarks a release-layout data root (e.g. the
one the reference implementation reads): index build and ``plan --all`` (demo size) into
a temporary workspace, then each ``--design`` (default 1 and 3) inserted in a fresh
spawned process, one worker, with the decoded cache off, cold and warm; reports s/case
(whole process, imports included) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.insert import InsertConfig, case_jobs, insert_case, insert_trial, load_manifest
from lesiontrials.io import Volume, VolumeKind, write_parquet, write_volume
from lesiontrials.paths import Workspace
from lesiontrials.trials.manifest import MANIFEST_COLUMNS
from lesiontrials.world.phantom import PhantomParams, generate_phantom

SHAPE, SPACING = (512, 512, 300), (0.7, 0.7, 1.0)
DONOR_SPACING = (0.7, 0.7, 2.5)  # LIDC-like crop grid
N_CASES = 8


def _ellipsoid(radii_mm: tuple[float, float, float]) -> np.ndarray:
    n = [int(2 * math.ceil(r / s) + 3) for r, s in zip(radii_mm, DONOR_SPACING, strict=True)]
    axes = [(np.arange(k) - (k - 1) / 2) * s / r
            for k, s, r in zip(n, DONOR_SPACING, radii_mm, strict=True)]
    gx, gy, gz = np.meshgrid(*axes, indexing="ij", sparse=True)
    return (gx**2 + gy**2 + gz**2 <= 1.0).astype(np.uint8)


def build_inputs(root: Path, workspace: Workspace) -> None:
    """A phantom host, three donors and a manifest of ``N_CASES`` cases (1-3 nodules)."""
    host = generate_phantom(PhantomParams("M", 62, 176, 27, shape_seed=3), shape=SHAPE,
                            spacing_mm=SPACING)
    write_volume(root / "masks/PH/refined_seg/H_seg.nii.gz", host, kind=VolumeKind.LABELS)
    donors = {"D6": (3.0, 3.0, 3.0), "D12": (7.0, 5.0, 6.0), "D20": (10.0, 9.0, 11.0)}
    diameters = {}
    for uid, radii in donors.items():
        mask = _ellipsoid(radii)
        affine = np.diag([*DONOR_SPACING, 1.0])
        write_volume(root / f"masks/DON/nodule_seg/{uid}.nii.gz", Volume(mask, affine),
                     kind=VolumeKind.MASK)
        diameters[uid] = (6 * mask.sum() * np.prod(DONOR_SPACING) / math.pi) ** (1 / 3)
    rng = np.random.default_rng(0)
    lobes = [lobe.value for lobe in anatomy.Lobe]
    rows = []
    for case in range(N_CASES):
        for k in range(case % 3 + 1):
            uid = list(donors)[(case + k) % 3]
            rows.append(_row(case, k, uid, diameters[uid], lobes[(case + 2 * k) % 5], rng))
    frame = pd.DataFrame(rows)
    for column in MANIFEST_COLUMNS:
        frame[column.name] = frame[column.name].astype(column.dtype)
    write_parquet(frame, workspace.trial_dir("bench") / "manifest.parquet")


def _row(case: int, k: int, uid: str, diameter: float, lobe: str,
         rng: np.random.Generator) -> dict[str, object]:
    row: dict[str, object] = {c.name: (math.nan if c.dtype == "float64" else 0 if c.dtype ==
                                       "int64" else False if c.dtype == "bool" else None
                                       if c.dtype == "Int8" else "") for c in MANIFEST_COLUMNS}
    row.update(trial="bench", design="bench", case_uid=f"bench-{case:05d}", case_index=case,
               nodule_index=k, primary=k == 0, seed=11, host_dataset="PH", host_ct_id="H",
               host_seg_path="masks/PH/refined_seg/H_seg.nii.gz", donor_uid=uid,
               donor_dataset="DON", donor_mask_path=f"masks/DON/nodule_seg/{uid}.nii.gz",
               donor_diameter_mm=diameter, planned_diameter_mm=diameter, scale=1.0,
               placement="prescribed", target_lobe=lobe, min_pleural_mm=2.0, replicate=-1,
               target_lobe_cc_pct=float(rng.uniform(20, 80)),
               target_lobe_ml_pct=float(rng.uniform(20, 80)),
               target_lobe_ap_pct=float(rng.uniform(20, 80)), round=-1)
    return row


def one_core(root: str, workspace: str, repeats: int = 3) -> dict[str, object]:
    """Run every case ``repeats`` times (fresh outputs each time) in this process; the
    best time of each case and the process's peak memory."""
    source = Workspace(Path(workspace))
    best: list[float] = []
    best_cpu: list[float] = []
    statuses: list[str] = []
    for repeat in range(repeats):
        space = Workspace(Path(workspace).with_name(f"one_core_{repeat}"))
        build_inputs_manifest_only(source, space)
        jobs = case_jobs(load_manifest(space, "bench"), trial="bench", workspace=space,
                         data_root=Path(root), config=InsertConfig())
        for i, job in enumerate(jobs):
            start, start_cpu = time.perf_counter(), time.process_time()
            status = insert_case(job).status
            seconds = time.perf_counter() - start
            cpu = time.process_time() - start_cpu
            if repeat == 0:
                best.append(seconds)
                best_cpu.append(cpu)
                statuses.append(status)
            else:
                best[i] = min(best[i], seconds)
                best_cpu[i] = min(best_cpu[i], cpu)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": best, "cpu_seconds": best_cpu, "statuses": statuses,
            "peak_mb": peak_kb / 1024}


def _insert_process(trial: str, workspace: str, data_root: str, cache_dir: str | None
                    ) -> tuple[float, int, int, float, float]:
    """Insert ``trial`` in this (fresh) process: wall s, done, failed, peak RSS (MB), and
    the process's CPU s (user + system, imports included)."""
    from lesiontrials.io.decoded import DecodedCache

    cache = DecodedCache(Path(cache_dir)) if cache_dir else None
    start = time.perf_counter()
    summary = insert_trial(trial, workspace=Workspace(Path(workspace)),
                           data_root=Path(data_root), workers=1, show_progress=False,
                           decoded_cache=cache)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (time.perf_counter() - start, int(summary["status"]["done"]),
            int(summary["status"]["failed"]), usage.ru_maxrss / 1024,
            usage.ru_utime + usage.ru_stime)


def release_root(data_root: Path, designs: list[str],
                 modes: tuple[str, ...] = ("off", "cold", "warm")) -> dict[str, object]:
    """Insert the demo plans of ``designs`` on a release-layout root (module docstring)."""
    from typer.testing import CliRunner

    from lesiontrials.cli.main import app
    from lesiontrials.trials.plan import resolve_design

    runner, runs = CliRunner(), []
    with tempfile.TemporaryDirectory(prefix="bench_insert_") as tmp:
        ws = Path(tmp) / "ws"
        for argv in (["index", "build"], ["plan", "--all"]):
            out = runner.invoke(app, [*argv, "-w", str(ws), "-d", str(data_root)])
            if argv[0] == "index" and out.exit_code != 0:
                raise SystemExit(f"index build failed: {out.output}")
        for design in designs:
            trial = resolve_design(design)[1]
            if not (ws / "trials" / trial / "manifest.parquet").is_file():
                runs.append({"design": trial, "error": "not planned on this root"})
                continue
            cache_dir = str(Path(tmp) / "cache")
            for mode in modes:
                shutil.rmtree(ws / "cases" / trial, ignore_errors=True)
                with multiprocessing.get_context("spawn").Pool(1) as pool:
                    wall, done, failed, peak, cpu = pool.apply(
                        _insert_process,
                        (trial, str(ws), str(data_root), None if mode == "off" else cache_dir))
                runs.append({"design": trial, "decoded_cache": mode, "cases": done + failed,
                             "done": done, "wall_s": round(wall, 2),
                             "s_per_case": round(wall / max(done + failed, 1), 3),
                             "cpu_s_per_case": round(cpu / max(done + failed, 1), 3),
                             "load_average_1min": round(os.getloadavg()[0], 2),
                             "peak_rss_mb": round(peak, 1)})
    return {"benchmark": "insert_release_root", "data_root": str(data_root), "runs": runs,
            "load_average_1min": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", type=Path, default=None,
                        help="a release-layout data root (else the phantom benchmark)")
    parser.add_argument("--design", action="append", default=None,
                        help="design number or name (repeatable; default 1 and 3)")
    parser.add_argument("--modes", default="off,cold,warm",
                        help="decoded-cache modes to run, in order (with --data-root)")
    args = parser.parse_args()
    if args.data_root is not None:
        print(json.dumps(release_root(args.data_root, args.design or ["1", "3"],
                                      tuple(args.modes.split(",")))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root, space = Path(tmp) / "root", Workspace(Path(tmp) / "ws1")
        build_inputs(root, space)
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            single = pool.apply(one_core, (str(root), str(space.root)))
        rates = {}
        for workers in (1, 2):
            other = Workspace(Path(tmp) / f"ws_w{workers}")
            build_inputs_manifest_only(space, other)
            start = time.perf_counter()
            summary = insert_trial("bench", workspace=other, data_root=root, workers=workers,
                                   show_progress=False)
            wall = time.perf_counter() - start
            rates[workers] = {"cases_per_minute": round(60 * N_CASES / wall, 1),
                              "wall_seconds": round(wall, 2), "done": summary["status"]["done"]}
    seconds = single["seconds"]
    print(json.dumps({
        "benchmark": "insert", "host_shape": list(SHAPE), "spacing_mm": list(SPACING),
        "cases": N_CASES, "nodules_per_case": "1-3", "statuses": single["statuses"],
        "seconds_per_case_median": round(statistics.median(seconds), 3),
        "seconds_per_case_max": round(max(seconds), 3),
        "seconds_per_case": [round(s, 3) for s in seconds],
        "cpu_seconds_per_case_median": round(statistics.median(single["cpu_seconds"]), 3),
        "cpu_seconds_per_case_max": round(max(single["cpu_seconds"]), 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "peak_memory_mb_one_worker": round(single["peak_mb"], 1),
        "cases_per_minute_1_worker": rates[1]["cases_per_minute"],
        "cases_per_minute_2_workers": rates[2]["cases_per_minute"],
        "target_seconds_per_case": 2.0, "target_peak_mb": 1536,
        "meets_targets": max(seconds) <= 2.0 and single["peak_mb"] <= 1536,
        "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
    }))


def build_inputs_manifest_only(source: Workspace, target: Workspace) -> None:
    """Copy the manifest into another workspace (fresh case outputs, same inputs)."""
    frame = pd.read_parquet(source.trial_dir("bench") / "manifest.parquet")
    write_parquet(frame, target.trial_dir("bench") / "manifest.parquet")


if __name__ == "__main__":
    main()
