"""The ``lesiontrials`` command line: a thin typer layer over the library.

Heavy imports happen inside commands so ``--help`` stays instant. Errors raised on
purpose (:class:`~lesiontrials.errors.LesionTrialsError`) print one clear line and exit
with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lesiontrials.cli import (
    analysis_commands,
    app_commands,
    eval_commands,
    index_commands,
    insert_commands,
    model_commands,
    plan_commands,
    render_commands,
    run_command,
    train_commands,
    world_commands,
)
from lesiontrials.cli.options import DataRootOption, WorkspaceOption
from lesiontrials.errors import LesionTrialsError

app = typer.Typer(
    name="lesiontrials", no_args_is_help=True, add_completion=False,
    help="Programmable virtual lesion trials in lung CT.",
)
app.add_typer(index_commands.app, name="index")
app.add_typer(world_commands.app, name="world")
app.command("plan")(plan_commands.plan)
app.command("insert")(insert_commands.insert)
app.command("render")(render_commands.render)
app.command("describe")(render_commands.describe)
app.command("slices")(eval_commands.slices)
app.command("score")(eval_commands.score)
app.add_typer(eval_commands.split_app, name="split")
app.command("serve-model")(model_commands.serve_model)
app.command("models")(model_commands.models)
app.command("convert-llava-med")(model_commands.convert_llava_med)
app.command("serve")(app_commands.serve)
app.command("analyze")(analysis_commands.analyze)
app.command("report")(analysis_commands.report)
app.command("diagnose")(analysis_commands.diagnose)
app.add_typer(analysis_commands.council_app, name="council")
app.command("run")(run_command.run)
app.command("train")(train_commands.train)
app.command("compare")(train_commands.compare)
console = Console()



@app.command()
def config(workspace: WorkspaceOption = None, data_root: DataRootOption = None) -> None:
    """Print every setting's resolved value and where it came from."""
    from rich.table import Table

    from lesiontrials.settings import describe_settings, load_settings

    overrides = {"workspace": workspace, "data_root": data_root}
    settings = load_settings(**overrides)
    table = Table(title="lesiontrials settings")
    for column in ("setting", "value", "source"):
        table.add_column(column)
    for row in describe_settings(settings, overrides=overrides):
        table.add_row(row.name, str(row.value), row.source)
    console.print(table)


@app.command()
def profile(
    labels: Annotated[Path, typer.Argument(help="Host label map (NIfTI/NRRD).")],
    masks: Annotated[list[Path], typer.Argument(help="One mask file per nodule.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV to write.")],
    ct: Annotated[Path | None, typer.Option(help="Optional CT on the same grid.")] = None,
    ct_path: Annotated[str, typer.Option(help="ct_path value (relative to raw_ct/).")] = "",
) -> None:
    """Compute the 53 profile columns for the nodules of one scan."""
    from lesiontrials.io import write_csv
    from lesiontrials.paths import strip_volume_suffix
    from lesiontrials.profiles import profile_scan_files

    ids = [strip_volume_suffix(m.name) for m in masks]
    frame = profile_scan_files(label_path=labels, mask_paths=masks, nodule_ids=ids,
                               ct_path=ct_path, ct_file=ct)
    write_csv(frame, out)
    console.print(f"[green]profiled {len(frame)} nodule(s)[/] → {out}")


def main() -> None:
    """Console entry point."""
    try:
        app()
    except LesionTrialsError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
