"""Which executor each stage runs on, without a cluster: model stages on GPU actors or GPU
job arrays, the world build through ``run_cases``, and ``--executor`` on the commands."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from insert_world import TRIAL, write_trial, write_world

from lesiontrials.errors import ConfigError, LesionTrialsError
from lesiontrials.execution import (
    InProcessExecutor,
    LocalPoolExecutor,
    model_executor,
    record_summaries,
    use_executor,
)


def _setup() -> None:
    """A model stage's setup (never run here)."""


def test_local_executors_leave_model_stages_on_their_local_path(monkeypatch):
    monkeypatch.delenv("LESIONTRIALS_EXECUTOR", raising=False)
    assert model_executor(workers=2, setup=_setup) is None
    for local in (InProcessExecutor(), LocalPoolExecutor(workers=2)):
        with use_executor(local):
            assert model_executor(workers=2, setup=_setup) is None


def test_ray_model_stages_run_on_actors_with_gpus_from_settings(monkeypatch):
    from lesiontrials.execution import RayActorExecutor, RayExecutor

    monkeypatch.setenv("LESIONTRIALS_RAY_NUM_GPUS", "2")  # never read: the executor says
    with use_executor(RayExecutor(address="auto", model_gpus=0.5)):
        chosen = model_executor(workers=3, setup=_setup)
        cpu_only = model_executor(workers=3, setup=_setup, gpu=False)
    assert isinstance(chosen, RayActorExecutor) and chosen.name == "ray-actors"
    assert (chosen.actors, chosen.num_gpus, chosen.setup, chosen.address) == (
        3, 0.5, _setup, "auto")
    assert isinstance(cpu_only, RayActorExecutor) and cpu_only.num_gpus == 0
    with use_executor(RayActorExecutor(actors=4, num_gpus=1)):  # explicit actors are kept
        kept = model_executor(workers=2, setup=_setup)
    assert isinstance(kept, RayActorExecutor)
    assert (kept.actors, kept.num_gpus, kept.setup) == (4, 1, _setup)


def test_slurm_model_stages_ask_for_gpus_from_settings(monkeypatch, tmp_path):
    from lesiontrials.execution import SlurmExecutor

    monkeypatch.setenv("LESIONTRIALS_SLURM_GPUS", "5")  # never read: the executor says
    cpu_array = SlurmExecutor(folder=tmp_path, partition="gpu", model_gpus=2)
    with use_executor(cpu_array):
        chosen = model_executor(workers=1, setup=_setup)
        baseline = model_executor(workers=1, setup=_setup, gpu=False)
    assert isinstance(chosen, SlurmExecutor) and chosen.parameters["gpus_per_node"] == 2
    assert chosen.parameters["slurm_partition"] == "gpu"
    assert isinstance(baseline, SlurmExecutor) and baseline.parameters["gpus_per_node"] == 0
    assert cpu_array.parameters["gpus_per_node"] == 0  # the CPU stages' array is unchanged


def test_render_picks_actors_for_maisi_only():
    from lesiontrials.execution import RayActorExecutor, RayExecutor
    from lesiontrials.render.trial import render_executor, warm_maisi

    with use_executor(RayExecutor()):
        maisi = render_executor("maisi", workers=2)
        analytic = render_executor("analytic", workers=2)
    assert isinstance(maisi, RayActorExecutor)
    assert (maisi.actors, maisi.setup) == (2, warm_maisi)
    assert analytic is None  # run_cases picks the active Ray tasks as usual


# ------------------------------------------------------------------ world build
def test_world_build_runs_hosts_through_run_cases_and_names_failed_hosts(monkeypatch,
                                                                         tmp_path):
    from lesiontrials.paths import DataRoot
    from lesiontrials.world import build

    def fake_host(plan, donors, attributes, root_path):
        if plan.ct_id == "S2":
            raise ValueError("no room for the heart")
        return pd.DataFrame({"ct_id": [plan.ct_id]})

    monkeypatch.setattr(build, "build_phantom_host", fake_host)
    library = SimpleNamespace(shapes=list, nodules=[])
    plans = [SimpleNamespace(dataset="SCREEN", ct_id=f"S{i}", donor_uids=()) for i in (1, 2, 3)]
    steps: list[tuple[str, int, int]] = []
    with record_summaries() as summaries, pytest.raises(build.WorldBuildError) as error:
        build.build_phantoms(DataRoot(tmp_path), library, plans, workers=1,
                             progress=lambda *step: steps.append(step))
    message = str(error.value)
    assert "1 of 3 phantom hosts failed" in message and "SCREEN/S2" in message
    assert "no room for the heart" in message and "2 finished hosts are kept" in message
    assert [s.stage for s in summaries] == ["world phantom hosts"]
    assert (summaries[0].done, summaries[0].failed) == (2, 1)
    assert steps[-1] == ("phantom hosts", 3, 3)

    plans = [p for p in plans if p.ct_id != "S2"]
    frames = build.build_phantoms(DataRoot(tmp_path), library, plans, workers=1,
                                  progress=None)
    assert [f["ct_id"][0] for f in frames] == ["S1", "S3"]  # plan order


