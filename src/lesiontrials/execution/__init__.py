"""Run per-case work in-process, on a local pool, on Ray or as SLURM job arrays.

Per-case functions are plain, picklable functions of one item; each seeds itself from its
uid and writes its outputs atomically, so any executor gives byte-identical results and
an interrupted run resumes by skipping finished items. Ray and submitit are imported only
when their executors are used.
"""

from lesiontrials.execution.base import (
    CaseOutcome,
    Executor,
    call_case,
    chunks,
    complete_outcomes,
    forget_once,
    load_once,
    lost_outcome,
    stage_executor,
)
from lesiontrials.execution.local import (
    CaseOutcomes,
    InProcessExecutor,
    LocalPoolExecutor,
    active_executor,
    forks_workers,
    record_summaries,
    resolve_executor,
    run_cases,
    use_executor,
)
from lesiontrials.execution.progress import ProgressReporter, active_reporter, use_reporter
from lesiontrials.execution.select import (
    executor_from_settings,
    model_executor,
)
from lesiontrials.execution.summary import RunSummary, summarise_run

__all__ = [
    "CaseOutcome",
    "CaseOutcomes",
    "Executor",
    "InProcessExecutor",
    "LocalPoolExecutor",
    "ProgressReporter",
    "RayActorExecutor",
    "RayExecutor",
    "RunSummary",
    "SlurmExecutor",
    "active_executor",
    "active_reporter",
    "call_case",
    "chunks",
    "complete_outcomes",
    "executor_from_settings",
    "forget_once",
    "forks_workers",
    "load_once",
    "lost_outcome",
    "model_executor",
    "record_summaries",
    "resolve_executor",
    "run_cases",
    "stage_executor",
    "summarise_run",
    "use_executor",
    "use_reporter",
]


def __getattr__(name: str) -> object:
    """Lazy access to the cluster executors (their engines are optional extras)."""
    if name in ("RayExecutor", "RayActorExecutor"):
        from lesiontrials.execution import ray_executor

        return getattr(ray_executor, name)
    if name == "SlurmExecutor":
        from lesiontrials.execution.slurm import SlurmExecutor

        return SlurmExecutor
    raise AttributeError(name)
