"""Throughput of the weight-free baseline scorers: items/s per model on one core.

An *item* is one (slice, condition, task) question, as the scoring runner asks it. Items
come from a workspace's evaluation sets (``--workspace``, e.g. a demo workspace or one
built by ``bench_slices.py --data-root``); each model gets a fresh instance (its analysis
cache empty) and answers every (condition, task) of the chosen slices in the runner's order
(cells of one condition and task, as units). Rates are per CPU second of this process (one
thread; robust to other load on the machine), with the wall-clock rate beside them: ``answer``
(the model's own time, images already in memory as the runner hands them over: read-only
arrays of its per-process :class:`~lesiontrials.io.PngCache`, each file decoded once),
``with_read`` (PNG decoding of image and context included, three files per item) and
``with_cached_read`` (each file decoded once, as the runner's cache does).

Also prints, per model, the accuracy over the scored items (so a faster algorithm that
changes answers can be checked against the old one on the same items).

Usage::

    python benchmarks/bench_baselines.py --workspace /path/to/ws [--slices 150]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lesiontrials.io import read_png
from lesiontrials.paths import Workspace
from lesiontrials.scoring.models.registry import BASELINES, load_model
from lesiontrials.scoring.paraphrases import PRIMARY, paraphrase
from lesiontrials.scoring.results import set_items
from lesiontrials.scoring.runner import task_rows
from lesiontrials.slicing.contract import CONDITIONS, TASKS, Item
from lesiontrials.slicing.sets import list_sets


def _rows(workspace: Workspace, *, profile: str, slices: int) -> list[tuple[str, dict]]:
    """(task, row) pairs of the first ``slices`` slice uids (sorted) of every set, in the
    runner's cell order: set → condition → task."""
    out = []
    per_set = max(1, slices // max(len(list_sets(workspace)), 1))
    for set_name in list_sets(workspace):
        items = set_items(workspace, set_name, profile)
        if items.empty:
            continue
        keep = sorted(items["slice_uid"].unique())[:per_set]
        items = items[items["slice_uid"].isin(keep)]
        base = workspace.eval_set_dir(set_name) / profile
        for condition in CONDITIONS:
            for task in TASKS:
                for row in task_rows(items, condition=condition, task=task).to_dict("records"):
                    out.append((task, {**row, "_base": base}))
    return out


def _item(task: str, row: dict, read: Callable[[Path], np.ndarray] = read_png) -> Item:
    prompt = paraphrase(task, PRIMARY).prompt
    base: Path = row["_base"]
    paths = json.loads(row["context_paths"])
    return Item(slice_uid=row["slice_uid"], task=task, condition=row["condition"],
                profile=row["profile"], question=prompt.question, options=prompt.options,
                image=read(base / row["image_path"]),
                context=(read(base / paths[0]), read(base / paths[-1])),
                pixel_spacing_mm=float(row.get("pixel_spacing_mm", math.nan)),
                case_uid=str(row.get("case_uid", "") or ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--slices", type=int, default=150, help="slice uids (all sets)")
    parser.add_argument("--models", default=",".join(BASELINES))
    args = parser.parse_args()
    workspace = Workspace(args.workspace)
    pairs = _rows(workspace, profile="lung", slices=args.slices)
    start = time.process_time()
    for task, row in pairs:  # timed only: items hold the cache's shared arrays (memory)
        _item(task, row)
    read_s = time.process_time() - start
    from lesiontrials.io import PngCache  # here: the script also runs on older checkouts

    cache, start = PngCache(max_bytes=1 << 40), time.process_time()
    items = [_item(task, row, cache.read) for task, row in pairs]
    cached_read_s = time.process_time() - start
    shape = list(items[0].image.shape) if items else []
    out: dict[str, dict[str, float]] = {}
    for name in args.models.split(","):
        model = load_model(name)
        if hasattr(model, "fit_prior"):
            truth: dict[str, list[str]] = {}
            for task, row in pairs:
                truth.setdefault(task, []).append(str(row[f"truth_{task}"]))
            model.fit_prior(truth)
        start, wall = time.process_time(), time.perf_counter()
        answers = [a for i in range(0, len(items), 16) for a in model.answer(items[i:i + 16])]
        seconds = time.process_time() - start
        wall = time.perf_counter() - wall
        correct = sum(a.option == row[f"truth_{task}"]
                      for a, (task, row) in zip(answers, pairs, strict=True))
        out[name] = {"version": str(model.version),
                     "answer_items_per_s": round(len(items) / seconds, 1),
                     "answer_items_per_wall_s": round(len(items) / wall, 1),
                     "with_read_items_per_s": round(len(items) / (seconds + read_s), 1),
                     "with_cached_read_items_per_s": round(
                         len(items) / (seconds + cached_read_s), 1),
                     "accuracy": round(correct / len(items), 4)}
    print(json.dumps({"workspace": str(args.workspace), "items": len(items),
                      "image_shape": shape, "read_s": round(read_s, 2),
                      "cached_read_s": round(cached_read_s, 2), "threads": 1,
                      "models": out}, indent=2))


if __name__ == "__main__":
    main()
