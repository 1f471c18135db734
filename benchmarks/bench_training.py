"""Training speed (issue 23): seconds per epoch and per 1,000 images of the slice CNN on
CPU, plus scoring throughput of the trained adapter. JSON out.

Generates a disk-on-noise evaluation set (:mod:`lesiontrials.testing_training`) of
``--cases`` cases × 2 slices at the demo's 128 × 128 pixels, trains ``--epochs`` epochs
with the default recipe (64 × 64 input, width 16, batch 32; early stopping off by a large
patience) and times each epoch. Training runs on one torch thread (the recipe's
determinism needs it), so a 2-core machine trains one model per core.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lesiontrials.io import read_png
from lesiontrials.paths import Workspace
from lesiontrials.scoring.results import set_items
from lesiontrials.slicing.contract import TASK_OPTIONS, Item
from lesiontrials.testing_training import write_disk_set
from lesiontrials.training.adapter import TrainedSliceModel
from lesiontrials.training.loop import EpochRecord, train
from lesiontrials.training.recipe import TrainRecipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--png-size", type=int, default=128)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-training-"))
    try:
        ws = Workspace(root)
        write_disk_set(ws, "bench", n_cases=args.cases, seed=0, image_size=args.png_size)
        recipe = TrainRecipe(epochs=args.epochs, patience=args.epochs + 1,
                             image_size=args.image_size)
        stamps: list[float] = []
        start = time.perf_counter()
        outcome = train(workspace=ws, name="bench", sets=["bench"], recipe=recipe,
                        on_epoch=lambda _r: stamps.append(time.perf_counter()))
        epochs = np.diff([start, *stamps])
        load_s = float(epochs[0])  # first interval includes reading and resampling images
        n_train = outcome.identity["n_examples"] - round(
            outcome.identity["n_examples"] * len(outcome.identity["validation_case_uids"])
            / outcome.identity["n_cases"])
        per_epoch = float(np.median(epochs[1:])) if len(epochs) > 1 else load_s
        items = _items(ws)
        model = TrainedSliceModel(model_path=str(outcome.path))
        t0 = time.perf_counter()
        model.answer(items)
        score_s = time.perf_counter() - t0
        print(json.dumps({
            "benchmark": "training", "torch": torch.__version__, "threads": 1,
            "cases": args.cases, "images": outcome.identity["n_examples"],
            "train_images": n_train, "png_px": args.png_size, "input_px": args.image_size,
            "epochs": len(epochs), "first_epoch_s_incl_loading": round(load_s, 2),
            "s_per_epoch": round(per_epoch, 2),
            "s_per_1000_train_images_per_epoch": round(1000 * per_epoch / n_train, 2),
            "checkpoint_bytes": outcome.path.stat().st_size,
            "score_items_per_s": round(len(items) / score_s, 1),
            "history": [r.__dict__ for r in outcome.history if isinstance(r, EpochRecord)],
        }, indent=1))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _items(ws: Workspace) -> list[Item]:
    write_disk_set(ws, "held", n_cases=250, seed=1, image_size=128)
    rows = set_items(ws, "held", "lung")
    base = ws.eval_dir("held", "lung")
    return [Item(slice_uid=r.slice_uid, task="presence", condition="plain", profile="lung",
                 question="?", options=TASK_OPTIONS["presence"],
                 image=read_png(base / r.image_path), case_uid=r.case_uid)
            for r in rows.itertuples()]


if __name__ == "__main__":
    main()
