"""Model registry: a plain dict from model name to a factory.

A value is either a callable ``factory(**options) -> Model`` or a ``"module:attribute"``
string imported on first use, so adapters with heavy dependencies (torch, transformers)
cost nothing until asked for. Adapters register by adding an entry::

    MODELS["biomedclip"] = "lesiontrials.scoring.models.clip:BiomedCLIP"
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from lesiontrials.errors import InputError
from lesiontrials.slicing.contract import Model

Factory = Callable[..., Model]

MODELS: dict[str, str | Factory] = {
    "threshold": "lesiontrials.scoring.models.baselines:ThresholdDetector",
    "blob": "lesiontrials.scoring.models.baselines:BlobDetector",
    "overlay_reader": "lesiontrials.scoring.models.overlay_reader:OverlayReader",
    "majority": "lesiontrials.scoring.models.prior:MajorityPrior",
    # a slice CNN of `lesiontrials train` (named only: the evaluate stage never imports it)
    "trained": "lesiontrials.training.adapter:TrainedSliceModel",
}
#: the weight-free models ``lesiontrials run`` scores by default
BASELINES: tuple[str, ...] = ("threshold", "blob", "overlay_reader", "majority")


def resolve(name: str) -> Factory:
    """The factory registered under ``name`` (imported lazily when given as a string)."""
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}",
                         fix=f"use one of {sorted(MODELS)} or register it in "
                             "lesiontrials.scoring.models.registry.MODELS")
    entry = MODELS[name]
    if callable(entry):
        return entry
    module_name, _, attribute = entry.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"model {name!r} needs a package that is not installed ({exc.name})",
                         fix="install the matching extra, e.g. pip install "
                             "'lesiontrials[clip]' or 'lesiontrials[transformers]'") from exc
    factory: Factory = getattr(module, attribute)
    return factory


def load_model(name: str, **options: Any) -> Model:
    """Build the model registered under ``name``; it must satisfy the Model protocol."""
    model = resolve(name)(**options)
    if not isinstance(model, Model):
        raise InputError(f"the factory of {name!r} returned {type(model).__name__}, which is "
                         "not a Model (name, version, answer(items))")
    return model


def _register_external() -> None:
    """External adapters (CLIP, chat VLMs, OpenAI endpoints): their factories import
    nothing heavy until called, and need the user's weights or endpoint."""
    from lesiontrials.scoring.models.external import register_external_models

    register_external_models(MODELS)


_register_external()
