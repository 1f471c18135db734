"""The stages that evaluate: score, the demo's trained model, the reporting split, the 3-D
track, the question bank and the analysis."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from lesiontrials.execution import (
    Executor,
    ProgressReporter,
)
from lesiontrials.paths import DataRoot, Workspace

if TYPE_CHECKING:
    from lesiontrials.scoring.models.config import ModelConfig
    from lesiontrials.scoring.runner import ScoreSummary
    from lesiontrials.scoring.splits import Split
    from lesiontrials.settings import Settings

from lesiontrials.pipeline.base import (
    VOLUME_TRIALS,
    _scope,
)


def score(settings: Settings, executor: Executor | None = None, *,
          models: Sequence[ModelConfig] | None = None, sets: Sequence[str] | None = None,
          conditions: Sequence[str] | None = None, tasks: Sequence[str] | None = None,
          batch_size: int = 16, paraphrases: bool | None = None,
          reporter: ProgressReporter | None = None) -> list[ScoreSummary]:
    """Score ``models`` (default: the weight-free baselines) on evaluation ``sets``
    (default: every set); resumes, re-scores when the prompt or model version changes.
    ``paraphrases``: every prompt paraphrase (True), the canonical one (False) or, None,
    every one for models that read the prompt."""
    from lesiontrials.scoring.models.config import from_cli, model_factory
    from lesiontrials.scoring.models.registry import BASELINES
    from lesiontrials.scoring.runner import score as run_score
    from lesiontrials.slicing.contract import CONDITIONS, TASKS
    from lesiontrials.slicing.sets import list_sets

    ws = Workspace(settings.workspace)
    names = list(sets) if sets is not None else list_sets(ws)
    configs = list(models) if models is not None else from_cli(
        list(BASELINES), model_path=None, options={})
    summaries = []
    with _scope(settings, executor, reporter) as chosen:
        for config in configs:
            summaries.append(run_score(
                model=config.name, model_factory=model_factory(config), workspace=ws,
                sets=names, conditions=tuple(conditions or CONDITIONS),
                tasks=tuple(tasks or TASKS), batch_size=batch_size, workers=settings.workers,
                all_paraphrases=paraphrases, executor=chosen))
    return summaries


def score_stage(settings: Settings, executor: Executor | None = None, *,
                models: Sequence[ModelConfig] | None = None, batch_size: int = 16,
                reporter: ProgressReporter | None = None) -> list[ScoreSummary]:
    """:func:`score` as :func:`run` calls it: on the local pool (the default) in a process
    of its own (:func:`_apart`; no per-unit progress there), so the pool's workers are
    forked from a small process. Forked from the run's process they inherit its resident
    heap (~0.75 GB after the earlier stages) and a 512² scoring worker then peaks at
    1.6 GB (`benchmarks/RESULTS.md`, session 7). Same results: scores do not depend on the
    process. Other executors score from this process."""
    if executor is None or getattr(executor, "name", "") == "local-pool":
        summaries: list[ScoreSummary] = _apart(_score_here, settings, executor, models,
                                               batch_size)
        return summaries
    return score(settings, executor, models=models, batch_size=batch_size, reporter=reporter)


def _score_here(settings: Settings, executor: Executor | None,
                models: Sequence[ModelConfig] | None, batch_size: int) -> list[ScoreSummary]:
    return score(settings, executor, models=models, batch_size=batch_size)


def freeze_split(settings: Settings, *, name: str | None = None) -> Split:
    """Freeze the reporting split (default ``main``) over every set and scored model."""
    from lesiontrials.analysis.workspace import DEFAULT_SPLIT
    from lesiontrials.scoring.splits import make_split, scored_models
    from lesiontrials.slicing.sets import list_sets

    ws = Workspace(settings.workspace)
    sets = list_sets(ws)
    # trained models (scored on held-out trials only) are recorded, not split-deciding:
    # see make_split
    return make_split(workspace=ws, name=name or DEFAULT_SPLIT, sets=sets,
                      models=scored_models(ws, sets) or None)


def train_demo(settings: Settings, executor: Executor | None = None, *,
               reporter: ProgressReporter | None = None) -> list[str]:
    """Train the demo's slice CNN on every design trial but the held-out ones and score it
    on the held-out trials (and real scans it has not seen) only; lines stating the
    separation (docs/training.md).

    On the local pool (the default) the whole stage runs in its own process (:func:`_apart`,
    on a local executor of its own; it reports no per-epoch progress there; ``in-process``
    keeps it in this process): torch, the training tensors and the model scored in the
    stage's process stay resident for the rest of a process's life (~0.6 GB), and the
    run's process then reaches its peak in the analysis on top of them."""
    if executor is None or getattr(executor, "name", "") == "local-pool":
        lines: list[str] = _apart(train_and_score_demo, settings)
        return lines
    return train_and_score_demo(settings, executor, reporter=reporter)