# ------------------------------------------------------------------ --executor
def _stage_world(tmp_path: Path) -> tuple[Path, Path]:
    from lesiontrials.paths import Workspace

    root = tmp_path / "root"
    write_trial(Workspace(tmp_path / "ws"), write_world(root))
    return root, tmp_path / "ws"


@pytest.mark.parametrize("command", [["insert"], ["render"], ["slices"], ["score"],
                                     ["world", "build"], ["run"]])
def test_every_stage_command_has_the_executor_options(command):
    from typer.testing import CliRunner

    from lesiontrials.cli.main import app

    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--executor" in result.output and "--ray-address" in result.output


def test_the_executor_option_reaches_run_cases(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from lesiontrials.cli.main import app

    root, ws = _stage_world(tmp_path)
    # the environment asks for SLURM, which cannot run here: --executor local wins
    monkeypatch.setenv("LESIONTRIALS_EXECUTOR", "slurm")
    args = ["insert", TRIAL, "-w", str(ws), "-d", str(root), "-j", "1"]
    with record_summaries() as summaries:
        result = CliRunner().invoke(app, [*args, "--executor", "local"])
    # finished, summary written, 1 case failed: the console entry point exits 3 for this
    from lesiontrials.errors import StageFailedError

    assert isinstance(result.exception, StageFailedError), result.output
    assert "1 of 6 cases failed" in str(result.exception)
    assert [(s.executor, s.done, s.failed) for s in summaries] == [("in-process", 5, 1)]

    monkeypatch.setenv("LESIONTRIALS_EXECUTOR", "local")
    result = CliRunner().invoke(app, [*args, "--executor", "slurm"])  # reaches SLURM
    assert isinstance(result.exception, ConfigError)
    assert "SLURM" in str(result.exception)
    assert isinstance(result.exception, LesionTrialsError)


def test_model_actors_share_the_stage_cluster_so_ray_starts_once(monkeypatch):
    from lesiontrials.execution import RayActorExecutor, RayExecutor, ray_executor

    calls: list[str] = []
    state = {"up": False}

    def init(**_: object) -> None:
        calls.append("init")
        state["up"] = True

    def shutdown() -> None:
        calls.append("shutdown")
        state["up"] = False

    fake = SimpleNamespace(is_initialized=lambda: state["up"], init=init, shutdown=shutdown)
    monkeypatch.setattr(ray_executor, "_ray", lambda: fake)
    tasks = RayExecutor()
    with use_executor(tasks):
        for _ in range(2):  # e.g. two trials rendered with MAISI
            actors = model_executor(workers=2, setup=_setup)
            assert isinstance(actors, RayActorExecutor)
            actors.connect()
            actors.close()
    assert calls == ["init"]  # the actors neither restarted nor shut down the cluster
    tasks.close()
    assert calls == ["init", "shutdown"]


def test_executor_options_refuse_contradictions(tmp_path):
    from typer.testing import CliRunner

    from lesiontrials.cli.main import app
    from lesiontrials.cli.options import executor_scope
    from lesiontrials.settings import load_settings

    root, ws = _stage_world(tmp_path)
    result = CliRunner().invoke(app, ["insert", TRIAL, "-w", str(ws), "-d", str(root),
                                      "--executor", "slurm", "--ray-address", "auto"])
    assert result.exit_code == 2 and "--ray-address" in result.output
    result = CliRunner().invoke(app, ["insert", TRIAL, "-w", str(ws), "--executor", "dask"])
    assert result.exit_code == 2 and "dask" in result.output
    import typer

    with (pytest.raises(typer.BadParameter, match="unknown executor 'dask'"),
          executor_scope(load_settings(workspace=ws), "dask")):
        pass
