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

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lesiontrials.errors import InputError, MissingPathError, StageFailedError, stage_failures
from lesiontrials.execution import (
    Executor,
    InProcessExecutor,
    LocalPoolExecutor,
    ProgressReporter,
    use_executor,
    use_reporter,
)
from lesiontrials.paths import DataRoot, Workspace

if TYPE_CHECKING:
    from lesiontrials.io.decoded import DecodedCache
    from lesiontrials.scoring.models.config import ModelConfig
    from lesiontrials.scoring.runner import ScoreSummary
    from lesiontrials.scoring.splits import Split
    from lesiontrials.settings import Settings
    from lesiontrials.slicing.sets import SetSummary
    from lesiontrials.trials import PlanContext, TrialPlan
    from lesiontrials.world.build import WorldResult

#: the trials ``run`` also evaluates on whole volumes (designs 2 and 3)
VOLUME_TRIALS = ("size_detection_curve", "location_sensitivity")


@dataclass(frozen=True)
class WorldRecord:
    """The data root the later stages read; ``built`` is None when an existing data root
    (``settings.data_root``) was used instead of building the embedded world."""

    root: Path
    built: WorldResult | None


@dataclass(frozen=True)
class PlanRecord:
    """Planned trials (manifests written) and the designs the data could not support,
    each with ``design_number``, ``design``, ``reason`` and ``fix``."""

    plans: tuple[TrialPlan, ...]
    infeasible: tuple[dict[str, Any], ...] = ()


class InfeasibleDesignsError(InputError):
    """Planning every design left nothing planned (or, strict, some design infeasible);
    ``record`` holds what was planned and why each infeasible design was refused."""

    record: PlanRecord


@dataclass(frozen=True)
class StageRecord:
    """What a per-case stage did: one summary per trial (or set), cases failed of total,
    trials skipped with the reason, and where the summaries are (a glob, for messages)."""

    stage: str
    summaries: tuple[Any, ...]
    failed: int
    total: int
    summaries_glob: str
    skipped: tuple[tuple[str, str], ...] = ()

    def check(self) -> None:
        """Raise :class:`~lesiontrials.errors.StageFailedError` when cases failed."""
        if self.failed:
            raise stage_failures(self.stage, failed=self.failed, total=self.total,
                                 summaries=self.summaries_glob)


def default_executor(settings: Settings) -> Executor:
    """In-process for one worker, else a local pool of ``settings.workers`` processes."""
    if settings.workers <= 1:
        return InProcessExecutor()
    return LocalPoolExecutor(workers=settings.workers)


@contextlib.contextmanager
def _scope(settings: Settings, executor: Executor | None,
           reporter: ProgressReporter | None) -> Iterator[Executor]:
    """Run the block on ``executor`` (else the default one), reporting to ``reporter``
    only (None: silent, whatever an outer block chose)."""
    chosen = executor or default_executor(settings)
    with use_executor(chosen), use_reporter(reporter):
        yield chosen


# ----------------------------------------------------------------------- world → plan
def world(settings: Settings, executor: Executor | None = None, *, size: str = "demo",
          at: Path | None = None, reporter: ProgressReporter | None = None) -> WorldRecord:
    """The data root the later stages read.

    With ``at``, the embedded world is built (or resumed) there at ``size`` (``demo`` or
    ``full``); else ``settings.data_root`` is used as it is when set, or the world is built
    under ``<workspace>/world``.
    """
    if at is None and settings.data_root is not None:
        return WorldRecord(Path(settings.data_root), None)
    from lesiontrials.world.build import build_world

    root = Path(at) if at is not None else settings.resolved_data_root
    with _scope(settings, executor, reporter), _world_progress(reporter) as progress:
        built = build_world(root, size=size, seed=settings.seed, workers=settings.workers,
                            cache_dir=settings.cache_dir, progress=progress)
    return WorldRecord(root, built)


