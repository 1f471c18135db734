"""Volume-track models by name: the weight-free baselines, plus any models YAML entries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from lesiontrials.errors import InputError
from lesiontrials.scoring.models.volume_baselines import BrockLikeMalignancy, LogBlobDetector
from lesiontrials.scoring.volume_contract import MalignancyModel, VolumeDetector

if TYPE_CHECKING:
    from lesiontrials.scoring.models.volume_vlm import VolumeVLM

VolumeModel: TypeAlias = "VolumeDetector | MalignancyModel | VolumeVLM"
#: the baselines ``lesiontrials run`` and ``lesiontrials volumes score`` use by default
VOLUME_BASELINES: dict[str, type] = {"log_blob_3d": LogBlobDetector,
                                     "brock_like": BrockLikeMalignancy}


def volume_models(names: list[str] | None = None, *, models_yaml: Path | None = None
                  ) -> list[VolumeModel]:
    """The named baselines (all by default) plus every model of ``models_yaml``."""
    chosen = list(VOLUME_BASELINES) if names is None else names
    unknown = [n for n in chosen if n not in VOLUME_BASELINES]
    if unknown:
        raise InputError(f"unknown volume model(s) {unknown}",
                         fix=f"use {sorted(VOLUME_BASELINES)} or a models YAML "
                             "(volume_models: …)")
    models: list[VolumeModel] = [VOLUME_BASELINES[n]() for n in chosen]
    if models_yaml is not None:
        from lesiontrials.scoring.models.volume_adapters import load_volume_models

        models += load_volume_models(models_yaml)
    return models
