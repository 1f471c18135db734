"""The checkpoint file: weights, optimiser state, progress and the model's identity.

One file (``models/{name}/checkpoint.pt`` in the workspace) serves both to resume an
interrupted run and, once ``complete``, as the trained model scoring loads. It is written
with ``torch.save`` into memory and then atomically (:func:`lesiontrials.io.
write_bytes_atomic`); the same state gives the same bytes. Only tensors and plain
JSON-able values are stored, so it loads with ``weights_only=True``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from lesiontrials.errors import InputError
from lesiontrials.io import write_bytes_atomic

CHECKPOINT_FORMAT = "lesiontrials-slice-cnn/1"
PATCH_CHECKPOINT_FORMAT = "lesiontrials-patch-cnn-3d/1"
REQUIRED_KEYS = ("format", "identity", "model", "best_model", "optimizer", "progress")


def save_checkpoint(path: Path, state: dict[str, Any], *,
                    checkpoint_format: str = CHECKPOINT_FORMAT) -> None:
    """Write ``state`` (see :data:`REQUIRED_KEYS`) to ``path`` atomically, tagged with
    ``checkpoint_format`` (which model kind it holds)."""
    import torch

    buffer = io.BytesIO()
    torch.save(canonical({"format": checkpoint_format, **state}), buffer)
    write_bytes_atomic(path, buffer.getvalue())


def canonical(value: Any) -> Any:
    """``value`` with dict keys sorted, tuples as lists, strings interned and every tensor
    a fresh contiguous copy, so equal states pickle to equal bytes (pickle memoises by
    object identity: a resumed run's state holds equal strings as distinct objects, its
    optimiser keys in another order)."""
    import sys

    import torch

    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, dict):
        return {canonical(key): canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.detach().clone().contiguous()
    return value


def load_checkpoint(path: Path, *, checkpoint_format: str = CHECKPOINT_FORMAT
                    ) -> dict[str, Any]:
    """Read a checkpoint of ``checkpoint_format`` (tensors on CPU); a clear error if it is
    not one (or holds another kind of model)."""
    import torch

    if not path.is_file():
        raise InputError("checkpoint not found", path=path,
                         fix="train it first (`lesiontrials train NAME --set ...`) or give "
                             "the path of models/NAME/checkpoint.pt")
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise InputError(f"not a readable checkpoint ({type(exc).__name__}: {exc})",
                         path=path, fix="delete it and train again") from exc
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if state.get("format") != checkpoint_format or missing:
        raise InputError(f"not a {checkpoint_format} checkpoint (format "
                         f"{state.get('format')!r}, missing {missing})", path=path,
                         fix="give the checkpoint of the right model kind, or train it "
                             "again with this version of lesiontrials")
    return state


def model_version(state: dict[str, Any], identity: dict[str, Any]) -> str:
    """A trained model's version: its recipe version + a digest of the best weights (sorted
    tensor names and bytes) and its identity (training sets, recipe, data hashes), so two
    checkpoints answer under one version only when they hold the same model."""
    import hashlib
    import json

    digest = hashlib.sha256()
    for key, tensor in sorted(state["best_model"].items()):
        digest.update(key.encode())
        digest.update(tensor.numpy().tobytes())
    digest.update(json.dumps(identity, sort_keys=True).encode())
    return f"{identity['recipe']['recipe_version']}+{digest.hexdigest()[:16]}"