@contextlib.contextmanager
def _world_progress(reporter: ProgressReporter | None) -> Iterator[Any]:
    """``build_world``'s ``progress(stage, done, total)`` callback on ``reporter``."""
    if reporter is None:
        yield None
        return
    with contextlib.ExitStack() as stack:
        advances: dict[str, Any] = {}
        done_so_far: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in advances:
                advances[stage] = stack.enter_context(reporter.task(stage, total))
                done_so_far[stage] = 0
            advances[stage](done - done_so_far[stage])
            done_so_far[stage] = done

        yield progress


def build_index(settings: Settings, *, data_root: Path | None = None) -> Path:
    """Build the nodule index of the data root into the workspace; returns its path."""
    from lesiontrials.index import build_index as build
    from lesiontrials.index import write_index

    root = DataRoot(data_root or settings.resolved_data_root)
    return write_index(build(root), Workspace(settings.workspace))


def plan_context(settings: Settings) -> PlanContext:
    """What planning reads: the workspace's nodule index and the data root's hosts."""
    from lesiontrials.index import NoduleIndex
    from lesiontrials.trials import PlanContext, load_host_catalogue

    ws = Workspace(settings.workspace)
    if not ws.index_table.is_file():
        raise MissingPathError("no nodule index in the workspace", path=ws.index_table,
                               fix="run `lesiontrials index build` first")
    index = NoduleIndex.load(ws.index_table)
    return PlanContext(index, load_host_catalogue(DataRoot(settings.resolved_data_root), index))


def plan(settings: Settings, *, spec: Any = None, design: str | int | None = None,
         size: str = "demo", strict: bool = False) -> PlanRecord:
    """Plan one trial spec (a :class:`~lesiontrials.trials.TrialSpec`, or a YAML/JSON path),
    one design (number or name), or with neither every feasible design (``size``: the
    designs' ``demo`` or ``paper`` case counts); write manifests and ``plan.json``.

    Planning every design writes ``trials/plan_all.json`` and raises when nothing could be
    planned, or with ``strict`` when any design was infeasible.
    """
    from lesiontrials.trials import load_spec, plan_design, plan_spec, write_plan

    ctx, ws = plan_context(settings), Workspace(settings.workspace)
    if spec is not None and design is not None:
        raise InputError("give a spec or a design, not both")
    if spec is None and design is None:
        return _plan_all(ctx, ws, size=size, seed=settings.seed, strict=strict)
    if spec is not None:
        result = plan_spec(ctx, load_spec(spec) if isinstance(spec, str | Path) else spec)
    else:
        result = plan_design(ctx, str(design), size=size, seed=settings.seed)
    write_plan(result, ws)
    return PlanRecord((result,))


def _plan_all(ctx: PlanContext, ws: Workspace, *, size: str, seed: int,
              strict: bool) -> PlanRecord:
    from lesiontrials.io import write_json
    from lesiontrials.trials import DESIGNS, plan_design, write_plan

    plans, infeasible = [], []
    for number in sorted(DESIGNS):
        try:
            result = plan_design(ctx, number, size=size, seed=seed)
        except InputError as exc:
            infeasible.append({"design_number": number, "design": DESIGNS[number][0],
                               "reason": exc.problem, "fix": exc.fix or ""})
            continue
        write_plan(result, ws)
        plans.append(result)
    record = ws.root / "trials" / "plan_all.json"
    write_json({"size": size, "seed": seed, "planned": [p.name for p in plans],
                "infeasible": infeasible}, record)
    planned = PlanRecord(tuple(plans), tuple(infeasible))
    if not plans or (strict and infeasible):
        names = ", ".join(f"{i['design_number']} {i['design']}" for i in infeasible)
        error = InfeasibleDesignsError(
            f"{len(infeasible)} of {len(DESIGNS)} designs are infeasible ({names})"
            + ("" if plans else ": nothing could be planned"), path=record,
            fix="relax the constraints listed for each design (or drop --strict to plan the "
            "feasible ones)")
        error.record = planned
        raise error
    return planned


