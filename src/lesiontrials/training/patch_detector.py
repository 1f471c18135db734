"""A trained 3-D patch CNN as a volume-track detector (``lesiontrials volumes score
--trained models/NAME/checkpoint.pt``).

Candidates are proposed by the weight-free blob detector (:class:`~lesiontrials.scoring.
models.volume_baselines.LogBlobDetector`: LoG blobs inside an HU lung mask) and each is
re-scored by the CNN on the patch cut around it, so FROC/CPM measure what the learned
model adds to the same proposals. The probability is the CNN's sigmoid (a learned
ranking, calibrated only as far as the training balance allows).

Training/evaluation separation: :meth:`TrainedPatchDetector.check_scans` refuses a volume
set holding a scan it was trained (or validated) on, or a real scan whose CT hosted a
training case; the volume runner calls it before the model sees any CT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.io.volumes import Volume
from lesiontrials.training.checkpoint import (
    PATCH_CHECKPOINT_FORMAT,
    load_checkpoint,
    model_version,
)
from lesiontrials.training.patches import cut_patch


class TrainedPatchDetector:
    """Blob proposals re-scored by a trained :class:`~.network3d.PatchCNN3D`."""

    def __init__(self, *, model_path: str | Path, name: str | None = None) -> None:
        from lesiontrials.training.network import deterministic_torch
        from lesiontrials.training.network3d import PatchCNN3D

        path = Path(model_path).expanduser()
        if path.is_dir():
            path = path / "checkpoint.pt"
        state = load_checkpoint(path, checkpoint_format=PATCH_CHECKPOINT_FORMAT)
        if not state["progress"].get("complete"):
            raise InputError("training is not finished", path=path,
                             fix="resume it: run the same `lesiontrials train --kind "
                                 "patch3d` command again")
        self.identity: dict[str, Any] = dict(state["identity"])
        self.name = str(name or self.identity["name"])
        recipe = self.identity["recipe"]
        self.patch_size = int(recipe["patch_size"])
        self.spacing_mm = float(recipe["spacing_mm"])
        with deterministic_torch():
            self._net = PatchCNN3D(width=int(recipe["width"]))
            self._net.load_state_dict(state["best_model"])
        self._net.eval()
        self._deterministic = deterministic_torch
        self.version = model_version(state, self.identity)

    def check_scans(self, scans: pd.DataFrame) -> None:
        """Raise before scoring if a scan of the set was in training or validation, or is
        a real scan of a host CT that hosted a training case."""
        seen = set(self.identity["case_uids"])
        hosts = set(self.identity["host_cts"])
        uids = scans["scan_uid"].astype(str)
        real = scans["source"].astype(str) == "real"
        host = scans["host_dataset"].astype(str) + "/" + scans["host_ct_id"].astype(str)
        bad = sorted(set(uids[uids.isin(seen)]) | set(uids[real & host.isin(hosts)]))
        if bad:
            raise InputError(f"model {self.name!r} was trained on {len(bad)} scan(s) of this "
                             f"set (or their host CT; first {bad[0]!r}); it is never "
                             "evaluated on them",
                             fix="score it on volume sets of trials it was not trained on")

    def detect(self, volume: Volume) -> pd.DataFrame:
        """Blob candidates (RAS world mm) with the CNN's probability, highest first."""
        import torch

        from lesiontrials.scoring.models.volume_baselines import LogBlobDetector
        from lesiontrials.training.patch_loop import predict_patches

        proposals = LogBlobDetector().detect(volume)
        columns = ["x_mm", "y_mm", "z_mm", "probability", "diameter_mm"]
        if proposals.empty:
            return pd.DataFrame(columns=columns)
        centres = proposals[["x_mm", "y_mm", "z_mm"]].to_numpy(dtype=float)
        patches = np.stack([cut_patch(volume, c, size=self.patch_size,
                                      spacing_mm=self.spacing_mm) for c in centres])
        with torch.no_grad(), self._deterministic():
            probability = predict_patches(self._net, patches)
        frame = proposals[["x_mm", "y_mm", "z_mm"]].assign(
            probability=probability, diameter_mm=proposals["diameter_mm"].to_numpy(float))
        return frame.sort_values(["probability", "z_mm", "y_mm", "x_mm"], ascending=False,
                                 kind="stable").reset_index(drop=True)
