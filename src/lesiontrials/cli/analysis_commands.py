"""``lesiontrials analyze|report|diagnose`` and ``lesiontrials council build|apply``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lesiontrials.cli.console import make_console, print_headlines
from lesiontrials.cli.options import WorkspaceOption

if TYPE_CHECKING:
    from lesiontrials.paths import Workspace

console = make_console()
council_app = typer.Typer(no_args_is_help=True, help="Build or apply the training-free council.")

NameOption = Annotated[str, typer.Option("--name", help="Report name (reports/{name}).")]
SplitOption = Annotated[Path | None, typer.Option(
    "--split", help="Frozen split file to report on (default: splits/main.json).")]


def _workspace(workspace: Path | None):
    from lesiontrials.paths import Workspace
    from lesiontrials.settings import load_settings

    settings = load_settings(workspace=workspace)
    return Workspace(settings.workspace), settings


def _print_split(ws: Workspace, split: Path | None) -> None:
    from lesiontrials.analysis.workspace import resolve_split

    frozen, path = resolve_split(ws, split)
    console.print(f"split {frozen.name!r} ({path}): N = {len(frozen.uids)}, "
                  f"SHA-256 {frozen.sha256}")


def analyze(
    workspace: WorkspaceOption = None,
    name: NameOption = "main",
    split: SplitOption = None,
    replicates: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 2000,
    profile: Annotated[str | None, typer.Option(
        help="Report only models reading this profile (default: every model).")] = None,
    fallback: Annotated[str, typer.Option(help="Council fallback: weighted_vote or "
                                                "best_overall.")] = "weighted_vote",
    trial: Annotated[list[str] | None, typer.Option(
        "--trial", help="Report only this trial (repeatable; default: every trial).")] = None,
    model: Annotated[list[str] | None, typer.Option(
        "--model", help="Report only this model (repeatable; default: every model).")] = None,
    set_name: Annotated[list[str] | None, typer.Option(
        "--set", help="Report only this evaluation set (repeatable; default: every set).")
    ] = None,
) -> None:
    """Metrics, CIs, McNemar, breakdowns, diagnostic and council on the frozen split →
    reports/{name}/ (``report`` is the same command)."""
    from lesiontrials.analysis.workspace import real_host_datasets, run_analysis

    ws, settings = _workspace(workspace)
    _print_split(ws, split)
    path = run_analysis(ws, name=name, seed=settings.seed, replicates=replicates,
                        profile=profile, fallback=fallback, split_path=split,
                        real_host_datasets=real_host_datasets(settings.resolved_data_root),
                        trials=trial or (), models=model or (), sets=set_name or (),
                        workers=settings.workers)
    print_headlines(console, path)


#: ``lesiontrials report``: an alias of ``analyze`` with every option
report = analyze


def diagnose(
    workspace: WorkspaceOption = None,
    name: NameOption = "main",
    split: SplitOption = None,
    replicates: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 500,
) -> None:
    """Donor/host diagnostic on the frozen split: per task verdicts and real agreement →
    transfer.json."""
    from lesiontrials.analysis.report import analyze as analyze_results
    from lesiontrials.analysis.workspace import diagnose as run_diagnose
    from lesiontrials.analysis.workspace import load_scored, real_host_datasets, resolve_split
    from lesiontrials.cli.index_commands import print_frame
    from lesiontrials.io import write_json

    ws, settings = _workspace(workspace)
    _print_split(ws, split)
    frozen, _ = resolve_split(ws, split)
    scored = load_scored(ws, real_host_datasets=real_host_datasets(
        settings.resolved_data_root))
    fold = set(frozen.provenance.get("calibration", {}).get("uids", []))
    scored = scored[scored["slice_uid"].isin(set(frozen.uids) | fold)]  # both frozen folds
    transfer = run_diagnose(scored, analyze_results(scored, split=frozen, seed=settings.seed,
                                                    replicates=200),
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
    split: SplitOption = None,
    fallback: Annotated[str, typer.Option(help="weighted_vote or best_overall.")] =
    "weighted_vote",
) -> None:
    """Calibrate the council on the split's synthetic calibration fold and evaluate it on
    the held-out and real slices → reports/{name}/council.json."""
    from lesiontrials.analysis.workspace import council_for_split, real_host_datasets
    from lesiontrials.io import write_json

    ws, settings = _workspace(workspace)
    _print_split(ws, split)
    council = council_for_split(ws, split_path=split, seed=settings.seed, fallback=fallback,
                                real_host_datasets=real_host_datasets(
                                    settings.resolved_data_root))
    path = write_json(council.record(), ws.report_dir(name) / "council.json")
    routed = (f"{council.routed} routed cell(s)" if council.routed
              else f"no routed cell: {council.why_not_routed}")
    console.print(f"[green]council[/] ({len(council.council.rules)} rules, {routed}) → {path}")


@council_app.command("apply")
def council_apply(
    workspace: WorkspaceOption = None,
    name: NameOption = "main",
    out: Annotated[Path | None, typer.Option(help="CSV of council answers.")] = None,
) -> None:
    """Apply a saved council to every scored set and compare it with each fixed model."""
    from lesiontrials.analysis.council import compare_with_models
    from lesiontrials.analysis.workspace import (
        apply_saved_council,
        load_scored,
        real_host_datasets,
    )
    from lesiontrials.cli.index_commands import print_frame
    from lesiontrials.io import write_csv

    ws, settings = _workspace(workspace)
    scored = load_scored(ws, real_host_datasets=real_host_datasets(
        settings.resolved_data_root))
    decided = apply_saved_council(ws.report_dir(name) / "council.json", scored)
    target = out or ws.report_dir(name) / "council_answers.csv"
    write_csv(decided, target)
    comparison = compare_with_models(scored, decided, seed=settings.seed)
    if not comparison.empty:
        print_frame(comparison, "council vs fixed models (paired; every scored slice, "
                                "calibration fold included: in-sample where it was built)")
    console.print(f"[green]council answers[/] → {target}")