# ----------------------------------------------------------------------- per-case stages
def _decoded_cache(settings: Settings) -> DecodedCache | None:
    """The workspace's decoded-volume cache (``None`` when its size limit is 0)."""
    from lesiontrials.io.decoded import decoded_cache_for

    return decoded_cache_for(Workspace(settings.workspace).root,
                             max_gb=settings.decoded_cache_gb)


def insert(settings: Settings, executor: Executor | None = None, *,
           trials: Sequence[str] | None = None, export_dir: Path | None = None,
           reporter: ProgressReporter | None = None) -> StageRecord:
    """Insert donor nodules into host label maps for ``trials`` (default: every planned
    trial); resumes. ``export_dir``: also write release-layout masks and CSVs there."""
    from lesiontrials.insert import insert_trial, list_trials

    ws = Workspace(settings.workspace)
    names = list(trials) if trials is not None else list_trials(ws)
    summaries = []
    with _scope(settings, executor, reporter):
        for name in names:
            summaries.append(insert_trial(name, workspace=ws,
                                          data_root=settings.resolved_data_root,
                                          workers=settings.workers, export_dir=export_dir,
                                          decoded_cache=_decoded_cache(settings)))
    failed = sum(s["status"]["failed"] for s in summaries)
    total = sum(s["status"]["done"] + s["status"]["failed"] for s in summaries)
    return StageRecord("insert", tuple(summaries), failed, total,
                       str(ws.root / "cases" / "*" / "insert_summary.json"))


def render(settings: Settings, executor: Executor | None = None, *,
           trials: Sequence[str] | None = None, backend: str = "auto", appearance: str = "",
           feature_distance: bool = False,
           reporter: ProgressReporter | None = None) -> StageRecord:
    """Render inserted cases to CT (``ct.nii.gz``, ``render.json``, ``qc.png`` per case)
    for ``trials`` (default: every inserted trial) with ``backend``; resumes."""
    from lesiontrials.render.trial import inserted_trials, render_trials

    ws = Workspace(settings.workspace)
    names = list(trials) if trials is not None else inserted_trials(ws)
    with _scope(settings, executor, reporter):
        summaries = list(render_trials(names, workspace=ws,
                                       data_root=settings.resolved_data_root, backend=backend,
                                       workers=settings.workers, appearance=appearance,
                                       feature_distance=feature_distance,
                                       decoded_cache=_decoded_cache(settings)))
    return StageRecord("render", tuple(summaries), sum(len(s["failed"]) for s in summaries),
                       sum(s["cases"] for s in summaries),
                       str(ws.root / "cases" / "*" / "render_summary.json"))


def build_slices(settings: Settings, executor: Executor | None = None, *,
                 trials: Sequence[str] | None = None, real: bool = False,
                 reporter: ProgressReporter | None = None) -> StageRecord:
    """Build 2-D evaluation sets: one per trial with cases (``trials``; default every
    one, those without rendered cases skipped with the reason), or with ``real`` the set of
    the data root's scans that have raw CT and nodule masks."""
    from lesiontrials.slicing.sets import build_eval_set, build_real_set

    ws, root = Workspace(settings.workspace), DataRoot(settings.resolved_data_root)
    summaries: list[SetSummary] = []
    skipped: list[tuple[str, str]] = []
    with _scope(settings, executor, reporter):
        if real:
            summaries.append(build_real_set(data_root=root.require(), workspace=ws,
                                            workers=settings.workers, seed=settings.seed))
        for name in [] if real else _trials_with_cases(ws, trials):
            try:
                summaries.append(build_eval_set(
                    trial=name, workspace=ws, workers=settings.workers, seed=settings.seed,
                    data_root=root if root.root.is_dir() else None))
            except InputError as exc:
                if trials is not None:
                    raise
                skipped.append((name, str(exc)))
    return StageRecord("slices", tuple(summaries), sum(len(s.failed) for s in summaries),
                       sum(s.cases_done + s.cases_reused + len(s.failed) for s in summaries),
                       str(ws.root / "eval" / "*" / "set.json"), tuple(skipped))


