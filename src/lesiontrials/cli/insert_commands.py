"""``lesiontrials insert TRIAL|--all [--workers N] [--executor E]``: manifests → label maps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lesiontrials.cli.console import make_console
from lesiontrials.cli.options import (
    ExecutorOption,
    RayAddressOption,
    SlabOption,
    WorkersOption,
    executor_scope,
)

if TYPE_CHECKING:
    from lesiontrials.paths import Workspace
    from lesiontrials.pipeline import StageRecord

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
    slab_mm: SlabOption = None,
) -> None:
    """Insert donor nodules into host label maps for one trial or all; resumes."""
    from lesiontrials import pipeline
    from lesiontrials.cli.console import RichReporter
    from lesiontrials.insert import list_trials
    from lesiontrials.io.locks import stage_lock
    from lesiontrials.paths import Workspace
    from lesiontrials.settings import load_settings

    if all_trials == (trial is not None):
        raise typer.BadParameter("give a trial name or --all (not both)")
    pipeline.insert_config(slab_mm=slab_mm)  # an unusable slab is refused up front
    settings = load_settings(workspace=workspace, data_root=data_root, workers=workers)
    space = Workspace(settings.workspace)
    names = list_trials(space) if all_trials else [str(trial)]
    if not names:
        console.print(f"[yellow]no planned trials[/] under {space.root / 'trials'} "
                      "(run `lesiontrials plan` first)")
        return
    with stage_lock(space.root, "insert", on_takeover=console.print), \
            executor_scope(settings, executor, ray_address) as chosen:
        record = pipeline.insert(settings, chosen, trials=names, export_dir=export_release,
                                 slab_mm=slab_mm, reporter=RichReporter(console))
    print_insert(record, space, export_release)
    record.check()


def print_insert(record: StageRecord, space: Workspace, export_dir: Path | None) -> None:
    """Each trial's insertion table and where its outputs are."""
    from lesiontrials.insert import summary_table

    for summary in record.summaries:
        name = summary["trial"]
        console.print(summary_table(summary))
        console.print(f"outputs: {space.cases_dir(name)} (summary "
                      f"{space.cases_dir(name) / 'insert_summary.json'})"
                      + (f" · release export {export_dir}" if export_dir else ""))
