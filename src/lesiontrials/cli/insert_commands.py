"""``lesiontrials insert TRIAL|--all [--workers N] [--executor E]``: manifests → label maps."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from lesiontrials.cli.console import make_console
from lesiontrials.cli.options import (
    ExecutorOption,
    RayAddressOption,
    WorkersOption,
    executor_scope,
)
from lesiontrials.errors import stage_failures

console = make_console()


def insert(
    trial: Annotated[str | None, typer.Argument(
        help="Trial to insert (workspace/trials/TRIAL/manifest.parquet).")] = None,
    all_trials: Annotated[bool, typer.Option(
        "--all", help="Insert every planned trial of the workspace.")] = False,
    workers: WorkersOption = None,
    workspace: Annotated[Path | None, typer.Option(
        "--workspace", "-w", help="Output directory (LESIONTRIALS_WORKSPACE).")] = None,
    data_root: Annotated[Path | None, typer.Option(
        "--data-root", "-d", help="Data root (LESIONTRIALS_DATA_ROOT).")] = None,
    export_release: Annotated[Path | None, typer.Option(
        "--export-release",
        help="Also write release-layout files here: masks/{trial}/refined_seg/"
             "{case}_seg.nii.gz, masks/{trial}/nodule_seg/{case}_n{k}.nii.gz, "
             "meta/{trial}_insertions.csv.")] = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Insert donor nodules into host label maps for one trial or all; resumes."""
    from lesiontrials.insert import insert_trial, list_trials, summary_table
    from lesiontrials.io.decoded import decoded_cache_for
    from lesiontrials.paths import Workspace
    from lesiontrials.settings import load_settings

    if all_trials == (trial is not None):
        raise typer.BadParameter("give a trial name or --all (not both)")
    settings = load_settings(workspace=workspace, data_root=data_root, workers=workers)
    n_workers = settings.workers if "workers" in settings.model_fields_set else (
        os.cpu_count() or 1)
    space = Workspace(settings.workspace)
    names = list_trials(space) if all_trials else [str(trial)]
    if not names:
        console.print(f"[yellow]no planned trials[/] under {space.root / 'trials'} "
                      "(run `lesiontrials plan` first)")
        return
    failed = total = 0
    from lesiontrials.io.locks import stage_lock

    with stage_lock(space.root, "insert", on_takeover=console.print), \
            executor_scope(settings, executor, ray_address, workers=n_workers):
        for name in names:
            summary = insert_trial(name, workspace=space, data_root=settings.resolved_data_root,
                                   workers=n_workers, export_dir=export_release,
                                   decoded_cache=decoded_cache_for(
                                       space.root, max_gb=settings.decoded_cache_gb))
            console.print(summary_table(summary))
            console.print(f"outputs: {space.cases_dir(name)} (summary "
                          f"{space.cases_dir(name) / 'insert_summary.json'})"
                          + (f" · release export {export_release}" if export_release else ""))
            failed += summary["status"]["failed"]
            total += summary["status"]["done"] + summary["status"]["failed"]
    if failed:
        raise stage_failures("insert", failed=failed, total=total,
                             summaries=str(space.root / "cases" / "*" / "insert_summary.json"))