def _trials_with_cases(ws: Workspace, trials: Sequence[str] | None) -> list[str]:
    cases = ws.root / "cases"
    if trials is not None:
        return list(trials)
    return sorted(p.name for p in cases.iterdir() if p.is_dir()) if cases.is_dir() else []


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


def freeze_split(settings: Settings, *, name: str | None = None) -> Split:
    """Freeze the reporting split (default ``main``) over every set and scored model."""
    from lesiontrials.analysis.workspace import DEFAULT_SPLIT
    from lesiontrials.scoring.splits import make_split, scored_models
    from lesiontrials.slicing.sets import list_sets
    from lesiontrials.training.demo import DEMO_MODEL

    ws = Workspace(settings.workspace)
    sets = list_sets(ws)
    # the demo's trained model is scored on held-out trials only (never on its training
    # cases): the split is frozen over the other models, so it keeps every trial's slices
    models = [m for m in scored_models(ws, sets) if m != DEMO_MODEL]
    return make_split(workspace=ws, name=name or DEFAULT_SPLIT, sets=sets,
                      models=models or None)


def train_demo(settings: Settings, executor: Executor | None = None, *,
               reporter: ProgressReporter | None = None) -> list[str]:
    """Train the demo's slice CNN on every design trial but the held-out ones and score it
    on the held-out trials (and real scans it has not seen) only; lines stating the
    separation (docs/training.md)."""
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


def questions(settings: Settings) -> list[str]:
    """The question track: banks of the nodule-free and two-nodule trials asked of the
    weight-free baselines and the rules reader (docs/vqa.md); one line per trial."""
    from lesiontrials.scoring.questions.track import question_track

    return question_track(Workspace(settings.workspace),
                          data_root=settings.resolved_data_root, seed=settings.seed)


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
    return run_analysis(Workspace(settings.workspace), name=name, seed=settings.seed,
                        **options)


# ----------------------------------------------------------------------- the whole job
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
        train_model: bool = True,
        reporter: ProgressReporter | None = None,
        observer: RunObserver | None = None) -> RunRecord:
    """world → index → plan (all 14 designs) → insert → render → slices → score ``models``
    (default: the baselines) → train a slice CNN and score it on held-out trials
    (``train_model``) → split → volumes → question bank → analyze, on one executor.

    ``size``: ``demo`` (demo world, demo-size designs) or ``full`` (full world, paper-size
    designs). A stage whose cases failed raises
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
    root = step("world", lambda: world(settings, ex, size=size, reporter=rep)).root
    settings = settings.model_copy(update={"data_root": root})
    step("index", lambda: build_index(settings))
    step("plan", lambda: plan(settings, size="demo" if size == "demo" else "paper"))
    step("insert", lambda: insert(settings, ex, reporter=rep), per_case=True)
    step("render", lambda: render(settings, ex, reporter=rep), per_case=True)
    step("evaluation sets", lambda: build_slices(settings, ex, reporter=rep), per_case=True)
    if (root / "raw_ct").is_dir():
        step("real evaluation set", lambda: build_slices(settings, ex, real=True,
                                                         reporter=rep), per_case=True)
    step("score", lambda: score(settings, ex, models=models, batch_size=32, reporter=rep))
    if train_model:
        step("train (a model that learns from the trials)",
             lambda: train_demo(settings, ex, reporter=rep))
    step("split", lambda: freeze_split(settings))
    step("volumes (3-D track)", lambda: volumes(settings))
    step("question bank (VQA, report task)", lambda: questions(settings))
    out.report = step("analysis", lambda: analyze(
        settings, name="demo" if size == "demo" else "main"))
    return out
