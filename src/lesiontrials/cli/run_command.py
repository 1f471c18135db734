"""``lesiontrials run``: the main job, stage after stage, each stage resumable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

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
    ExecutorOption,
    GridOption,
    RayAddressOption,
    SlabOption,
    WorkersOption,
    WorkspaceOption,
    WorldSize,
    executor_scope,
)
from lesiontrials.errors import StageFailedError
from lesiontrials.paths import Workspace

if TYPE_CHECKING:
    from lesiontrials import pipeline

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
    design: Annotated[list[str] | None, typer.Option(
        "--design", help="Plan only this design (number 1-14 or name; repeatable) instead "
        "of all 14: a smaller job. Trials already planned in the workspace stay.")] = None,
    grid: GridOption = None,
    slab_mm: SlabOption = None,
) -> None:
    """world → index → plan (all 14 designs) → insert → render → slices → score the models
    (the baselines unless --model / --models) → train a slice CNN and score it on held-out
    trials → volumes → question bank → analyze (report with the donor/host diagnostic and
    the council)."""
    from lesiontrials import pipeline
    from lesiontrials.cli.console import RichReporter
    from lesiontrials.io.locks import stage_lock
    from lesiontrials.scoring.models.registry import BASELINES
    from lesiontrials.settings import load_settings

    configs = model_configs(model, model_path=model_path, options=option,
                            models_file=models_file, default=BASELINES)  # checked up front
    if design:  # an unknown design is refused before any stage runs
        from lesiontrials.trials import resolve_design

        for name in design:
            resolve_design(name)
    pipeline.insert_config(slab_mm=slab_mm)  # an unusable slab is refused before any stage
    settings = load_settings(workspace=workspace, seed=seed, workers=workers)
    with stage_lock(settings.workspace, "run", on_takeover=_warn), \
            executor_scope(settings, executor, ray_address) as chosen:  # every stage
        record = pipeline.run(settings, chosen, size=WorldSize(size).value, models=configs,
                              keep_going=keep_going, train_model=train_model,
                              designs=design, grid=None if grid is None else grid.value,
                              slab_mm=slab_mm, reporter=RichReporter(console),
                              observer=_Printer(Workspace(settings.workspace)))
    _print_summary(Workspace(settings.workspace), record)
    if record.failed_stages:
        raise StageFailedError(
            f"run finished, but cases failed in: {', '.join(record.failed_stages)} (their "
            "summaries are written). Fix: read the reasons printed for those stages, address "
            "them and run again (finished cases are kept and skipped)")


def _warn(message: str) -> None:
    console.print(f"[yellow]{message}[/]")


class _Printer:
    """Prints each stage of :func:`lesiontrials.pipeline.run` as its own command does."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def started(self, name: str) -> None:
        stage(console, name)

    def went_on(self, name: str, error: StageFailedError) -> None:
        console.print(f"{error} (going on: --keep-going)", style="red", highlight=False,
                      markup=False)

    def finished(self, name: str, record: Any) -> None:
        from lesiontrials.cli import eval_commands, plan_commands, render_commands, world_commands
        from lesiontrials.cli.insert_commands import print_insert

        ws = self.ws
        if name == "world":
            world_commands.print_world(record)
        elif name == "index":
            console.print(f"[green]nodule index[/] → {record}")
        elif name == "plan":
            plan_commands.print_plans(record, ws.root / "trials")
        elif name == "insert":
            print_insert(record, ws, None)
        elif name == "render":
            render_commands.print_render(record, ws)
        elif name in ("evaluation sets", "real evaluation set"):
            eval_commands.print_slices(record, ws)
        elif name == "score":
            for summary in record:
                eval_commands.print_score(summary, ws, table=False)
        elif name == "split":
            fold = record.provenance["calibration"]
            console.print(f"[green]split {record.name}[/]: N = {len(record.uids)} reported "
                          f"slices, {len(fold['uids'])} in the synthetic calibration fold; "
                          f"SHA-256 {record.sha256} → {ws.split_file(record.name)}")
        elif name.startswith(("volumes", "train", "question bank")):
            for line in record:
                console.print(line)


def _print_summary(ws: Workspace, record: pipeline.RunRecord) -> None:
    """Where everything is, the headline accuracies, and what to do next."""
    stage(console, "summary")
    root = record.records["world"].root
    console.print(f"world {root} · index {record.records['index']} · trials "
                  f"{ws.root / 'trials'} · cases {ws.root / 'cases'} · eval {ws.root / 'eval'} · "
                  f"results {ws.results_root}")
    print_headlines(console, record.report)
    console.print(f"next: open {record.report} in a browser; `lesiontrials serve --workspace "
                  f"{ws.root}` to browse nodules and cases; `lesiontrials analyze "
                  f"--workspace {ws.root} --trial NAME` for one trial's report",
                  markup=False, highlight=False)
