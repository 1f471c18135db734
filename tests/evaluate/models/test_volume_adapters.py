"""Bring-your-own 3-D models: callables and TorchScript files from a models YAML, in world
LPS, RAS or voxel coordinates, scored end to end; missing files are clear errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from evalsynth import TRIAL, write_trial
from typer.testing import CliRunner

from lesiontrials.cli.main import app
from lesiontrials.errors import InputError
from lesiontrials.scoring import detection as det
from lesiontrials.scoring.models.volume_adapters import build_volume_model, load_volume_models
from lesiontrials.scoring.volume_runner import read_candidates, read_malignancy, run_detector
from lesiontrials.slicing.volumes import build_volume_set

torch = pytest.importorskip("torch")


class _PointProbe(torch.nn.Module):
    """Tiny random network: a 3×3×3 convolution read out, through a sigmoid, at a fixed
    voxel; returns that voxel (voxel coordinates) as the one candidate."""

    def __init__(self, voxel: tuple[float, float, float]) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv3d(1, 1, 3, padding=1)
        self.register_buffer("voxel", torch.tensor(voxel, dtype=torch.float64))

    def forward(self, volume: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
        response = self.conv(volume / 1000.0)[0, 0]
        i, j, k = int(self.voxel[0]), int(self.voxel[1]), int(self.voxel[2])
        p = torch.sigmoid(response[i, j, k]).to(torch.float64).reshape(1)
        return torch.cat([self.voxel, p]).reshape(1, 4)


class _Constant(torch.nn.Module):
    def forward(self, volume: torch.Tensor, affine: torch.Tensor,
                centres: torch.Tensor) -> torch.Tensor:
        return torch.full((centres.shape[0],), 0.25, dtype=torch.float64)


def lps_truth_detector(array: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """A 'user CAD' reporting in LUNA16's LPS world mm: the voxels above -200 HU inside
    the thorax's lung boxes, as one candidate per connected blob."""
    from scipy import ndimage

    labels, n = ndimage.label(array > -200)
    out = []
    for index in range(1, n + 1):
        ijk = np.argwhere(labels == index)
        if len(ijk) < 2000:  # not the body
            ras = affine[:3, :3] @ ijk.mean(axis=0) + affine[:3, 3]
            out.append([-ras[0], -ras[1], ras[2], 0.8])
    return np.asarray(out).reshape(-1, 4)


def test_callable_in_lps_is_converted_to_ras(tmp_path: Path) -> None:
    ws = write_trial(tmp_path / "ws").workspace
    vs = build_volume_set(trial=TRIAL, workspace=ws)
    model = build_volume_model({"name": "user_cad", "kind": "detector",
                                "callable": f"{__name__}:lps_truth_detector",
                                "coordinates": "world_lps"})
    run_detector(model, vs, workspace=ws)
    matching = det.match(vs.truth, read_candidates(ws, "user_cad", TRIAL),
                         scans=vs.scans["scan_uid"].tolist())
    assert matching.nodules["best_probability"].notna().all()
    wrong = build_volume_model({"name": "user_cad_ras", "kind": "detector",
                                "callable": f"{__name__}:lps_truth_detector"})  # unconverted
    run_detector(wrong, vs, workspace=ws)
    mis = det.match(vs.truth, read_candidates(ws, "user_cad_ras", TRIAL),
                    scans=vs.scans["scan_uid"].tolist())
    assert mis.nodules["best_probability"].isna().all()


def test_torchscript_detector_and_malignancy_from_yaml(tmp_path: Path) -> None:
    trial = write_trial(tmp_path / "ws")
    ws = trial.workspace
    vs = build_volume_set(trial=TRIAL, workspace=ws)
    centre = tuple(float(v) for v in trial.masks["t1-00000"][0].centroid_voxel())
    torch.jit.script(_PointProbe(centre)).save(str(tmp_path / "det.pt"))
    torch.jit.script(_Constant()).save(str(tmp_path / "mal.pt"))
    (tmp_path / "models.yaml").write_text(textwrap.dedent("""
        volume_models:
          - {name: ts_det, kind: detector, torchscript: det.pt, coordinates: voxel}
          - {name: ts_mal, kind: malignancy, torchscript: mal.pt, version: "0.1"}
    """))
    runner = CliRunner()
    result = runner.invoke(app, ["volumes", "build", TRIAL, "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["volumes", "score", "-w", str(ws.root), "--models",
                                 str(tmp_path / "models.yaml")])
    assert result.exit_code == 0, result.output
    candidates = read_candidates(ws, "ts_det", TRIAL)
    assert len(candidates) == 3  # one per scan
    matching = det.match(vs.truth, candidates, scans=vs.scans["scan_uid"].tolist())
    hit = matching.nodules.set_index("nodule_id")["best_probability"].notna()
    assert hit.to_dict() == {"t1-00000/n0": True, "t1-00001/n0": False,
                             "t1-00001/n1": False}  # voxel → world mm, on its own scan only
    assert read_malignancy(ws, "ts_mal", TRIAL)["probability"].tolist() == [0.25] * 3
    assert not read_candidates(ws, "log_blob_3d", TRIAL).empty  # baselines ran too


def test_missing_files_and_bad_entries_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="TorchScript file not found") as info:
        build_volume_model({"name": "m", "torchscript": str(tmp_path / "nope.pt")})
    assert "nope.pt" in str(info.value)
    with pytest.raises(InputError, match="module:function"):
        build_volume_model({"name": "m", "callable": "no_colon"})
    with pytest.raises(InputError, match="coordinates"):
        build_volume_model({"name": "m", "callable": "numpy:mean", "coordinates": "ijk"})
    (tmp_path / "empty.yaml").write_text("models: []\n")
    with pytest.raises(InputError, match="volume_models"):
        load_volume_models(tmp_path / "empty.yaml")
