"""``lesiontrials run``: the main job, stage after stage, each stage resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.rule import Rule

console = Console()


def run(
    size: Annotated[str, typer.Option(help="demo or full (world) / paper (trials).")] = "demo",
    workspace: Annotated[Path | None, typer.Option("--workspace", "-w")] = None,
    seed: Annotated[int | None, typer.Option(help="Global seed.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
) -> None:
    """world → index → plan (all designs) → insert → render → … (later stages as they land)."""
    from lesiontrials.cli import insert_commands, plan_commands, render_commands
    from lesiontrials.cli.world_commands import run_world_build
    from lesiontrials.index import build_index, write_index
    from lesiontrials.paths import DataRoot, Workspace
    from lesiontrials.settings import load_settings

    settings = load_settings(workspace=workspace, seed=seed, workers=workers)
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
    console.print(Rule("summary"))
    console.print(
        "[yellow]not built yet:[/] evaluation sets, scoring and the report "
        "(issues 7-10); this run stops after rendering."
    )
    console.print(f"outputs: world {root} · index {index_path} · trials {ws.root / 'trials'} · "
                  f"cases {ws.root / 'cases'}")
