"""Training examples from evaluation sets, and the split by case uid.

An example is one evaluation image (one slice in one condition) resampled to
``image_size`` × ``image_size`` float32 in [0, 1], with its labels: presence (1 present,
0 absent), size bin and lobe (indices into :data:`~lesiontrials.slicing.contract.
TASK_OPTIONS`, −1 where the task has no single answer). Only the pixels reach the network;
the labels come from the truth columns and nothing else in the table is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.io import read_png
from lesiontrials.paths import Workspace
from lesiontrials.scoring.results import set_items
from lesiontrials.seeding import rng_for
from lesiontrials.slicing.contract import TASK_OPTIONS

SIZE_OPTIONS = TASK_OPTIONS["size"]
LOBE_OPTIONS = TASK_OPTIONS["lobe"]


@dataclass(frozen=True)
class Examples:
    """Images (N, S, S) float32 in [0, 1] and labels (N,) int64, with each row's case."""

    images: np.ndarray
    presence: np.ndarray
    size: np.ndarray
    lobe: np.ndarray
    case_uids: np.ndarray  # (N,) str
    slice_uids: np.ndarray  # (N,) str

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, mask: np.ndarray) -> Examples:
        return Examples(self.images[mask], self.presence[mask], self.size[mask],
                        self.lobe[mask], self.case_uids[mask], self.slice_uids[mask])


@dataclass(frozen=True)
class TrainingData:
    """What a model was trained on: examples, sets, trials, hosts, and the data hash."""

    examples: Examples
    sets: tuple[str, ...]
    trials: tuple[str, ...]
    case_uids: tuple[str, ...]
    host_cts: tuple[str, ...]  # '{host_dataset}/{host_ct_id}' of every training case
    digest: str


def to_grey(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 → (H, W) float32 in [0, 1] (RGB averaged)."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise InputError(f"expected an 8-bit grey or RGB image, got {image.dtype} "
                         f"{image.shape}", fix="rebuild the evaluation set (`lesiontrials "
                                               "slices`)")
    grey = image.astype(np.float32) / 255.0
    return grey.mean(axis=2) if grey.ndim == 3 else grey


def resample(image: np.ndarray, size: int) -> np.ndarray:
    """Area resampling of a (H, W) float image to (size, size) (bilinear when enlarging)."""
    import torch
    import torch.nn.functional as functional

    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    if tensor.shape[-1] == size and tensor.shape[-2] == size:
        return image.astype(np.float32)
    mode = "area" if min(tensor.shape[-2:]) >= size else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    out = functional.interpolate(tensor, size=(size, size), mode=mode, **kwargs)
    return out[0, 0].numpy().astype(np.float32)


def _label(value: object, options: tuple[str, ...], *, column: str, path: str) -> int:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    if text == "":
        return -1
    if text not in options:
        raise InputError(f"unknown {column} {text!r}", path=path, column=column,
                         fix=f"use one of {list(options)} (rebuild the set)")
    return options.index(text)


def load_training_data(workspace: Workspace, sets: Sequence[str], *, profile: str,
                       conditions: Sequence[str], image_size: int) -> TrainingData:
    """Every image of ``sets`` in ``conditions`` (synthetic sets only: real scans are for
    evaluation), resampled, with labels and the data hash."""
    if not sets:
        raise InputError("no training set given", fix="pass --set NAME (a rendered trial's "
                                                       "evaluation set)")
    frames = []
    for name in sorted(set(sets)):
        items = set_items(workspace, name, profile)
        where = str(workspace.eval_dir(name, profile) / "cases.parquet")
        if (items["source"] != "synthetic").any():
            raise InputError(f"set {name!r} holds real scans", path=where,
                             fix="train on synthetic trial sets only; keep real scans for "
                                 "evaluation")
        chosen = items[items["condition"].isin(list(conditions))].copy()
        if chosen.empty:
            raise InputError(f"no items in conditions {list(conditions)}", path=where,
                             fix="choose conditions the set was built with")
        chosen["src_base"] = str(workspace.eval_dir(name, profile))
        chosen["src_where"] = where
        frames.append(chosen)
    table = pd.concat(frames, ignore_index=True).sort_values(
        ["set", "slice_uid", "condition"], kind="stable").reset_index(drop=True)
    return _examples(table, sets=tuple(sorted(set(sets))), image_size=image_size)


def _examples(table: pd.DataFrame, *, sets: tuple[str, ...], image_size: int) -> TrainingData:
    digest = hashlib.sha256()
    images, presence, size, lobe = [], [], [], []
    for row in table.itertuples(index=False):
        where = str(row.src_where)
        truth = str(row.truth_presence)
        if truth not in ("present", "absent"):
            raise InputError(f"truth_presence {truth!r}", path=where, column="truth_presence",
                             fix="rebuild the evaluation set")
        pixels = read_png(f"{row.src_base}/{row.image_path}")
        digest.update(f"{row.set}|{row.slice_uid}|{row.condition}|{truth}|{row.truth_size}|"
                      f"{row.truth_lobe}|".encode())
        digest.update(np.ascontiguousarray(pixels).tobytes())
        images.append(resample(to_grey(pixels), image_size))
        presence.append(1 if truth == "present" else 0)
        size.append(_label(row.truth_size, SIZE_OPTIONS, column="truth_size", path=where))
        lobe.append(_label(row.truth_lobe, LOBE_OPTIONS, column="truth_lobe", path=where))
    examples = Examples(np.stack(images), np.asarray(presence, np.int64),
                        np.asarray(size, np.int64), np.asarray(lobe, np.int64),
                        table["case_uid"].astype(str).to_numpy(),
                        table["slice_uid"].astype(str).to_numpy())
    hosts = sorted({f"{d}/{c}" for d, c in zip(table["host_dataset"].astype(str),
                                               table["host_ct_id"].astype(str), strict=True)})
    trials = sorted({str(t) for t in table["trial"] if str(t)})
    return TrainingData(examples=examples, sets=sets, trials=tuple(trials),
                        case_uids=tuple(sorted(set(examples.case_uids.tolist()))),
                        host_cts=tuple(hosts), digest=digest.hexdigest()[:16])


def split_by_case(case_uids: Sequence[str], *, seed: int,
                  val_fraction: float) -> tuple[frozenset[str], frozenset[str]]:
    """(train, validation) case uids: a seeded permutation of the sorted unique cases, the
    first ``round(val_fraction · n)`` (at least 1) to validation. Every slice of a case
    lands on the same side, so validation never sees a training case."""
    unique = sorted(set(case_uids))
    if len(unique) < 2:
        raise InputError(f"{len(unique)} case(s): a train/validation split needs at least 2",
                         fix="train on a larger trial")
    order = rng_for(seed, "training-split").permutation(len(unique))
    n_val = min(len(unique) - 1, max(1, round(val_fraction * len(unique))))
    val = frozenset(unique[i] for i in order[:n_val])
    return frozenset(unique) - val, val
