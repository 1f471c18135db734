"""Count model loads across processes: each load appends its process id to a log file.

Importable by Ray workers and submitit subprocesses (the tests put this folder on their
``PYTHONPATH``), so a stage test can check that a model was loaded once per actor, not
once per case.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

MAISI_FILES = ("autoencoder", "diffusion", "controlnet")
"""The MAISI checkpoints, as named in ``LESIONTRIALS_MAISI_{NAME}``."""


def record_load(log: str) -> str:
    """Append this process's id to ``log``; returns ``log``."""
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    return log


def loads(log: Path) -> list[int]:
    """The process ids of every recorded load, in order."""
    return [int(x) for x in log.read_text().split()] if log.is_file() else []


class LoadProbe:
    """Pickled into a checkpoint: unpickling it (``torch.load``) records one load."""

    def __init__(self, log: Path) -> None:
        self.log = str(log)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return record_load, (self.log,)


def counting_threshold(*, load_log: str, **options: Any) -> Any:
    """A model factory for the registry: the threshold baseline, recording each load."""
    from lesiontrials.scoring.models.baselines import ThresholdDetector

    record_load(load_log)
    return ThresholdDetector(**options)
