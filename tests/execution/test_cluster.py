"""Real engines: a local Ray cluster and submitit (debug and local executors).

Insertion of a small trial must give byte-identical files under every executor, and a
re-run after lost outputs must redo only those cases. SLURM itself is not run here (no
slurmctld in CI): submitit's local executor runs the same job-array code path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from insert_world import TRIAL, snapshot, write_trial, write_world
from test_executors import ITEMS, STATUSES, work

from lesiontrials.execution import (
    Executor,
    InProcessExecutor,
    LocalPoolExecutor,
    load_once,
    run_cases,
    use_executor,
)
from lesiontrials.insert import insert_trial
from lesiontrials.paths import Workspace

HERE = Path(__file__).parent
_LOADS: list[int] = []


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A real two-CPU Ray cluster on loopback, for this module."""
    ray = pytest.importorskip("ray")
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let submitit's local subprocesses import this test package."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", path)


def _slurm(tmp_path: Path, cluster: str, chunk_size: int = 2) -> Executor:
    pytest.importorskip("submitit")
    from lesiontrials.execution import SlurmExecutor

    return SlurmExecutor(folder=tmp_path / "slurm", cluster=cluster, chunk_size=chunk_size,
                         time_min=5, poll_s=0.2, partition="ignored-locally")


def _ray(tasks: bool = True) -> Executor:
    from lesiontrials.execution import RayActorExecutor, RayExecutor

    return RayExecutor() if tasks else RayActorExecutor(actors=2)


def test_ray_tasks_keep_order_and_reasons(ray_cluster):
    outcomes = run_cases(work, ITEMS, keys=ITEMS, executor=_ray(), show_progress=False)
    assert [o.status for o in outcomes] == STATUSES
    assert "Fix:" in outcomes[1].reason and outcomes.summary.executor == "ray"
    local = run_cases(work, ITEMS, keys=ITEMS, show_progress=False)
    assert [o.result for o in outcomes] == [o.result for o in local]


def _load_model() -> int:
    _LOADS.append(os.getpid())
    return len(_LOADS)


def warm() -> None:
    load_once("toy-model", _load_model)


def with_model(item: str) -> tuple[int, int]:
    """A GPU-stage stand-in: uses a model loaded once per process."""
    load_once("toy-model", _load_model)
    return os.getpid(), len(_LOADS) + 0 * len(item)


def test_ray_actors_load_the_model_once_each(ray_cluster):
    from lesiontrials.execution import RayActorExecutor

    items = [f"c{i}" for i in range(12)]
    executor = RayActorExecutor(actors=2, setup=warm)
    outcomes = run_cases(with_model, items, keys=items, executor=executor, show_progress=False)
    assert [o.status for o in outcomes] == ["done"] * 12
    pids = {o.result[0] for o in outcomes}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    assert all(o.result[1] == 1 for o in outcomes)  # one load per actor process


@pytest.mark.parametrize("cluster", ["debug", "local"])
def test_submitit_job_arrays_keep_order_and_reasons(tmp_path, on_path, cluster):
    outcomes = run_cases(work, ITEMS, keys=ITEMS, executor=_slurm(tmp_path, cluster),
                         show_progress=False)
    assert [o.key for o in outcomes] == ITEMS
    assert [o.status for o in outcomes] == STATUSES
    assert outcomes.summary.executor == "slurm"


def test_slurm_without_slurm_says_so_instead_of_running_locally(tmp_path):
    pytest.importorskip("submitit")
    import shutil

    from lesiontrials.errors import ConfigError
    from lesiontrials.execution import SlurmExecutor

    if shutil.which("sbatch"):
        pytest.skip("a real SLURM is installed here")
    with pytest.raises(ConfigError, match="no SLURM"):
        SlurmExecutor(folder=tmp_path).map(work, ["a"], keys=["a"])


EXECUTORS: dict[str, Callable[[Path], Executor]] = {
    "pool": lambda tmp: LocalPoolExecutor(workers=2),
    "ray-tasks": lambda tmp: _ray(),
    "ray-actors": lambda tmp: _ray(tasks=False),
    "submitit-local": lambda tmp: _slurm(tmp, "local"),
}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    root = tmp_path_factory.mktemp("dataroot")
    return root, write_world(root)


@pytest.fixture(scope="module")
def reference(data_root, tmp_path_factory) -> dict[str, bytes]:
    """The in-process insertion every other executor must reproduce byte for byte."""
    root, diameters = data_root
    workspace = Workspace(tmp_path_factory.mktemp("reference"))
    write_trial(workspace, diameters)
    with use_executor(InProcessExecutor()):
        summary = insert_trial(TRIAL, workspace=workspace, data_root=root, show_progress=False)
    assert summary["this_run"] == {"done": 5, "failed": 1}
    return snapshot(workspace)


def _needs(name: str, request: pytest.FixtureRequest) -> None:
    if name.startswith("ray"):
        request.getfixturevalue("ray_cluster")


