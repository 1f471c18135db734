"""``lesiontrials run``: the main job, stage after stage, each stage resumable."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.rule import Rule

from lesiontrials.cli.options import (
    ExecutorOption,
    RayAddressOption,
    WorkspaceOption,
    executor_scope,
)
from lesiontrials.paths import Workspace

if TYPE_CHECKING:
    from lesiontrials.paths import DataRoot
    from lesiontrials.settings import Settings

console = Console()


def run(
    size: Annotated[str, typer.Option(help="demo or full (world) / paper (trials).")] = "demo",
    workspace: WorkspaceOption = None,
    seed: Annotated[int | None, typer.Option(help="Global seed.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """world → index → plan (all 14 designs) → insert → render → slices → score the baselines
    → analyze (report with the donor/host diagnostic and the council)."""
    from lesiontrials.settings import load_settings

    settings = load_settings(workspace=workspace, seed=seed, workers=workers)
    with executor_scope(settings, executor, ray_address):  # every per-case stage
        _run_stages(size=size, seed=seed, workers=workers, workspace=workspace,
                    settings=settings)


def _run_stages(*, size: str, seed: int | None, workers: int | None,
                workspace: Path | None, settings: Settings) -> None:
    """Every stage of ``run``, on whichever executor is active."""
    from lesiontrials.analysis.workspace import real_host_datasets, run_analysis
    from lesiontrials.cli import eval_commands, insert_commands, plan_commands, render_commands
    from lesiontrials.cli.world_commands import run_world_build
    from lesiontrials.index import build_index, write_index
    from lesiontrials.paths import DataRoot

    ws = Workspace(settings.workspace)
    console.print(Rule("world"))
    if settings.data_root is not None:
        root = settings.data_root
        console.print(f"using the data root {root} (LESIONTRIALS_DATA_ROOT)")
    else:
        root = run_world_build(out=None, size=size, seed=seed, workers=workers,
                               workspace=workspace)
    console.print(Rule("index"))
    index_path = write_index(build_index(DataRoot(root)), ws)
    console.print(f"[green]nodule index[/] → {index_path}")
    console.print(Rule("plan"))
    plan_commands.plan_all_designs(size="demo" if size == "demo" else "paper",
                                   workspace=settings.workspace, data_root=root, seed=seed)
    console.print(Rule("insert"))
    insert_commands.insert(trial=None, all_trials=True, workers=settings.workers,
                           workspace=settings.workspace, data_root=root, export_release=None)
    console.print(Rule("render"))
    render_commands.render(trial=None, all_trials=True, backend="auto", workers=settings.workers,
                           workspace=settings.workspace, data_root=root, appearance="")
    console.print(Rule("evaluation sets"))
    eval_commands.slices(trial=None, all_trials=True, real=False, workspace=settings.workspace,
                         data_root=root, workers=settings.workers)
    if (Path(root) / "raw_ct").is_dir():
        eval_commands.slices(trial=None, all_trials=False, real=True,
                             workspace=settings.workspace, data_root=root,
                             workers=settings.workers)
    console.print(Rule("score"))
    _score_baselines(ws, workers=settings.workers)
    console.print(Rule("volumes (3-D track)"))
    _score_volumes(ws, DataRoot(root))
    console.print(Rule("analysis"))
    report = run_analysis(ws, name="demo" if size == "demo" else "main", seed=settings.seed,
                          real_host_datasets=real_host_datasets(Path(root)))
    console.print(Rule("summary"))
    console.print(f"world {root} · index {index_path} · trials {ws.root / 'trials'} · cases "
                  f"{ws.root / 'cases'} · eval {ws.root / 'eval'} · results {ws.results_root}")
    console.print(f"[bold green]report:[/] {report}")


def _score_baselines(ws: Workspace, *, workers: int) -> None:
    """Score the weight-free baselines on every set; one line per model."""
    from lesiontrials.evaluate.contract import CONDITIONS, TASKS
    from lesiontrials.evaluate.models.registry import BASELINES
    from lesiontrials.evaluate.runner import score
    from lesiontrials.evaluate.sets import list_sets

    sets = list_sets(ws)
    for model in BASELINES:
        summary = score(model=model, workspace=ws, sets=sets, conditions=tuple(CONDITIONS),
                        tasks=tuple(TASKS), batch_size=32, workers=workers)
        scored = sum(c["to_score"] for c in summary.cells)
        console.print(f"[green]{model}[/] {summary.version}: {scored} answers scored now, "
                      f"{len(summary.cells)} cells")


def _score_volumes(ws: Workspace, root: DataRoot) -> None:
    """Volume sets of the size-detection and location designs (and the real scans), scored
    by the 3-D baselines."""
    from lesiontrials.cli.volume_commands import VOLUME_TRIALS, build_and_score

    for line in build_and_score(ws, trials=VOLUME_TRIALS, data_root=root):
        console.print(line)
