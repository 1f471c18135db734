"""What a 3-D model sees and returns on the volume track.

A model sees one CT volume at a time (:class:`~lesiontrials.io.volumes.Volume`: HU array in
RAS+ ``(x, y, z)`` order and its voxel→world affine) — never the label map, the truth table
or the case's files — and returns world millimetres in the same RAS frame:

- a :class:`VolumeDetector` returns candidates, a frame with :data:`CANDIDATE_FIELDS`
  (optionally ``box_dx_mm, box_dy_mm, box_dz_mm`` and ``diameter_mm``);
- a :class:`MalignancyModel` returns one probability of malignancy per nodule centre it is
  given (``(n, 3)`` world mm), the standard per-nodule classification task.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.io.volumes import Volume

CANDIDATE_FIELDS = ("x_mm", "y_mm", "z_mm", "probability")


@runtime_checkable
class VolumeDetector(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def detect(self, volume: Volume) -> pd.DataFrame: ...


@runtime_checkable
class MalignancyModel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def malignancy(self, volume: Volume, centres_mm: np.ndarray) -> np.ndarray: ...


def check_candidates(frame: pd.DataFrame, *, model: str, scan_uid: str) -> pd.DataFrame:
    """Refuse a detector's output that is not finite world mm with probabilities in [0, 1]."""
    missing = [c for c in CANDIDATE_FIELDS if c not in frame.columns]
    if missing:
        raise InputError(f"detector {model!r} on {scan_uid}: candidates lack {missing}",
                         fix=f"return a frame with {list(CANDIDATE_FIELDS)} (RAS world mm)")
    values = frame[list(CANDIDATE_FIELDS)].to_numpy(dtype=float)
    if not np.isfinite(values).all() or ((values[:, 3] < 0) | (values[:, 3] > 1)).any():
        raise InputError(f"detector {model!r} on {scan_uid}: non-finite coordinate or "
                         "probability outside [0, 1]", fix="return finite mm and p in [0, 1]")
    return frame.reset_index(drop=True)


def check_probabilities(values: np.ndarray, *, n: int, model: str, scan_uid: str
                        ) -> np.ndarray:
    """Refuse malignancy output of the wrong length or outside [0, 1]."""
    out = np.asarray(values, dtype=float).reshape(-1)
    if out.size != n or not np.isfinite(out).all() or ((out < 0) | (out > 1)).any():
        raise InputError(f"malignancy model {model!r} on {scan_uid}: expected {n} "
                         f"probabilities in [0, 1], got {out.size} values",
                         fix="return one probability per nodule centre, in order")
    return out
