"""The pipeline as library calls: one function per stage, and :func:`run` chaining them.

Every stage function takes the resolved :class:`~lesiontrials.settings.Settings` (workspace,
data root, seed, workers), an optional explicit executor and an optional progress reporter,
does its work and returns what it did as a typed record; it prints nothing. The command
line (each stage command and ``lesiontrials run``) only calls these functions and prints
their records; it is also the only place that reads the environment and builds an
executor from it (:func:`~lesiontrials.execution.executor_from_settings`).

Without an executor a stage runs on :func:`default_executor` (in-process for one worker,
else a local pool of ``settings.workers``: the one worker count of every stage). Every
stage is resumable: finished cases are kept and skipped, so a failed stage can be re-run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lesiontrials.errors import StageFailedError
from lesiontrials.execution import Executor, ProgressReporter
from lesiontrials.pipeline.base import (
    VOLUME_TRIALS,
    InfeasibleDesignsError,
    PlanRecord,
    StageRecord,
    WorldRecord,
    default_executor,
)
from lesiontrials.pipeline.build import (
    build_index,
    build_slices,
    insert,
    insert_config,
    plan,
    plan_context,
    render,
    world,
)
from lesiontrials.pipeline.evaluation import (
    analyze,
    freeze_split,
    questions,
    questions_stage,
    score,
    score_stage,
    start_train_demo,
    train_demo,
    volumes,
)

if TYPE_CHECKING:
    from lesiontrials.scoring.models.config import ModelConfig
    from lesiontrials.settings import Settings

__all__ = ["VOLUME_TRIALS", "InfeasibleDesignsError", "PlanRecord", "RunObserver",
           "RunRecord", "StageRecord", "WorldRecord", "analyze", "build_index",
           "build_slices", "default_executor", "freeze_split", "insert", "insert_config", "plan",
           "plan_context", "questions", "questions_stage", "render", "run", "score",
           "score_stage", "start_train_demo", "train_demo", "volumes", "world"]


class RunObserver(Protocol):
    """Told about each stage of :func:`run` (the command line prints from it)."""

    def started(self, stage: str) -> None:
        """``stage`` is about to run."""

    def finished(self, stage: str, record: Any) -> None:
        """``stage`` returned ``record`` (before its failures, if any, are raised)."""

    def went_on(self, stage: str, error: StageFailedError) -> None:
        """Cases of ``stage`` failed and ``keep_going`` carries on."""


@dataclass
class RunRecord:
    """What :func:`run` made: every stage's record by name, the report, failed stages."""

    records: dict[str, Any] = field(default_factory=dict)
    report: Path | None = None
    failed_stages: list[str] = field(default_factory=list)


def run(settings: Settings, executor: Executor | None = None, *, size: str = "demo",
        models: Sequence[ModelConfig] | None = None, keep_going: bool = False,
        train_model: bool = True, designs: Sequence[str | int] | None = None,
        grid: str | None = None, slab_mm: float | None = None,
        reporter: ProgressReporter | None = None,
        observer: RunObserver | None = None) -> RunRecord:
    """world → index → plan (all 14 designs) → insert → render → slices → score ``models``
    (default: the baselines) → volumes, while a slice CNN trains and is scored on held-out
    trials (``train_model``; :func:`~lesiontrials.pipeline.evaluation.start_train_demo`) →
    split → question bank → analyze, on one executor.

    ``size``: ``demo`` (demo world, demo-size designs) or ``full`` (full world, paper-size
    designs). ``slab_mm``: cases on phantom hosts keep an axial slab this long (mm), see
    :func:`insert`. ``designs`` (numbers or names): plan only those instead of all 14 (trials
    already planned in the workspace stay and are processed). A stage whose cases failed
    raises
    :class:`~lesiontrials.errors.StageFailedError`, or with ``keep_going`` is listed in
    ``failed_stages`` and the run goes on. Every stage resumes, so re-running is cheap.
    """
    out = RunRecord()
    chosen = executor or default_executor(settings)

    def step(name: str, func: Any, *, per_case: bool = False) -> Any:
        if observer is not None:
            observer.started(name)
        try:
            record = out.records[name] = func()
        except InfeasibleDesignsError as exc:  # the observer still shows why
            if observer is not None:
                observer.finished(name, exc.record)
            raise
        if observer is not None:
            observer.finished(name, record)
        if per_case:
            try:
                record.check()
            except StageFailedError as exc:
                if not keep_going:
                    raise
                out.failed_stages.append(name)
                if observer is not None:
                    observer.went_on(name, exc)
        return record

    ex, rep = chosen, reporter
    root = step("world", lambda: world(settings, ex, size=size, grid=grid, reporter=rep)).root
    settings = settings.model_copy(update={"data_root": root})
    step("index", lambda: build_index(settings))
    step("plan", lambda: plan(settings, size="demo" if size == "demo" else "paper",
                              designs=designs))
    step("insert", lambda: insert(settings, ex, slab_mm=slab_mm, reporter=rep), per_case=True)
    step("render", lambda: render(settings, ex, reporter=rep), per_case=True)
    step("evaluation sets", lambda: build_slices(settings, ex, reporter=rep), per_case=True)
    if (root / "raw_ct").is_dir():
        step("real evaluation set", lambda: build_slices(settings, ex, real=True,
                                                         reporter=rep), per_case=True)
    step("score", lambda: score_stage(settings, ex, models=models, batch_size=32,
                                      reporter=rep))
    # training (its own process on the local pool) goes on while the volume track runs here
    trained = start_train_demo(settings, ex, reporter=rep) if train_model else None
    step("volumes (3-D track)", lambda: volumes(settings))
    if trained is not None:
        step("train (a model that learns from the trials)", trained)
    step("split", lambda: freeze_split(settings))
    step("question bank (VQA, report task)", lambda: questions_stage(settings, ex))
    out.report = step("analysis", lambda: analyze(
        settings, name="demo" if size == "demo" else "main"))
    return out
