"""Training speed of the 3-D patch CNN (issue 23): seconds per epoch, per 1,000 training
patches and per 1,000 training cases (scans) on CPU, patch cutting time, and detector
throughput. JSON out.

Generates ``--scans`` sphere-in-lung volumes (:func:`lesiontrials.testing_training.
write_sphere_volume_set`: 32 × 32 × 20 voxels at 2 mm), cuts the recipe's patches
(default 32³ at 1.5 mm: one per nodule, 4 random lung voxels, up to 4 blob candidates per
scan) and trains ``--epochs`` epochs (early stopping off by a large patience). Training
runs on one torch thread (the deterministic recipe needs it), so a 2-core machine trains
one model per core.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lesiontrials.paths import Workspace
from lesiontrials.testing_training import write_sphere_volume_set
from lesiontrials.training.patch_data import load_patch_data
from lesiontrials.training.patch_detector import TrainedPatchDetector
from lesiontrials.training.patch_loop import train_patch_model
from lesiontrials.training.recipe import PatchRecipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scans", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--patch-size", type=int, default=32)
    parser.add_argument("--spacing-mm", type=float, default=1.5)
    parser.add_argument("--width", type=int, default=8)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-patch-training-"))
    try:
        ws = Workspace(root)
        write_sphere_volume_set(ws, "bench", n_scans=args.scans, seed=0)
        recipe = PatchRecipe(epochs=args.epochs, patience=args.epochs + 1,
                             patch_size=args.patch_size, spacing_mm=args.spacing_mm,
                             width=args.width)
        t0, c0 = time.perf_counter(), time.process_time()
        data = load_patch_data(ws, ["bench"], recipe=recipe)
        cut_s, cut_cpu = time.perf_counter() - t0, time.process_time() - c0
        stamps: list[tuple[float, float]] = []
        start = (time.perf_counter(), time.process_time())
        outcome = train_patch_model(
            workspace=ws, name="bench", sets=["bench"], recipe=recipe,
            on_epoch=lambda _r: stamps.append((time.perf_counter(), time.process_time())))
        epochs = np.diff([start[0], *(s[0] for s in stamps)])
        cpu = np.diff([start[1], *(s[1] for s in stamps)])
        ident = outcome.identity
        val = set(ident["validation_case_uids"])
        n_train = int((~np.isin(data.patches.case_uids, sorted(val))).sum())
        train_scans = ident["n_cases"] - len(val)
        per_epoch = float(np.median(epochs[1:])) if len(epochs) > 1 else float(epochs[0])
        cpu_epoch = float(np.median(cpu[1:])) if len(cpu) > 1 else float(cpu[0])
        write_sphere_volume_set(ws, "held", n_scans=20, seed=1)
        from lesiontrials.scoring.volume_runner import iter_scans
        from lesiontrials.slicing.volumes import load_volume_set

        detector = TrainedPatchDetector(model_path=outcome.path)
        volumes = [v for _, v in iter_scans(load_volume_set(ws, "held"))]
        t1, c1 = time.perf_counter(), time.process_time()
        for volume in volumes:
            detector.detect(volume)
        detect_s = (time.perf_counter() - t1) / len(volumes)
        detect_cpu = (time.process_time() - c1) / len(volumes)
        print(json.dumps({
            "benchmark": "patch_training_3d", "torch": torch.__version__, "threads": 1,
            "scans": args.scans, "patches": len(data.patches), "train_patches": n_train,
            "train_scans": train_scans, "patch": f"{args.patch_size}^3 at {args.spacing_mm} mm",
            "width": args.width, "epochs": len(epochs),
            "cut_patches_s": round(cut_s, 2), "cut_patches_cpu_s": round(cut_cpu, 2),
            "cut_cpu_s_per_1000_scans": round(1000 * cut_cpu / args.scans, 1),
            "first_epoch_s_incl_cutting": round(float(epochs[0]), 2),
            "s_per_epoch": round(per_epoch, 2),
            "s_per_1000_train_patches_per_epoch": round(1000 * per_epoch / n_train, 2),
            "s_per_1000_train_cases_per_epoch": round(1000 * per_epoch / train_scans, 2),
            "cpu_s_per_epoch": round(cpu_epoch, 2),
            "cpu_s_per_1000_train_patches_per_epoch": round(1000 * cpu_epoch / n_train, 2),
            "cpu_s_per_1000_train_cases_per_epoch": round(1000 * cpu_epoch / train_scans, 2),
            "checkpoint_bytes": outcome.path.stat().st_size,
            "detector_s_per_scan": round(detect_s, 3),
            "detector_cpu_s_per_scan": round(detect_cpu, 3),
            "load_average_1min": round(os.getloadavg()[0], 1),
            "history": [r.__dict__ for r in outcome.history],
        }, indent=1))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
