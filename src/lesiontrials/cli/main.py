"""The ``lesiontrials`` command line: a thin typer layer over the library.

Heavy imports happen inside commands so ``--help`` stays instant. Errors raised on
purpose (:class:`~lesiontrials.errors.LesionTrialsError`) print one clear line and exit
with status 2 (bad input or settings), 3 (a stage finished, wrote its summary, and some
cases failed) or 4 (another run holds the workspace's lock). File-system failures the
user can fix (disk full, permission denied, a file where a folder belongs) print the
path and the fix instead of a traceback, with status 2.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from lesiontrials.cli import (
    analysis_commands,
    app_commands,
    eval_commands,
    index_commands,
    insert_commands,
    model_commands,
    nodule_commands,
    plan_commands,
    question_commands,
    render_commands,
    run_command,
    survival_commands,
    train_commands,
    volume_commands,
    world_commands,
)
from lesiontrials.cli.console import make_console
from lesiontrials.cli.options import DataRootOption, WorkspaceOption
from lesiontrials.errors import EXIT_INPUT, LesionTrialsError

app = typer.Typer(
    name="lesiontrials", no_args_is_help=True, add_completion=False,
    help="Programmable virtual lesion trials in lung CT.",
)
app.add_typer(index_commands.app, name="index")
app.add_typer(world_commands.app, name="world")
app.add_typer(nodule_commands.app, name="nodules")
app.command("plan")(plan_commands.plan)
app.command("insert")(insert_commands.insert)
app.command("render")(render_commands.render)
app.command("describe")(render_commands.describe)
app.command("slices")(eval_commands.slices)
app.command("score")(eval_commands.score)
app.add_typer(eval_commands.split_app, name="split")
app.add_typer(volume_commands.app, name="volumes")
app.command("serve-model")(model_commands.serve_model)
app.command("models")(model_commands.models)
app.command("convert-llava-med")(model_commands.convert_llava_med)
app.command("serve")(app_commands.serve)
app.command("analyze")(analysis_commands.analyze)
app.command("report")(analysis_commands.report)
app.command("diagnose")(analysis_commands.diagnose)
app.add_typer(analysis_commands.council_app, name="council")
app.command("run")(run_command.run)
app.command("survival")(survival_commands.survival)
app.command("questions")(question_commands.questions)
app.command("ask")(question_commands.ask)
app.command("train")(train_commands.train)
app.command("compare")(train_commands.compare)
app.command("improve")(train_commands.improve)
console = make_console()


def _print_version(value: bool) -> None:
    if value:
        from lesiontrials import __version__

        console.print(f"lesiontrials {__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """Programmable virtual lesion trials in lung CT."""



@app.command()
def config(workspace: WorkspaceOption = None, data_root: DataRootOption = None) -> None:
    """Print every setting's resolved value and where it came from."""
    from rich.table import Table

    from lesiontrials.settings import describe_model_variables, describe_settings, load_settings

    overrides = {"workspace": workspace, "data_root": data_root}
    settings = load_settings(**overrides)
    table = Table(title="lesiontrials settings")
    for column in ("setting", "value", "source"):
        table.add_column(column)
    for row in describe_settings(settings, overrides=overrides):
        table.add_row(row.name, "(not set)" if row.value is None else str(row.value),
                      row.source)
    console.print(table)
    models = Table(title="model and renderer variables (environment or .env)")
    for column in ("variable", "value", "source: meaning"):
        models.add_column(column)
    for row in describe_model_variables():
        models.add_row(row.name, "(not set)" if row.value is None else str(row.value),
                       row.source)
    console.print(models)


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
    from lesiontrials.measurements import profile_scan_files
    from lesiontrials.paths import strip_volume_suffix

    ids = [strip_volume_suffix(m.name) for m in masks]
    frame = profile_scan_files(label_path=labels, mask_paths=masks, nodule_ids=ids,
                               ct_path=ct_path, ct_file=ct)
    write_csv(frame, out)
    console.print(f"[green]profiled {len(frame)} nodule(s)[/] → {out}")


_OS_FIXES = {
    errno.ENOSPC: ("the disk is full", "free space on that disk or point the workspace "
                   "elsewhere, then run the same command again (finished work is kept)"),
    errno.EDQUOT: ("the disk quota is exceeded", "free space or raise the quota, then run "
                   "the same command again (finished work is kept)"),
    errno.EACCES: ("permission denied", "make the folder writable for this user or choose "
                   "another --workspace / LESIONTRIALS_WORKSPACE"),
    errno.EPERM: ("operation not permitted", "make the folder writable for this user or "
                  "choose another --workspace / LESIONTRIALS_WORKSPACE"),
    errno.EROFS: ("the file system is read-only", "choose a writable --workspace / "
                  "LESIONTRIALS_WORKSPACE"),
    errno.ENOTDIR: ("a path component is a file, not a folder", "the workspace (or a folder "
                    "in it) must be a directory: move the file away or choose another "
                    "--workspace / LESIONTRIALS_WORKSPACE"),
    errno.EEXIST: ("a file is in the way of a folder", "move the file away or choose "
                   "another --workspace / LESIONTRIALS_WORKSPACE"),
    errno.EISDIR: ("a folder is where a file should be", "remove or rename that folder"),
}


def os_error_message(exc: OSError) -> str | None:
    """A one-line ``path: problem. Fix: ...`` for file-system errors a user can fix."""
    known = _OS_FIXES.get(exc.errno or -1)
    if known is None:
        return None
    problem, fix = known
    where = exc.filename if exc.filename is not None else "(file system)"
    return f"{where}: {problem}. Fix: {fix}"


def _print_error(err: Console, message: str) -> None:
    """``error: message``, the message printed literally (no rich markup in file names)."""
    err.print(Text("error: ", style="bold red") + Text(message), highlight=False)


def main() -> None:
    """Console entry point."""
    err = make_console(stderr=True)  # plain and unwrapped when not a terminal
    try:
        app()
    except LesionTrialsError as exc:
        _print_error(err, str(exc))
        sys.exit(getattr(exc, "exit_code", EXIT_INPUT))
    except OSError as exc:
        message = os_error_message(exc)
        if message is None:
            raise
        _print_error(err, message)
        sys.exit(EXIT_INPUT)


if __name__ == "__main__":
    main()
