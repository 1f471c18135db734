"""Whole stages on real engines: insert → render → slices on a local Ray cluster and through
submitit's local executor, byte-identical to the in-process run; the model stages (MAISI
rendering, model scoring) on Ray actors that load their model once each.

No GPU is used: the actors ask for ``ray_num_gpus`` GPUs, which is 0 here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from insert_world import TRIAL, snapshot, workspace_snapshot, write_trial
from model_probe import MAISI_FILES, LoadProbe, counting_threshold, loads

from lesiontrials.execution import (
    Executor,
    InProcessExecutor,
    record_summaries,
    use_executor,
)
from lesiontrials.insert import insert_trial
from lesiontrials.paths import Workspace
from lesiontrials.render.trial import render_trial
from lesiontrials.slicing.sets import build_eval_set
from lesiontrials.testing import assert_same_outputs

HERE = Path(__file__).parent


def _pipeline(workspace: Workspace, root: Path, diameters: dict[str, float],
              executor: Executor) -> dict[str, bytes]:
    """insert → render (analytic) → slices on ``executor``; returns the insertion snapshot."""
    write_trial(workspace, diameters)
    with use_executor(executor), record_summaries() as summaries:
        insert_trial(TRIAL, workspace=workspace, data_root=root, show_progress=False)
        inserted = snapshot(workspace)
        render_trial(TRIAL, workspace=workspace, data_root=root, backend="analytic",
                     show_progress=False)
        built = build_eval_set(trial=TRIAL, workspace=workspace, show_progress=False)
    assert [s.executor for s in summaries] == [executor.name] * 4
    # insert, render, the positives' overlay sizes (for decoys), slices
    assert [(s.done, s.failed) for s in summaries] == [(5, 1), (5, 0), (5, 0), (5, 0)]
    assert built.positives == 5 and not built.failed
    return inserted


@pytest.fixture(scope="module")
def reference(data_root, tmp_path_factory) -> dict[str, bytes]:
    """The in-process run every cluster executor must reproduce file for file."""
    root, diameters = data_root
    workspace = Workspace(tmp_path_factory.mktemp("reference"))
    _pipeline(workspace, root, diameters, InProcessExecutor())
    return workspace_snapshot(workspace)


def _cluster_executor(name: str, tmp_path: Path) -> Executor:
    if name == "ray-tasks":
        from lesiontrials.execution import RayExecutor

        return RayExecutor()
    pytest.importorskip("submitit")
    from lesiontrials.execution import SlurmExecutor

    return SlurmExecutor(folder=tmp_path / "slurm", cluster="local", chunk_size=3,
                         time_min=5, poll_s=0.2)


@pytest.mark.parametrize("name", ["ray-tasks", "submitit-local"])
def test_insert_render_slices_are_byte_identical_on_cluster_executors(
        name, request, tmp_path, data_root, reference):
    request.getfixturevalue("ray_cluster" if name == "ray-tasks" else "on_path")
    root, diameters = data_root
    workspace = Workspace(tmp_path / "ws")
    _pipeline(workspace, root, diameters, _cluster_executor(name, tmp_path))
    got = workspace_snapshot(workspace)
    for suffix in ("labels.nii.gz", "ct.nii.gz", "qc.png", "render.json", "cases.parquet",
                   "_contour.png", "set.json", "insert.json"):
        assert any(k.endswith(suffix) for k in got), suffix
    assert_same_outputs(got, reference)


# ------------------------------------------------------------------ model stages
@pytest.fixture(scope="module")
def tiny_maisi(maisi_dir: Path) -> Path:
    """Tiny random MAISI checkpoints where the Ray workers look; returns the load log.

    The autoencoder checkpoint carries a :class:`LoadProbe`, so every process that loads
    the networks appends its id to the log.
    """
    torch = pytest.importorskip("torch", reason="the maisi extra is not installed")
    pytest.importorskip("monai", reason="the maisi extra is not installed")
    from monai.apps.generation.maisi.networks.autoencoderkl_maisi import AutoencoderKlMaisi
    from monai.apps.generation.maisi.networks.controlnet_maisi import ControlNetMaisi
    from monai.apps.generation.maisi.networks.diffusion_model_unet_maisi import (
        DiffusionModelUNetMaisi,
    )

    from lesiontrials.render.backends.maisi import DEFAULT_NETWORKS

    sys.path.insert(0, str(HERE.parent / "render"))
    from test_maisi import TINY

    log = maisi_dir / "loads.log"
    classes = (AutoencoderKlMaisi, DiffusionModelUNetMaisi, ControlNetMaisi)
    torch.manual_seed(0)
    for key, cls in zip(MAISI_FILES, classes, strict=True):
        state = cls(**{**DEFAULT_NETWORKS[key], **TINY[key]}).state_dict()
        payload = ({"unet_state_dict": state, "scale_factor": 1.0} if key == "diffusion"
                   else {"state_dict": state})
        if key == "autoencoder":
            payload["probe"] = LoadProbe(log)
        torch.save(payload, maisi_dir / f"{key}.pt")
    (maisi_dir / "config.json").write_text(json.dumps(
        {**TINY, "num_inference_steps": 2, "accepted_xy": [16, 32], "accepted_z": [16]}))
    return log


def test_maisi_rendering_runs_on_ray_actors_that_load_the_networks_once(
        ray_cluster, tiny_maisi, tmp_path, data_root):
    from lesiontrials.execution import RayExecutor

    root, diameters = data_root
    workspace = Workspace(tmp_path / "ws")
    write_trial(workspace, diameters)
    with use_executor(InProcessExecutor()):
        insert_trial(TRIAL, workspace=workspace, data_root=root, show_progress=False)
    with use_executor(RayExecutor()), record_summaries() as summaries:  # tasks asked for
        summary = render_trial(TRIAL, workspace=workspace, data_root=root, backend="maisi",
                               workers=2, show_progress=False)
    assert [s.executor for s in summaries] == ["ray-actors"]  # the stage chose actors
    assert summary["this_run"] == {"done": 5, "skipped": 1}  # skipped: insertion failed
    assert summary["backends"] == {"maisi": 5}
    pids = loads(tiny_maisi)
    assert 1 <= len(pids) <= 2 < summary["rendered"]  # once per actor, not per case
    assert len(set(pids)) == len(pids) and os.getpid() not in pids
    # several trials share one stage executor: its actors load the networks once for all
    from lesiontrials.render.trial import render_trials

    with use_executor(RayExecutor()):
        again = list(render_trials([TRIAL, TRIAL], workspace=workspace, data_root=root,
                                   backend="maisi", workers=2, show_progress=False))
    assert [s["this_run"] for s in again] == [{"skipped": 6}] * 2
    assert len(loads(tiny_maisi)) - len(pids) <= 2


def test_scoring_on_ray_actors_matches_in_process_and_loads_once_per_actor(
        ray_cluster, tmp_path, monkeypatch):
    """Scoring through Ray: actors load the model once each; answers equal in-process."""
    sys.path.insert(0, str(HERE.parent / "evaluate"))
    from evalsynth import TRIAL as EVAL_TRIAL
    from evalsynth import write_trial as write_eval_trial

    from lesiontrials.execution import RayExecutor
    from lesiontrials.scoring.models.registry import MODELS
    from lesiontrials.scoring.runner import read_results, score

    monkeypatch.setitem(MODELS, "counting-threshold", counting_threshold)
    frames, units = [], 0
    for name, executor in (("local", InProcessExecutor()), ("ray", RayExecutor())):
        trial = write_eval_trial(tmp_path / name)
        build_eval_set(trial=EVAL_TRIAL, workspace=trial.workspace, show_progress=False)
        with use_executor(executor), record_summaries() as summaries:
            score(model="counting-threshold", workspace=trial.workspace, sets=[EVAL_TRIAL],
                  show_progress=False, shard_size=2, workers=2,
                  model_options={"load_log": str(tmp_path / f"{name}.log")})
        frame = read_results(trial.workspace, model="threshold", set_name=EVAL_TRIAL,
                             condition="contour", task="size")
        frames.append(frame.sort_values("slice_uid")[["slice_uid", "option", "scores_json",
                                                      "correct"]].reset_index(drop=True))
        units = sum(s.items for s in summaries)
    assert [s.executor for s in summaries] == ["ray-actors"]
    assert len(frames[0]) > 0 and frames[0].equals(frames[1])
    workers = loads(tmp_path / "ray.log")
    assert os.getpid() not in workers  # the driver never loads the model (a worker describes)
    assert 1 <= len(workers) <= 2 < units and len(set(workers)) == len(workers)
