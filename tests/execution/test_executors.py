"""The executor contract without a cluster: dispatch, settings, summaries, chunks."""

from __future__ import annotations

import os

import pytest

from lesiontrials.errors import InputError
from lesiontrials.execution import (
    CaseOutcome,
    Executor,
    InProcessExecutor,
    LocalPoolExecutor,
    RunSummary,
    call_case,
    chunks,
    complete_outcomes,
    executor_from_settings,
    load_once,
    record_summaries,
    resolve_executor,
    run_cases,
    use_executor,
)
from lesiontrials.seeding import rng_for
from lesiontrials.settings import Settings

ITEMS = ["a", "bad", "b", "boom", "done-already", "c"]
STATUSES = ["done", "failed", "done", "failed", "skipped", "done"]


def work(item: str) -> float | CaseOutcome:
    """A per-case function with every kind of outcome (module-level: picklable)."""
    if item == "bad":
        raise InputError("donor mask is corrupt", path="masks/x.nii.gz", fix="re-export it")
    if item == "boom":
        raise RuntimeError("unexpected")
    if item == "done-already":
        return CaseOutcome(item, "skipped")
    return float(rng_for(0, item, "test").random())


@pytest.mark.parametrize("executor", [InProcessExecutor(), LocalPoolExecutor(workers=2)],
                         ids=["in-process", "pool"])
def test_executors_keep_order_reasons_and_timings(executor: Executor):
    assert isinstance(executor, Executor)
    outcomes = run_cases(work, ITEMS, keys=ITEMS, executor=executor, show_progress=False)
    assert [o.key for o in outcomes] == ITEMS
    assert [o.status for o in outcomes] == STATUSES
    assert "Fix:" in outcomes[1].reason
    assert all(o.wall_s >= 0 and o.cpu_s >= 0 for o in outcomes)
    summary = outcomes.summary
    assert isinstance(summary, RunSummary)
    assert (summary.items, summary.done, summary.failed, summary.skipped) == (6, 3, 2, 1)
    assert summary.executor == executor.name and summary.cases_per_min > 0
    assert sum(summary.reasons.values()) == 2
    assert "3 done, 2 failed, 1 skipped of 6" in summary.line()
    assert summary.to_dict()["cases_per_min"] == summary.cases_per_min


def test_use_executor_reaches_stage_code_that_does_not_know_about_it():
    calls = []

    class Recording(InProcessExecutor):
        name = "recording"

        def map(self, func, items, *, keys, on_done=None):
            calls.append(list(keys))
            return super().map(func, items, keys=keys, on_done=on_done)

    with use_executor(Recording()), record_summaries() as summaries:
        outcomes = run_cases(work, ["a", "b"], keys=["a", "b"], workers=4, show_progress=False)
    assert calls == [["a", "b"]] and outcomes.summary.executor == "recording"
    assert summaries == [outcomes.summary]
    outside = run_cases(work, ["a"], keys=["a"], workers=1, show_progress=False)
    assert outside.summary.executor == "in-process" and len(calls) == 1


def test_local_default_follows_workers(monkeypatch):
    monkeypatch.delenv("LESIONTRIALS_EXECUTOR", raising=False)
    assert isinstance(resolve_executor(workers=1), InProcessExecutor)
    pool = resolve_executor(workers=3)
    assert isinstance(pool, LocalPoolExecutor) and pool.workers == 3


def test_settings_select_the_executor(tmp_path, monkeypatch):
    assert isinstance(executor_from_settings(Settings(workers=2)), LocalPoolExecutor)
    pytest.importorskip("submitit")
    from lesiontrials.execution import SlurmExecutor

    monkeypatch.setenv("LESIONTRIALS_EXECUTOR", "slurm")
    monkeypatch.setenv("LESIONTRIALS_SLURM_PARTITION", "gpu")
    monkeypatch.setenv("LESIONTRIALS_SLURM_GPUS", "1")
    monkeypatch.setenv("LESIONTRIALS_CHUNK_SIZE", "32")
    monkeypatch.setenv("LESIONTRIALS_WORKSPACE", str(tmp_path))
    # the library never reads the environment: only settings (the CLI) build the executor
    assert isinstance(resolve_executor(workers=1), InProcessExecutor)
    from lesiontrials.settings import load_settings

    chosen = executor_from_settings(load_settings())
    assert isinstance(chosen, SlurmExecutor)
    assert chosen.chunk_size == 32 and chosen.folder == tmp_path / "logs" / "slurm"
    assert chosen.parameters["slurm_partition"] == "gpu"
    assert chosen.parameters["gpus_per_node"] == 0  # CPU stages ask for no GPU
    assert chosen.model_gpus == 1  # what its model stages will ask for
    model_stage = executor_from_settings(load_settings(), gpu=True)
    assert isinstance(model_stage, SlurmExecutor)
    assert model_stage.parameters["gpus_per_node"] == 1 and model_stage.gpus == 1


