"""``lesiontrials run``: the main job, stage after stage, each stage resumable."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lesiontrials.cli.console import make_console, print_headlines, stage
from lesiontrials.cli.model_commands import (
    ModelNamesOption,
    ModelOptionsOption,
    ModelPathOption,
    ModelsFileOption,
    model_configs,
)
from lesiontrials.cli.options import (
    BackendName,
    ExecutorOption,
    RayAddressOption,
    WorkersOption,
    WorkspaceOption,
    WorldSize,
    executor_scope,
)
from lesiontrials.errors import StageFailedError
from lesiontrials.paths import Workspace

if TYPE_CHECKING:
    from lesiontrials.evaluate.models.config import ModelConfig
    from lesiontrials.paths import DataRoot
    from lesiontrials.settings import Settings

console = make_console()


def run(
    size: Annotated[WorldSize, typer.Option(
        case_sensitive=False, help="demo: demo world, demo-size designs; full: full world, "
                                   "paper-size designs.")] = WorldSize.demo,
    workspace: WorkspaceOption = None,
    seed: Annotated[int | None, typer.Option(help="Global seed.")] = None,
    workers: WorkersOption = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
    model: ModelNamesOption = None,
    model_path: ModelPathOption = None,
    option: ModelOptionsOption = None,
    models_file: ModelsFileOption = None,
    keep_going: Annotated[bool, typer.Option(
        "--keep-going", help="Go on after a stage whose cases failed (its summary is "
        "written); exit with status 3 at the end. Without it, run stops at that stage.")]
    = False,
    train_model: Annotated[bool, typer.Option(
        "--train-model/--no-train-model", help="Train a slice CNN on the design trials "
        "(all but the held-out ones) and score it on the held-out trials only.")] = True,
) -> None:
    """world → index → plan (all 14 designs) → insert → render → slices → score the models
    (the baselines unless --model / --models) → train a slice CNN and score it on held-out
    trials → analyze (report with the donor/host diagnostic and the council)."""
    from lesiontrials.evaluate.models.registry import BASELINES
    from lesiontrials.io.locks import stage_lock
    from lesiontrials.settings import load_settings

    configs = model_configs(model, model_path=model_path, options=option,
                            models_file=models_file, default=BASELINES)  # checked up front
    settings = load_settings(workspace=workspace, seed=seed, workers=workers)
    failures: list[str] = []
    with stage_lock(settings.workspace, "run", on_takeover=_warn), \
            executor_scope(settings, executor, ray_address):  # every per-case stage
        _run_stages(size=WorldSize(size).value, seed=seed, workers=workers, workspace=workspace,
                    settings=settings, models=configs, train_model=train_model,
                    failures=failures if keep_going else None)
    if failures:
        raise StageFailedError(
            f"run finished, but cases failed in: {', '.join(failures)} (their summaries are "
            "written). Fix: read the reasons printed for those stages, address them and run "
            "again (finished cases are kept and skipped)")


def _warn(message: str) -> None:
    console.print(f"[yellow]{message}[/]")


@contextlib.contextmanager
def _stage(name: str, failures: list[str] | None) -> Iterator[None]:
    """Print the stage rule; with ``failures`` (``--keep-going``), record a stage whose
    cases failed and go on instead of stopping."""
    stage(console, name)
    try:
        yield
    except StageFailedError as exc:
        if failures is None:
            raise
        console.print(f"{exc} (going on: --keep-going)", style="red", highlight=False,
                      markup=False)
        failures.append(name)


def _run_stages(*, size: str, seed: int | None, workers: int | None,
                workspace: Path | None, settings: Settings, models: list[ModelConfig],
                failures: list[str] | None, train_model: bool = True) -> None:
    """Every stage of ``run``, on whichever executor is active."""
    from lesiontrials.analysis.workspace import real_host_datasets, run_analysis
    from lesiontrials.cli import eval_commands, insert_commands, plan_commands, render_commands
    from lesiontrials.cli.world_commands import run_world_build
    from lesiontrials.index import build_index, write_index
    from lesiontrials.paths import DataRoot

    ws = Workspace(settings.workspace)
    stage(console, "world")
    if settings.data_root is not None:
        root = settings.data_root
        console.print(f"using the data root {root} (LESIONTRIALS_DATA_ROOT)")
    else:  # a world with failed hosts is incomplete: later stages cannot use it
        root = run_world_build(out=None, size=size, seed=seed, workers=workers,
                               workspace=workspace)
    stage(console, "index")
    index_path = write_index(build_index(DataRoot(root)), ws)
    console.print(f"[green]nodule index[/] → {index_path}")
    stage(console, "plan")
    plan_commands.plan_all_designs(size="demo" if size == "demo" else "paper",
                                   workspace=settings.workspace, data_root=root, seed=seed)
    with _stage("insert", failures):
        insert_commands.insert(trial=None, all_trials=True, workers=settings.workers,
                               workspace=settings.workspace, data_root=root,
                               export_release=None)
    with _stage("render", failures):
        render_commands.render(trial=None, all_trials=True, backend=BackendName.auto,
                               workers=settings.workers, workspace=settings.workspace,
                               data_root=root, appearance="")
    with _stage("evaluation sets", failures):
        eval_commands.slices(trial=None, all_trials=True, real=False,
                             workspace=settings.workspace, data_root=root,
                             workers=settings.workers)
    if (Path(root) / "raw_ct").is_dir():
        with _stage("real evaluation set", failures):
            eval_commands.slices(trial=None, all_trials=False, real=True,
                                 workspace=settings.workspace, data_root=root,
                                 workers=settings.workers)
    stage(console, "score")
    _score_models(ws, models, workers=settings.workers)
    if train_model:
        stage(console, "train (a model that learns from the trials)")
        _train_and_score(ws, workers=settings.workers)
    stage(console, "split")
    _freeze_split(ws)
    stage(console, "volumes (3-D track)")
    _score_volumes(ws, DataRoot(root))
    stage(console, "question bank (VQA, report task)")
    _question_track(ws, Path(root), seed=settings.seed)
    stage(console, "analysis")
    report = run_analysis(ws, name="demo" if size == "demo" else "main", seed=settings.seed,
                          real_host_datasets=real_host_datasets(Path(root)))
    stage(console, "summary")
    console.print(f"world {root} · index {index_path} · trials {ws.root / 'trials'} · cases "
                  f"{ws.root / 'cases'} · eval {ws.root / 'eval'} · results {ws.results_root}")
    print_headlines(console, report)
    console.print(f"next: open {report} in a browser; `lesiontrials serve --workspace "
                  f"{ws.root}` to browse nodules and cases; `lesiontrials analyze "
                  f"--workspace {ws.root} --trial NAME` for one trial's report",
                  markup=False, highlight=False)


def _freeze_split(ws: Workspace) -> None:
    """Freeze ``splits/main.json`` over every set and scored model (what analyze reads)."""
    from lesiontrials.analysis.workspace import DEFAULT_SPLIT
    from lesiontrials.evaluate.sets import list_sets
    from lesiontrials.evaluate.splits import make_split, scored_models
    from lesiontrials.training.demo import DEMO_MODEL

    sets = list_sets(ws)
    # the trained model is scored on held-out trials only (never on its training cases):
    # the split is frozen over the other models, so it keeps every trial's slices and the
    # trained model is a "not scored" row elsewhere
    models = [m for m in scored_models(ws, sets) if m != DEMO_MODEL]
    split = make_split(workspace=ws, name=DEFAULT_SPLIT, sets=sets, models=models or None)
    fold = split.provenance["calibration"]
    console.print(f"[green]split {split.name}[/]: N = {len(split.uids)} reported slices, "
                  f"{len(fold['uids'])} in the synthetic calibration fold; SHA-256 "
                  f"{split.sha256} → {ws.split_file(split.name)}")


def _score_models(ws: Workspace, models: list[ModelConfig], *, workers: int) -> None:
    """Score every model on every set; one line per model."""
    from lesiontrials.cli.eval_commands import score_model
    from lesiontrials.evaluate.sets import list_sets

    sets = list_sets(ws)
    for config in models:
        score_model(config, ws, sets, conditions=None, tasks=None, batch_size=32,
                    workers=workers, table=False)


def _question_track(ws: Workspace, root: Path, *, seed: int) -> None:
    """Question banks of the nodule-free and two-nodule designs, asked of the weight-free
    baselines and the rules reader (docs/vqa.md)."""
    from lesiontrials.cli.question_commands import question_track

    for line in question_track(ws, data_root=root, seed=seed):
        console.print(line)


def _train_and_score(ws: Workspace, *, workers: int) -> None:
    """Train the demo CNN on every design trial but the held-out ones, then score it on the
    held-out trials (and real scans it has not seen), stating the separation."""
    import time

    from lesiontrials.cli.eval_commands import score_model
    from lesiontrials.evaluate.models.config import ModelConfig
    from lesiontrials.evaluate.sets import list_sets
    from lesiontrials.training.demo import (
        DEMO_MODEL,
        DEMO_RECIPE,
        evaluable_sets,
        real_set_names,
        split_sets,
    )
    from lesiontrials.training.loop import train

    sets = list_sets(ws)
    real = real_set_names(ws, sets)
    train_sets, held_out = split_sets(sets, real_sets=real)
    if not train_sets or not held_out:
        console.print(f"[yellow]no model trained[/]: training sets {train_sets}, held-out "
                      f"sets {held_out} (both are needed)")
        return
    start = time.perf_counter()
    outcome = train(workspace=ws, name=DEMO_MODEL, sets=train_sets, recipe=DEMO_RECIPE)
    scored, skipped = evaluable_sets(ws, outcome.identity, [*held_out, *real])
    console.print(f"[green]{DEMO_MODEL}[/] trained in {time.perf_counter() - start:.0f} s on "
                  f"{outcome.identity['n_examples']} slices of {outcome.identity['n_cases']} "
                  f"cases from {', '.join(train_sets)}. Separation: it is scored only on "
                  f"{', '.join(scored)} (no case of these was trained on)"
                  + "".join(f"; not on {k}: {v}" for k, v in skipped.items()),
                  highlight=False)
    config = ModelConfig(name=DEMO_MODEL, adapter="trained", path=str(outcome.path))
    score_model(config, ws, scored, conditions=None, tasks=None, batch_size=64,
                workers=workers, table=False)


def _score_volumes(ws: Workspace, root: DataRoot) -> None:
    """Volume sets of the size-detection and location designs (and the real scans), scored
    by the 3-D baselines."""
    from lesiontrials.cli.volume_commands import VOLUME_TRIALS, build_and_score

    for line in build_and_score(ws, trials=VOLUME_TRIALS, data_root=root):
        console.print(line)
