"""Train the 3-D patch CNN: the slice CNN's guarantees (split by case uid, seeded, one
CPU thread with deterministic kernels, a checkpoint after every epoch, resume, early
stopping on the validation loss; :mod:`.epochs`) on patches cut from volume sets.

Augmentation per epoch from (seed, epoch): a flip along each axis (presence does not
depend on orientation) and a global intensity scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as functional

from lesiontrials.errors import InputError
from lesiontrials.paths import Workspace
from lesiontrials.seeding import int_seed, rng_for
from lesiontrials.training.checkpoint import PATCH_CHECKPOINT_FORMAT
from lesiontrials.training.data import split_by_case
from lesiontrials.training.epochs import (
    EpochPlan,
    EpochRecord,
    TrainOutcome,
    fit_epochs,
    run_batches,
)
from lesiontrials.training.loop import checkpoint_path
from lesiontrials.training.network import deterministic_torch
from lesiontrials.training.network3d import PatchCNN3D
from lesiontrials.training.patch_data import PatchData, Patches, load_patch_data
from lesiontrials.training.recipe import PatchRecipe

#: the ``kind`` a patch model's identity records (the slice CNN's identity has none)
PATCH_KIND = "patch3d"


def augment_patches(patches: np.ndarray, rng: np.random.Generator,
                    recipe: PatchRecipe) -> np.ndarray:
    """(B, P, P, P) → same shape: per patch a random flip of each axis (if ``flip``) and
    a global intensity scale in 1 ± ``intensity_jitter``, clipped to [0, 1]."""
    flips = rng.random((len(patches), 3)) < 0.5 if recipe.flip else np.zeros(
        (len(patches), 3), bool)
    scales = 1.0 + rng.uniform(-recipe.intensity_jitter, recipe.intensity_jitter,
                               len(patches))
    out = np.empty_like(patches)
    for i, patch in enumerate(patches):
        axes = tuple(int(a) for a in np.flatnonzero(flips[i]))
        work = np.flip(patch, axis=axes) if axes else patch
        out[i] = np.clip(work * scales[i], 0.0, 1.0)
    return out


def _loss(model: PatchCNN3D, patches: np.ndarray, labels: np.ndarray) -> torch.Tensor:
    logits = model(torch.from_numpy(np.ascontiguousarray(patches)[:, None]))
    return functional.binary_cross_entropy_with_logits(
        logits, torch.from_numpy(labels.astype(np.float32)))


def _train_epoch(model: PatchCNN3D, optimizer: torch.optim.Optimizer, train: Patches,
                 recipe: PatchRecipe, epoch: int) -> float:
    rng = rng_for(recipe.seed, "patch-epoch", epoch)

    def batch_loss(rows: np.ndarray) -> torch.Tensor:
        return _loss(model, augment_patches(train.patches[rows], rng, recipe),
                     train.presence[rows])

    return run_batches(model, optimizer, order=rng.permutation(len(train)),
                       batch_size=recipe.batch_size, batch_loss=batch_loss)


@torch.no_grad()
def predict_patches(model: PatchCNN3D, patches: np.ndarray, *, batch: int = 128
                    ) -> np.ndarray:
    """(N, P, P, P) → (N,) probability that a nodule is centred in each patch."""
    model.eval()
    out = [torch.sigmoid(model(torch.from_numpy(np.ascontiguousarray(
        patches[s:s + batch])[:, None]))).numpy() for s in range(0, len(patches), batch)]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


@torch.no_grad()
def evaluate_patches(model: PatchCNN3D, ex: Patches) -> tuple[float, float]:
    """(mean loss, presence accuracy) on ``ex`` without augmentation."""
    p = np.clip(predict_patches(model, ex.patches), 1e-7, 1 - 1e-7)
    y = ex.presence
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return loss, float(np.mean((p > 0.5).astype(np.int64) == y))


def _identity(name: str, data: PatchData, recipe: PatchRecipe,
              val_cases: frozenset[str]) -> dict[str, Any]:
    positives = int(data.patches.presence.sum())
    return {"name": name, "kind": PATCH_KIND, "sets": list(data.sets),
            "trials": list(data.trials), "recipe": recipe.record(),
            "recipe_hash": recipe.digest(), "data_hash": data.digest,
            "n_examples": len(data.patches), "n_positive": positives,
            "n_negative": len(data.patches) - positives, "n_cases": len(data.case_uids),
            "case_uids": list(data.case_uids), "validation_case_uids": sorted(val_cases),
            "host_cts": list(data.host_cts), "torch": torch.__version__.split("+")[0]}


def train_patch_model(*, workspace: Workspace, name: str, sets: Sequence[str],
                      recipe: PatchRecipe, restart: bool = False,
                      on_epoch: Callable[[EpochRecord], None] | None = None) -> TrainOutcome:
    """Train (or resume, or find complete) the 3-D patch model ``name`` on volume ``sets``
    (``models/{name}/checkpoint.pt``); the same contract as the slice CNN's
    :func:`~lesiontrials.training.loop.train`."""
    data = load_patch_data(workspace, sets, recipe=recipe)
    val_cases = split_by_case(data.case_uids, seed=recipe.seed,
                              val_fraction=recipe.val_fraction)[1]
    identity = _identity(name, data, recipe, val_cases)
    in_val = np.isin(data.patches.case_uids, sorted(val_cases))
    train_ex, val_ex = data.patches.subset(~in_val), data.patches.subset(in_val)
    if len(train_ex) < 2 or len(val_ex) == 0:
        raise InputError(f"{len(train_ex)} training and {len(val_ex)} validation patches "
                         f"from {list(data.sets)}", fix="train on more scans")
    with deterministic_torch():
        torch.manual_seed(int_seed(recipe.seed, "patch-init"))
        model = PatchCNN3D(width=recipe.width)
        optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate,
                                      weight_decay=recipe.weight_decay)
        return fit_epochs(
            path=checkpoint_path(workspace, name), identity=identity, model=model,
            optimizer=optimizer, restart=restart,
            plan=EpochPlan(epochs=recipe.epochs, patience=recipe.patience,
                           checkpoint_format=PATCH_CHECKPOINT_FORMAT),
            train_epoch=lambda epoch: _train_epoch(model, optimizer, train_ex, recipe, epoch),
            validate=lambda: evaluate_patches(model, val_ex), on_epoch=on_epoch)