@pytest.mark.parametrize("name", list(EXECUTORS))
def test_insertion_is_byte_identical_on_every_executor(name, request, tmp_path, data_root,
                                                       reference):
    _needs(name, request)
    root, diameters = data_root
    workspace = Workspace(tmp_path / "ws")
    write_trial(workspace, diameters)
    with use_executor(EXECUTORS[name](tmp_path)):  # the stage code is unchanged
        insert_trial(TRIAL, workspace=workspace, data_root=root, show_progress=False)
    got = snapshot(workspace)
    assert got.keys() == reference.keys()
    assert any(k.endswith("labels.nii.gz") for k in got)
    for key in reference:
        assert got[key] == reference[key], key


@pytest.mark.parametrize("name", ["ray-tasks", "submitit-local"])
def test_a_rerun_redoes_only_the_missing_cases(name, request, tmp_path, data_root):
    _needs(name, request)
    root, diameters = data_root
    workspace = Workspace(tmp_path / "ws")
    write_trial(workspace, diameters)
    with use_executor(EXECUTORS[name](tmp_path)):
        first = insert_trial(TRIAL, workspace=workspace, data_root=root, show_progress=False)
        cases = workspace.cases_dir(TRIAL)
        before = {p: p.stat().st_mtime_ns for p in cases.rglob("*.nii.gz")}
        (workspace.case_dir(TRIAL, "t1-00002") / "labels.nii.gz").unlink()  # a lost output
        second = insert_trial(TRIAL, workspace=workspace, data_root=root, show_progress=False)
    assert first["this_run"] == {"done": 5, "failed": 1}
    assert second["this_run"] == {"done": 1, "failed": 1, "skipped": 4}
    for path, mtime in before.items():
        changed = not path.exists() or path.stat().st_mtime_ns != mtime
        assert changed == (path.parent.name == "t1-00002"), path


def _render_snapshot(workspace: Workspace) -> dict[str, bytes]:
    """Rendered CTs exactly; ``render.json`` without its timings and inputs hash."""
    from lesiontrials.io import read_json

    out = {}
    for path in sorted(workspace.cases_dir(TRIAL).rglob("*")):
        if path.name == "ct.nii.gz":
            out[str(path.relative_to(workspace.root))] = path.read_bytes()
        elif path.name == "render.json":
            out[str(path.relative_to(workspace.root))] = repr(_untimed(read_json(path))).encode()
    return out


def _untimed(data: Any) -> Any:
    """Drop wall-clock fields (and the inputs hash, which covers insert.json's timings)."""
    if isinstance(data, dict):
        return {k: _untimed(v) for k, v in data.items()
                if "timing" not in k and k not in ("seconds", "inputs_sha256")}
    if isinstance(data, list):
        return [_untimed(v) for v in data]
    return data


def _rendered(workspace: Workspace, root: Path, diameters: dict[str, float],
              executor: Executor) -> dict[str, bytes]:
    from lesiontrials.render.trial import render_trial

    write_trial(workspace, diameters)
    with use_executor(InProcessExecutor()):
        insert_trial(TRIAL, workspace=workspace, data_root=root, show_progress=False)
    with use_executor(executor):
        summary = render_trial(TRIAL, workspace=workspace, data_root=root, backend="analytic",
                               show_progress=False)
    assert summary, "render produced no summary"
    return _render_snapshot(workspace)


@pytest.mark.parametrize("name", ["ray-tasks", "submitit-local"])
def test_rendering_is_byte_identical_on_cluster_executors(name, request, tmp_path, data_root):
    """A second per-case stage (rendering) through the same executors, unchanged code."""
    _needs(name, request)
    root, diameters = data_root
    reference = _rendered(Workspace(tmp_path / "ref"), root, diameters, InProcessExecutor())
    got = _rendered(Workspace(tmp_path / "ws"), root, diameters, EXECUTORS[name](tmp_path))
    assert got.keys() == reference.keys() and any(k.endswith("ct.nii.gz") for k in got)
    for key in reference:
        assert got[key] == reference[key], key


def test_scoring_through_ray_matches_in_process(ray_cluster, tmp_path):
    """Scoring runs through the same executors: answers equal the in-process ones."""
    import sys

    sys.path.insert(0, str(HERE.parent / "evaluate"))
    from evalsynth import TRIAL as EVAL_TRIAL
    from evalsynth import write_trial as write_eval_trial

    from lesiontrials.evaluate.runner import read_results, score
    from lesiontrials.evaluate.sets import build_eval_set

    frames = []
    for name, executor in (("local", InProcessExecutor()), ("ray", _ray())):
        trial = write_eval_trial(tmp_path / name)
        build_eval_set(trial=EVAL_TRIAL, workspace=trial.workspace, show_progress=False)
        with use_executor(executor):
            score(model="threshold", workspace=trial.workspace, sets=[EVAL_TRIAL],
                  show_progress=False, shard_size=2)
        frame = read_results(trial.workspace, model="threshold", set_name=EVAL_TRIAL,
                             condition="contour", task="size")
        frames.append(frame.sort_values("slice_uid")[["slice_uid", "option", "scores_json",
                                                      "correct"]].reset_index(drop=True))
    assert len(frames[0]) > 0
    assert frames[0].equals(frames[1])
