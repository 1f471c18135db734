"""Real engines: a local Ray cluster and submitit (debug and local executors).

Insertion of a small trial must give byte-identical files under every executor (Ray tasks
and submitit's local executor: with rendering and slices, in ``test_cluster_stages.py``),
and a re-run after lost outputs must redo only those cases. SLURM itself is not run here
(no slurmctld in CI): submitit's local executor runs the same job-array code path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from insert_world import TRIAL, snapshot, write_trial
from test_executors import ITEMS, STATUSES, work

from lesiontrials.errors import ConfigError
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
from lesiontrials.testing import assert_same_outputs

_LOADS: list[int] = []


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


def _die_on_x(item: str) -> str:
    """Kills its process on ``x`` (module-level: Ray imports it in the actor)."""
    if item == "x":
        os._exit(3)  # the actor process dies mid-case
    return item


def test_a_dead_actor_fails_its_case_and_unstarted_cases_are_lost(ray_cluster):
    from lesiontrials.execution import RayActorExecutor

    items = ["a", "x", "b", "c"]
    outcomes = run_cases(_die_on_x, items, keys=items, show_progress=False,
                         executor=RayActorExecutor(actors=1))
    assert [o.key for o in outcomes] == items  # nothing silently dropped
    assert [o.status for o in outcomes] == ["done", "failed", "failed", "failed"]
    assert "actor died" in outcomes[1].reason
    assert all(o.reason.startswith("worker lost: no Ray actor left") for o in outcomes[2:])
    assert outcomes.summary.failed == 3


def _failing_setup() -> None:
    raise ConfigError("the model needs LESIONTRIALS_MODEL_DIR")


def test_an_actor_setup_error_is_the_reason_of_its_cases(ray_cluster):
    from lesiontrials.execution import RayActorExecutor

    items = ["a", "b"]
    outcomes = run_cases(str.upper, items, keys=items, show_progress=False,
                         executor=RayActorExecutor(actors=1, setup=_failing_setup))
    assert [o.status for o in outcomes] == ["failed"] * 2
    assert all("ConfigError: the model needs LESIONTRIALS_MODEL_DIR" in o.reason
               for o in outcomes)
    assert outcomes[0].reason.startswith("actor setup failed: ")
    assert outcomes[1].reason.startswith("worker lost: no Ray actor left")


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


@pytest.mark.parametrize("name", ["pool", "ray-actors"])  # the others: test_cluster_stages
def test_insertion_is_byte_identical_on_every_executor(name, request, tmp_path, data_root,
                                                       reference):
    _needs(name, request)
    root, diameters = data_root
    workspace = Workspace(tmp_path / "ws")
    write_trial(workspace, diameters)
    with use_executor(EXECUTORS[name](tmp_path)):  # the stage code is unchanged
        insert_trial(TRIAL, workspace=workspace, data_root=root, show_progress=False)
    got = snapshot(workspace)
    assert any(k.endswith("labels.nii.gz") for k in got)
    assert_same_outputs(got, reference)


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
