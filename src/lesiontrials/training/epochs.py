"""The epoch loop shared by every trained model: checkpoint after each epoch, resume,
early stopping on the validation loss, the best epoch's weights kept.

The caller builds the model and optimiser (inside :func:`~lesiontrials.training.network.
deterministic_torch`, seeded) and passes one function that trains an epoch and one that
validates; :func:`fit_epochs` owns the progress record, so the 2-D slice CNN and the 3-D
patch CNN resume and stop by the same rule and write checkpoints of the same shape.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn, optim

from lesiontrials.errors import InputError
from lesiontrials.training.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch: mean losses and validation presence accuracy."""

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    improved: bool


@dataclass(frozen=True)
class TrainOutcome:
    """Where the checkpoint is, and how training went."""

    path: Path
    identity: dict[str, Any]
    history: tuple[EpochRecord, ...]
    resumed_from_epoch: int
    already_complete: bool


@dataclass(frozen=True)
class EpochPlan:
    """How long to train: at most ``epochs``, stopping after ``patience`` epochs without a
    lower validation loss; ``checkpoint_format`` names the model kind in the file."""

    epochs: int
    patience: int
    checkpoint_format: str = CHECKPOINT_FORMAT


def fit_epochs(*, path: Path, identity: dict[str, Any], model: nn.Module,
               optimizer: optim.Optimizer, plan: EpochPlan, restart: bool,
               train_epoch: Callable[[int], float],
               validate: Callable[[], tuple[float, float]],
               on_epoch: Callable[[EpochRecord], None] | None = None) -> TrainOutcome:
    """Resume from ``path`` (same recipe and data hash) or start fresh, then run epochs.

    ``train_epoch(epoch)`` returns the mean training loss; ``validate()`` returns
    (validation loss, validation presence accuracy). A checkpoint is written after every
    epoch, before ``on_epoch`` is called.
    """
    progress = _resume(path, identity, model, optimizer, restart=restart,
                       checkpoint_format=plan.checkpoint_format)
    start_epoch = int(progress["epoch"])
    if progress["complete"]:
        return TrainOutcome(path, identity, _history(progress), start_epoch, True)
    best = progress.pop("best_model", None) or copy.deepcopy(model.state_dict())
    for epoch in range(start_epoch, plan.epochs):
        train_loss = train_epoch(epoch)
        val_loss, val_acc = validate()
        improved = val_loss < float(progress["best_val_loss"])
        if improved:
            best = copy.deepcopy(model.state_dict())
            progress.update(best_val_loss=val_loss, best_epoch=epoch, stale=0)
        else:
            progress["stale"] = int(progress["stale"]) + 1
        record = EpochRecord(epoch, train_loss, val_loss, val_acc, improved)
        progress["history"].append(list(record.__dict__.values()))
        progress["epoch"] = epoch + 1
        progress["complete"] = (progress["stale"] >= plan.patience
                                or epoch + 1 == plan.epochs)
        save_checkpoint(path, {"identity": identity, "model": model.state_dict(),
                               "best_model": best, "optimizer": optimizer.state_dict(),
                               "progress": progress},
                        checkpoint_format=plan.checkpoint_format)
        if on_epoch is not None:
            on_epoch(record)
        if progress["complete"]:
            break
    return TrainOutcome(path, identity, _history(progress), start_epoch, False)


def _fresh_progress() -> dict[str, Any]:
    return {"epoch": 0, "best_val_loss": float("inf"), "best_epoch": -1, "stale": 0,
            "complete": False, "history": []}


def _resume(path: Path, identity: dict[str, Any], model: nn.Module,
            optimizer: optim.Optimizer, *, restart: bool,
            checkpoint_format: str) -> dict[str, Any]:
    """Progress from the checkpoint at ``path`` (loading its weights and optimiser), or a
    fresh start when there is none (or ``restart``)."""
    if restart or not path.is_file():
        return _fresh_progress()
    state = load_checkpoint(path, checkpoint_format=checkpoint_format)
    old = state["identity"]
    for key in ("recipe_hash", "data_hash"):
        if old.get(key) != identity[key]:
            raise InputError(f"the checkpoint was trained with another {key.split('_')[0]} "
                             f"({old.get(key)} ≠ {identity[key]})", path=path,
                             fix="train under a new name, or pass --restart to discard it")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    progress = dict(state["progress"])
    progress["best_model"] = state["best_model"]
    progress["history"] = [list(h) for h in progress["history"]]
    return progress


def _history(progress: dict[str, Any]) -> tuple[EpochRecord, ...]:
    return tuple(EpochRecord(int(e), float(t), float(v), float(a), bool(i))
                 for e, t, v, a, i in progress["history"])


def run_batches(model: nn.Module, optimizer: optim.Optimizer, *, order: np.ndarray,
                batch_size: int, batch_loss: Callable[[np.ndarray], torch.Tensor]) -> float:
    """One training epoch over ``order`` (example rows, already shuffled) in batches of
    ``batch_size``: ``batch_loss(rows)`` → loss, then one optimiser step. A last batch of
    one example is skipped (batch norm needs two). Returns the mean loss per example."""
    model.train()
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        if len(rows) < 2:  # batch norm needs two samples
            continue
        loss = batch_loss(rows)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(rows)
        count += len(rows)
    return total / max(count, 1)
