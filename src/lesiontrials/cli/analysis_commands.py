"""``lesiontrials analyze|report|diagnose`` and ``lesiontrials council build|apply``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lesiontrials.cli.options import WorkspaceOption

console = Console()
council_app = typer.Typer(no_args_is_help=True, help="Build or apply the training-free council.")

NameOption = Annotated[str, typer.Option("--name", help="Report name (reports/{name}).")]


def _workspace(workspace: Path | None):
    from lesiontrials.paths import Workspace
    from lesiontrials.settings import load_settings

    settings = load_settings(workspace=workspace)
    return Workspace(settings.workspace), settings


def analyze(
    workspace: WorkspaceOption = None,
    name: NameOption = "main",
    replicates: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 1000,
    profile: Annotated[str | None, typer.Option(
        help="Report only models reading this profile (default: every model).")] = None,
    fallback: Annotated[str, typer.Option(help="Council fallback: weighted_vote or "
                                                "best_overall.")] = "weighted_vote",
) -> None:
    """Metrics, CIs, McNemar, breakdowns, diagnostic and council → reports/{name}/."""
    from lesiontrials.analysis.workspace import real_host_datasets, run_analysis

    ws, settings = _workspace(workspace)
    path = run_analysis(ws, name=name, seed=settings.seed, replicates=replicates,
                        profile=profile, fallback=fallback,
                        real_host_datasets=real_host_datasets(settings.resolved_data_root))
    console.print(f"[green]report[/] → {path}")


def report(workspace: WorkspaceOption = None, name: NameOption = "main") -> None:
    """(Re)write the report of an analysis; same as ``analyze``."""
    analyze(workspace=workspace, name=name)


def diagnose(
    workspace: WorkspaceOption = None,
    name: NameOption = "main",
    replicates: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 500,
) -> None:
    """Donor/host diagnostic: per task verdicts and real agreement → transfer.json."""
    from lesiontrials.analysis.report import analyze as analyze_results
    from lesiontrials.analysis.workspace import diagnose as run_diagnose
    from lesiontrials.analysis.workspace import load_scored
    from lesiontrials.cli.index_commands import print_frame
    from lesiontrials.io import write_json

    ws, settings = _workspace(workspace)
    scored = load_scored(ws)
    transfer = run_diagnose(scored, analyze_results(scored, seed=settings.seed, replicates=200),
                            seed=settings.seed, replicates=replicates)
    path = write_json(transfer, ws.report_dir(name) / "transfer.json")
    import pandas as pd

    table = pd.DataFrame(transfer["verdict_table"])
    if not table.empty:
        print_frame(table, "will it transfer?")
    console.print(f"[green]diagnostic[/] → {path}")


@council_app.command("build")
def council_build(
    workspace: WorkspaceOption = None,
    name: NameOption = "main",
    fallback: Annotated[str, typer.Option(help="weighted_vote or best_overall.")] =
    "weighted_vote",
) -> None:
    """Calibrate the council on synthetic results (needs transfer.json from diagnose)."""
    from lesiontrials.analysis.council import build_council
    from lesiontrials.analysis.report import analyze as analyze_results
    from lesiontrials.analysis.workspace import load_scored
    from lesiontrials.io import read_json, write_json

    ws, settings = _workspace(workspace)
    scored = load_scored(ws)
    cells = analyze_results(scored, seed=settings.seed, replicates=100).cells
    transfer = read_json(ws.report_dir(name) / "transfer.json")
    council = build_council(cells[cells["source"] == "synthetic"], transfer["tasks"],
                            fallback=fallback)
    path = write_json({"built": True, "council": council.to_dict()},
                      ws.report_dir(name) / "council.json")
    console.print(f"[green]council[/] ({len(council.rules)} rules) → {path}")


@council_app.command("apply")
def council_apply(
    workspace: WorkspaceOption = None,
    name: NameOption = "main",
    out: Annotated[Path | None, typer.Option(help="CSV of council answers.")] = None,
) -> None:
    """Apply a saved council to every scored set and compare it with each fixed model."""
    from lesiontrials.analysis.council import compare_with_models
    from lesiontrials.analysis.workspace import apply_saved_council, load_scored
    from lesiontrials.cli.index_commands import print_frame
    from lesiontrials.io import write_csv

    ws, settings = _workspace(workspace)
    scored = load_scored(ws)
    decided = apply_saved_council(ws.report_dir(name) / "council.json", scored)
    target = out or ws.report_dir(name) / "council_answers.csv"
    write_csv(decided, target)
    comparison = compare_with_models(scored, decided, seed=settings.seed)
    if not comparison.empty:
        print_frame(comparison, "council vs fixed models (paired)")
    console.print(f"[green]council answers[/] → {target}")
