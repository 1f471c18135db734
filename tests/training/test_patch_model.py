"""The 3-D patch model: deterministic bytes, resume = uninterrupted, learns a bright
sphere on held-out generated volumes, stays at chance on noise, and as a volume-track
detector refuses the scans it was trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from lesiontrials.errors import InputError
from lesiontrials.paths import Workspace
from lesiontrials.testing_training import write_sphere_volume_set
from lesiontrials.training.epochs import EpochRecord
from lesiontrials.training.patch_data import load_patch_data
from lesiontrials.training.patch_detector import TrainedPatchDetector
from lesiontrials.training.patch_loop import predict_patches, train_patch_model
from lesiontrials.training.recipe import PatchRecipe

SMALL = PatchRecipe(epochs=3, patch_size=12, spacing_mm=2.0, width=4, batch_size=16,
                    random_negatives=2, hard_negatives=1, min_distance_mm=6.0, jitter_mm=1.0)


def _workspace(root: Path, *, n_scans: int = 12, signal: bool = True) -> Workspace:
    ws = Workspace(root)
    write_sphere_volume_set(ws, "gen_train", n_scans=n_scans, seed=1, signal=signal)
    return ws


def test_same_seed_gives_identical_checkpoint_bytes(tmp_path: Path) -> None:
    paths = [train_patch_model(workspace=_workspace(tmp_path / f"w{n}"), name="p3d",
                               sets=["gen_train"], recipe=SMALL).path for n in range(2)]
    assert paths[0].read_bytes() == paths[1].read_bytes()
    other = train_patch_model(workspace=_workspace(tmp_path / "w2"), name="p3d",
                              sets=["gen_train"],
                              recipe=SMALL.model_copy(update={"seed": 1})).path
    assert other.read_bytes() != paths[0].read_bytes()


def test_resume_after_interruption_equals_uninterrupted(tmp_path: Path) -> None:
    whole = train_patch_model(workspace=_workspace(tmp_path / "whole"), name="p3d",
                              sets=["gen_train"], recipe=SMALL)
    ws = _workspace(tmp_path / "cut")

    def crash(record: EpochRecord) -> None:
        if record.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_patch_model(workspace=ws, name="p3d", sets=["gen_train"], recipe=SMALL,
                          on_epoch=crash)
    resumed = train_patch_model(workspace=ws, name="p3d", sets=["gen_train"], recipe=SMALL)
    assert resumed.resumed_from_epoch == 2
    assert resumed.path.read_bytes() == whole.path.read_bytes()
    assert train_patch_model(workspace=ws, name="p3d", sets=["gen_train"],
                             recipe=SMALL).already_complete
    with pytest.raises(InputError, match="another recipe"):
        train_patch_model(workspace=ws, name="p3d", sets=["gen_train"],
                          recipe=SMALL.model_copy(update={"learning_rate": 1e-3}))


def test_slice_and_patch_checkpoints_are_not_mixed(tmp_path: Path) -> None:
    from lesiontrials.training.adapter import TrainedSliceModel

    ws = _workspace(tmp_path)
    path = train_patch_model(workspace=ws, name="p3d", sets=["gen_train"], recipe=SMALL).path
    with pytest.raises(InputError, match="lesiontrials-slice-cnn"):
        TrainedSliceModel(model_path=str(path))


def _held_out_accuracy(tmp_path: Path, *, signal: bool) -> tuple[float, float, float]:
    # one positive and one random negative per scan: chance is 0.5, and no blob-detector
    # candidates (on noise their centres sit on noise bumps, a cue positives lack)
    recipe = PatchRecipe(epochs=12, patch_size=12, spacing_mm=2.0, width=4, batch_size=16,
                         random_negatives=1, hard_negatives=0, min_distance_mm=6.0,
                         jitter_mm=1.0)
    ws = _workspace(tmp_path, n_scans=40, signal=signal)
    outcome = train_patch_model(workspace=ws, name="p3d", sets=["gen_train"], recipe=recipe)
    write_sphere_volume_set(ws, "gen_held_out", n_scans=80, seed=9, signal=signal)
    held_out = load_patch_data(ws, ["gen_held_out"], recipe=recipe).patches
    detector = TrainedPatchDetector(model_path=outcome.path)
    p = predict_patches(detector._net, held_out.patches)
    correct = (p > 0.5).astype(np.int64) == held_out.presence
    interval = binomtest(int(correct.sum()), len(correct)).proportion_ci(method="wilson")
    return float(correct.mean()), float(interval.low), float(interval.high)


def test_learns_a_bright_sphere_on_held_out_volumes(tmp_path: Path) -> None:
    accuracy, low, _ = _held_out_accuracy(tmp_path, signal=True)
    assert accuracy >= 0.9 and low > 0.8, accuracy


def test_stays_at_chance_on_noise(tmp_path: Path) -> None:
    accuracy, low, high = _held_out_accuracy(tmp_path, signal=False)
    assert low <= 0.5 <= high, accuracy


def test_detector_scores_held_out_sets_and_refuses_training_scans(tmp_path: Path) -> None:
    from lesiontrials.scoring.volume_runner import (
        read_candidates,
        run_detector,
        scored_volume_models,
    )
    from lesiontrials.slicing.volumes import load_volume_set

    ws = _workspace(tmp_path)
    write_sphere_volume_set(ws, "gen_held_out", n_scans=4, seed=9)
    outcome = train_patch_model(workspace=ws, name="p3d", sets=["gen_train"], recipe=SMALL)
    detector = TrainedPatchDetector(model_path=outcome.path)
    with pytest.raises(InputError, match="trained on"):
        run_detector(detector, load_volume_set(ws, "gen_train"), workspace=ws)
    assert not ws.volume_results_dir("p3d", "gen_train").exists()
    run_detector(detector, load_volume_set(ws, "gen_held_out"), workspace=ws)
    assert scored_volume_models(ws, "gen_held_out") == {"p3d": "detector"}
    found = read_candidates(ws, "p3d", "gen_held_out")
    assert set(found["scan_uid"]) <= set(load_volume_set(ws, "gen_held_out").scans.scan_uid)
    assert found["probability"].between(0, 1).all()


def test_negative_patches_keep_away_from_host_lesions_kept_in_the_image() -> None:
    """A host lesion is in the image but not in the truth: no negative patch may sit on it
    (it would teach the model that a nodule is background), and it is no positive either."""
    from lesiontrials.io import Volume
    from lesiontrials.training.patches import plan_sites

    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    ct = np.full((40, 40, 40), -850, dtype=np.int16)  # all lung-like: negatives anywhere
    ct[[0, -1], :, :] = ct[:, [0, -1], :] = 40  # a body wall around it
    volume = Volume(ct, affine)
    recipe = SMALL.model_copy(update={"random_negatives": 400, "hard_negatives": 0,
                                      "min_distance_mm": 6.0})
    lesion = np.array([[40.0, 40.0, 40.0]])
    sites = plan_sites(volume, scan_uid="s", nodules_mm=np.zeros((0, 3)),
                       diameters_mm=np.zeros(0), recipe=recipe,
                       avoid_mm=lesion, avoid_diameters_mm=np.array([10.0]))
    assert sites and all(s.presence == 0 for s in sites)
    gaps = [np.linalg.norm(np.asarray(s.centre_mm) - lesion[0]) for s in sites]
    assert min(gaps) >= 6.0 + 5.0