def start_train_demo(settings: Settings, executor: Executor | None = None, *,
                     reporter: ProgressReporter | None = None) -> Callable[[], list[str]]:
    """:func:`train_demo`, started now; call the returned function for its lines. On the
    local pool the training runs in its own process (:func:`_apart`'s spawn) from here on,
    so :func:`run` does the volume track beside it: training is one thread and the
    volume track one process, and on 2 cores each had the other core idle (≈ 19 s and
    ≈ 9 s at 512², ``benchmarks/RESULTS.md`` session 8). They share no file (``models``,
    ``results/{model}`` against ``volumes``, ``volume_results``). Other executors: it runs
    when its lines are asked for, in this process."""
    if executor is None or getattr(executor, "name", "") == "local-pool":
        started = _start_apart(train_and_score_demo, settings)
        return lambda: cast(list[str], started())
    return lambda: train_and_score_demo(settings, executor, reporter=reporter)


def train_and_score_demo(settings: Settings, executor: Executor | None = None, *,
                         reporter: ProgressReporter | None = None) -> list[str]:
    """:func:`train_demo` in this process."""
    import time

    from lesiontrials.scoring.models.config import ModelConfig
    from lesiontrials.slicing.sets import list_sets
    from lesiontrials.training.demo import DEMO_MODEL, train_demo_model

    ws = Workspace(settings.workspace)
    start = time.perf_counter()
    trained = train_demo_model(ws, sets=list_sets(ws))
    if isinstance(trained, str):
        return [trained]
    outcome, train_sets, scored, skipped = trained
    lines = [f"{DEMO_MODEL} trained in {time.perf_counter() - start:.0f} s on "
             f"{outcome.identity['n_examples']} slices of {outcome.identity['n_cases']} "
             f"cases from {', '.join(train_sets)}. Separation: it is scored only on "
             f"{', '.join(scored)} (no case of these was trained on)"
             + "".join(f"; not on {k}: {v}" for k, v in skipped.items())]
    config = ModelConfig(name=DEMO_MODEL, adapter="trained", path=str(outcome.path))
    score(settings, executor, models=[config], sets=scored, batch_size=64, reporter=reporter)
    lines.append(f"{DEMO_MODEL} scored on {', '.join(scored)}")
    return lines


def _apart(func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` in a fresh interpreter (``spawn``: nothing of this process's memory
    is inherited), its result or its exception returned here; what it allocated goes back
    to the system when it ends. The result is the same as in this process: training is
    deterministic on one thread (``training.network.deterministic_torch``) and scores do not
    depend on the executor. A child that dies is an error (``BrokenProcessPool``), never a
    wait."""
    return _start_apart(func, *args)()


def _start_apart(func: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """:func:`_apart` started now; the returned function waits for its result."""
    import multiprocessing

    from lesiontrials.execution.local import start_in_child

    return start_in_child(func, *args, context=multiprocessing.get_context("spawn"))


def questions(settings: Settings, executor: Executor | None = None) -> list[str]:
    """The question track: banks of the nodule-free and two-nodule trials asked of the
    weight-free baselines and the rules reader (docs/vqa.md); one line per trial. The
    reader reads its cases on ``executor`` (else the default one of ``settings``)."""
    from lesiontrials.scoring.questions.track import question_track

    return question_track(Workspace(settings.workspace),
                          data_root=settings.resolved_data_root, seed=settings.seed,
                          workers=settings.workers, executor=executor)


def questions_stage(settings: Settings, executor: Executor | None = None) -> list[str]:
    """:func:`questions` as :func:`run` calls it: on the local pool (the default) in a
    process of its own (:func:`_apart`), for the reason :func:`score_stage` gives — the
    reader's workers would otherwise start from the run's resident heap."""
    if executor is None or getattr(executor, "name", "") == "local-pool":
        lines: list[str] = _apart(questions, settings, executor)
        return lines
    return questions(settings, executor)


def volumes(settings: Settings, *, trials: Sequence[str] = VOLUME_TRIALS) -> list[str]:
    """The 3-D track: build the volume set of each of ``trials`` that has cases (and the
    ``real`` set when the data root has raw CTs) and score the 3-D baselines; one line
    per model and set."""
    from lesiontrials.scoring.volume_runner import score_volume_sets
    from lesiontrials.slicing.volumes import build_real_volume_set, build_volume_set

    ws, root = Workspace(settings.workspace), DataRoot(settings.resolved_data_root)
    present = [t for t in trials if ws.cases_dir(t).is_dir()]
    for trial in present:
        build_volume_set(trial=trial, workspace=ws)
    if (root.root / "raw_ct").is_dir():
        build_real_volume_set(data_root=root, workspace=ws, name="real")
        present.append("real")
    return score_volume_sets(ws, sets=present) if present else [
        f"no cases for {', '.join(trials)}: volume track skipped"]


def analyze(settings: Settings, *, name: str = "main", **options: Any) -> Path:
    """Analyze the frozen split: tables, intervals, the donor/host diagnostic and the
    council; returns the report's HTML path (``options``: see
    :func:`~lesiontrials.analysis.workspace.run_analysis`)."""
    from lesiontrials.analysis.workspace import real_host_datasets, run_analysis

    options.setdefault("real_host_datasets",
                       real_host_datasets(Path(settings.resolved_data_root)))
    options.setdefault("workers", settings.workers)  # its independent parts side by side
    return run_analysis(Workspace(settings.workspace), name=name, seed=settings.seed,
                        **options)


# ----------------------------------------------------------------------- the whole job