def test_settings_select_ray_tasks_or_gpu_actors(monkeypatch):
    from lesiontrials.execution import RayActorExecutor, RayExecutor

    monkeypatch.setenv("LESIONTRIALS_EXECUTOR", "ray")
    monkeypatch.setenv("LESIONTRIALS_RAY_ADDRESS", "auto")
    monkeypatch.setenv("LESIONTRIALS_RAY_NUM_GPUS", "0.5")
    from lesiontrials.settings import load_settings

    assert isinstance(resolve_executor(workers=1), InProcessExecutor)  # env not read here
    chosen = executor_from_settings(load_settings())
    assert isinstance(chosen, RayExecutor) and chosen.address == "auto"
    assert chosen.model_gpus == 0.5
    actors = executor_from_settings(Settings(executor="ray", ray_num_gpus=1, workers=3),
                                    gpu=True)
    assert isinstance(actors, RayActorExecutor)
    assert (actors.actors, actors.num_gpus) == (3, 1)


def test_settings_reject_unknown_executors():
    with pytest.raises(ValueError, match="executor"):
        Settings(executor="dask")  # type: ignore[arg-type]


def test_chunks_and_load_once():
    assert list(chunks(list(range(5)), size=2)) == [[0, 1], [2, 3], [4]]
    with pytest.raises(ValueError):
        list(chunks([1], size=0))
    loads = []
    first = load_once("test-model", lambda: loads.append(1) or {"weights": 1})
    again = load_once("test-model", lambda: loads.append(1) or {"weights": 2})
    assert first is again and loads == [1]


def test_an_item_that_never_reported_is_a_failed_lost_outcome():
    done = CaseOutcome("a", "done", result=1)
    outcomes = complete_outcomes([done, None], ["a", "b", "c"])
    assert [o.key for o in outcomes] == ["a", "b", "c"]
    assert outcomes[0] is done
    assert [(o.status, o.reason) for o in outcomes[1:]] == [
        ("failed", "worker lost: no outcome reported")] * 2
    with pytest.raises(ValueError):
        complete_outcomes([done, done], ["a"])


def test_a_slurm_chunk_that_reports_too_few_outcomes_loses_the_rest(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    from lesiontrials.execution import SlurmExecutor, slurm

    def short_chunk(func, keys, items):  # a chunk that drops its last item
        return [call_case(func, k, i) for k, i in zip(keys[:-1], items[:-1], strict=True)]

    monkeypatch.setattr(slurm, "call_chunk", short_chunk)
    items = ["a", "b", "c", "d", "e"]
    outcomes = run_cases(work, items, keys=items, show_progress=False,
                         executor=SlurmExecutor(folder=tmp_path, cluster="debug", chunk_size=2))
    assert [o.key for o in outcomes] == items
    assert [o.status for o in outcomes] == ["done", "failed", "done", "failed", "failed"]
    assert outcomes[1].reason == "worker lost: no outcome reported"
    assert outcomes.summary.failed == 3


def test_a_crashed_pool_worker_fails_its_cases_not_the_run():
    outcomes = run_cases(_exit_on_x, ["a", "x", "b"], keys=["a", "x", "b"],
                         executor=LocalPoolExecutor(workers=2), show_progress=False)
    assert outcomes[1].status == "failed" and "worker lost" in outcomes[1].reason


def _exit_on_x(item: str) -> str:
    if item == "x":
        os._exit(3)
    return item
