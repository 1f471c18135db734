"""Train the slice CNN: deterministic, checkpointed every epoch, resumable, early-stopped.

Determinism: the run holds torch to deterministic algorithms on one CPU thread (restored
afterwards); weights are initialised from a seed derived from the recipe seed; every
epoch's shuffle and augmentation come from :func:`~lesiontrials.seeding.rng_for` (seed,
epoch), so an interrupted run resumed from its last checkpoint reaches the same weights,
and the same bytes, as one that never stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as functional

from lesiontrials.paths import Workspace
from lesiontrials.seeding import int_seed, rng_for
from lesiontrials.training.data import Examples, TrainingData, load_training_data, split_by_case
from lesiontrials.training.epochs import (
    EpochPlan,
    EpochRecord,
    TrainOutcome,
    fit_epochs,
    run_batches,
)
from lesiontrials.training.network import SliceCNN, deterministic_torch
from lesiontrials.training.recipe import TrainRecipe

CHECKPOINT_NAME = "checkpoint.pt"


def checkpoint_path(workspace: Workspace, name: str) -> Path:
    """``models/{name}/checkpoint.pt`` in the workspace."""
    return workspace.trained_model_dir(name) / CHECKPOINT_NAME


def augment(images: np.ndarray, rng: np.random.Generator,
            recipe: TrainRecipe) -> tuple[np.ndarray, np.ndarray]:
    """Random horizontal flip, integer shift (edge-padded) and global intensity scale, per
    image; (B, S, S) float32 → (same shape, (B,) bool flipped). Flips move the lobe's
    side, so the lobe loss ignores flipped images (:func:`_loss`)."""
    out = np.empty_like(images)
    flips = rng.random(len(images)) < 0.5 if recipe.flip else np.zeros(len(images), bool)
    shifts = rng.integers(-recipe.shift_px, recipe.shift_px + 1, size=(len(images), 2))
    scales = 1.0 + rng.uniform(-recipe.intensity_jitter, recipe.intensity_jitter, len(images))
    pad = recipe.shift_px
    size = images.shape[-1]
    for i, image in enumerate(images):
        work = image[:, ::-1] if flips[i] else image
        if pad:
            padded = np.pad(work, pad, mode="edge")
            dy, dx = shifts[i] + pad
            work = padded[dy:dy + size, dx:dx + size]
        out[i] = np.clip(work * scales[i], 0.0, 1.0)
    return out, flips


def _loss(model: SliceCNN, images: np.ndarray, ex: Examples, rows: np.ndarray,
          recipe: TrainRecipe, flipped: np.ndarray | None = None) -> torch.Tensor:
    presence, size, lobe = model(torch.from_numpy(images[:, None]))
    loss = functional.binary_cross_entropy_with_logits(
        presence, torch.from_numpy(ex.presence[rows].astype(np.float32)))
    size_t = torch.from_numpy(ex.size[rows])
    if recipe.size_weight and (size_t >= 0).any():
        loss = loss + recipe.size_weight * functional.cross_entropy(size, size_t,
                                                                    ignore_index=-1)
    lobe_t = ex.lobe[rows].copy()
    if flipped is not None:
        lobe_t[flipped] = -1
    lobe_tensor = torch.from_numpy(lobe_t)
    if recipe.lobe_weight and (lobe_tensor >= 0).any():
        loss = loss + recipe.lobe_weight * functional.cross_entropy(lobe, lobe_tensor,
                                                                    ignore_index=-1)
    return loss


def _train_epoch(model: SliceCNN, optimizer: torch.optim.Optimizer, train: Examples,
                 recipe: TrainRecipe, epoch: int) -> float:
    rng = rng_for(recipe.seed, "training-epoch", epoch)

    def batch_loss(rows: np.ndarray) -> torch.Tensor:
        images, flipped = augment(train.images[rows], rng, recipe)
        return _loss(model, images, train, rows, recipe, flipped)

    return run_batches(model, optimizer, order=rng.permutation(len(train)),
                       batch_size=recipe.batch_size, batch_loss=batch_loss)


@torch.no_grad()
def evaluate_examples(model: SliceCNN, ex: Examples, recipe: TrainRecipe
                      ) -> tuple[float, float]:
    """(mean loss, presence accuracy) of ``model`` on ``ex`` (no augmentation)."""
    model.eval()
    total, correct = 0.0, 0
    for start in range(0, len(ex), 256):
        rows = np.arange(start, min(start + 256, len(ex)))
        total += float(_loss(model, ex.images[rows], ex, rows, recipe)) * len(rows)
        logits = model(torch.from_numpy(ex.images[rows][:, None]))[0]
        correct += int(((logits > 0).numpy().astype(np.int64) == ex.presence[rows]).sum())
    return total / len(ex), correct / len(ex)


def _identity(name: str, data: TrainingData, recipe: TrainRecipe,
              val_cases: frozenset[str]) -> dict[str, Any]:
    return {"name": name, "sets": list(data.sets), "trials": list(data.trials),
            "recipe": recipe.record(), "recipe_hash": recipe.digest(),
            "data_hash": data.digest, "n_examples": len(data.examples),
            "n_cases": len(data.case_uids), "case_uids": list(data.case_uids),
            "validation_case_uids": sorted(val_cases), "host_cts": list(data.host_cts),
            "torch": torch.__version__.split("+")[0]}


def train(*, workspace: Workspace, name: str, sets: Sequence[str], recipe: TrainRecipe,
          restart: bool = False,
          on_epoch: Callable[[EpochRecord], None] | None = None) -> TrainOutcome:
    """Train (or resume, or find complete) the model ``name`` on ``sets``.

    A checkpoint is written after every epoch. An existing checkpoint of the same recipe
    and data is resumed (or returned when complete); one of another recipe or data is an
    error unless ``restart``. ``on_epoch`` is called after each epoch's checkpoint is
    on disk (the CLI shows progress with it).
    """
    path = checkpoint_path(workspace, name)
    data = load_training_data(workspace, sets, profile=recipe.profile,
                              conditions=recipe.conditions, image_size=recipe.image_size)
    val_cases = split_by_case(data.case_uids, seed=recipe.seed,
                              val_fraction=recipe.val_fraction)[1]
    identity = _identity(name, data, recipe, val_cases)
    in_val = np.isin(data.examples.case_uids, sorted(val_cases))
    train_ex, val_ex = data.examples.subset(~in_val), data.examples.subset(in_val)
    with deterministic_torch():
        torch.manual_seed(int_seed(recipe.seed, "training-init"))
        model = SliceCNN(width=recipe.width)
        optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate,
                                      weight_decay=recipe.weight_decay)
        return fit_epochs(
            path=path, identity=identity, model=model, optimizer=optimizer,
            plan=EpochPlan(epochs=recipe.epochs, patience=recipe.patience), restart=restart,
            train_epoch=lambda epoch: _train_epoch(model, optimizer, train_ex, recipe, epoch),
            validate=lambda: evaluate_examples(model, val_ex, recipe), on_epoch=on_epoch)
