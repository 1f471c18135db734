"""``lesiontrials slices|score|split``: evaluation sets, scoring, frozen splits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lesiontrials.cli.console import make_console, model_label
from lesiontrials.cli.model_commands import (
    ModelNamesOption,
    ModelOptionsOption,
    ModelPathOption,
    ModelsFileOption,
    model_configs,
)
from lesiontrials.cli.options import (
    DataRootOption,
    ExecutorOption,
    RayAddressOption,
    WorkersOption,
    WorkspaceOption,
    executor_scope,
)

if TYPE_CHECKING:
    from lesiontrials.paths import Workspace
    from lesiontrials.pipeline import StageRecord
    from lesiontrials.scoring.runner import ScoreSummary
    from lesiontrials.slicing.sets import SetSummary

console = make_console()

SetsOption = Annotated[list[str] | None, typer.Option(
    "--set", "-s", help="Evaluation set(s) (default: every set in the workspace).")]
ConditionsOption = Annotated[list[str] | None, typer.Option(
    "--conditions", "-c", help="plain, bbox, contour, bbox_contour (default: all).")]
TasksOption = Annotated[list[str] | None, typer.Option(
    "--tasks", "-t", help="presence, lobe, size (default: all).")]


def _settings(workspace: Path | None, data_root: Path | None = None,
              workers: int | None = None):
    from lesiontrials.settings import load_settings

    return load_settings(workspace=workspace, data_root=data_root, workers=workers)


def slices(
    trial: Annotated[str | None, typer.Argument(help="Trial whose rendered cases to slice.")]
    = None,
    all_trials: Annotated[bool, typer.Option("--all", help="Every trial with cases.")] = False,
    real: Annotated[bool, typer.Option(
        "--real", help="The real set: scans of the data root with raw CT + nodule masks.")]
    = False,
    workspace: WorkspaceOption = None,
    data_root: DataRootOption = None,
    workers: WorkersOption = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Build evaluation sets: centre slices ± 1, 4 guidance conditions, 2 profiles."""
    from lesiontrials import pipeline
    from lesiontrials.cli.console import RichReporter
    from lesiontrials.io.locks import stage_lock
    from lesiontrials.paths import Workspace

    if sum([trial is not None, all_trials, real]) != 1:
        raise typer.BadParameter("give a trial name, --all or --real (one of them)")
    settings = _settings(workspace, data_root, workers)
    space = Workspace(settings.workspace)
    cases = space.root / "cases"
    if not real and trial is None and not (cases.is_dir() and any(
            p.is_dir() for p in cases.iterdir())):
        console.print(f"[yellow]no trials with cases[/] under {cases}")
        return
    with stage_lock(space.root, "slices", on_takeover=console.print), \
            executor_scope(settings, executor, ray_address) as chosen:
        record = pipeline.build_slices(settings, chosen, trials=None if all_trials or real
                                       else [str(trial)], real=real,
                                       reporter=RichReporter(console))
    print_slices(record, space)
    record.check()


def print_slices(record: StageRecord, space: Workspace) -> None:
    """Trials skipped (and why), then one row per evaluation set and the first failures."""
    for name, reason in record.skipped:
        console.print(f"[yellow]skipped {name}[/]: {reason}")
    summaries: list[SetSummary] = list(record.summaries)
    if not summaries:
        return
    table = Table(title="evaluation sets")
    for column in ("set", "positives", "negatives", "cases built", "reused", "failed",
                   "left out", "items"):
        table.add_column(column)
    for s in summaries:
        table.add_row(s.name, str(s.positives), str(s.negatives), str(s.cases_done),
                      str(s.cases_reused), str(len(s.failed)), str(len(s.left_out)),
                      str(space.eval_set_dir(s.name)))
    console.print(table)
    for s in summaries:
        for key, reason in list(s.failed.items())[:5]:
            console.print(f"[red]failed[/] {s.name}/{key}: {reason}")


def score(
    model: ModelNamesOption = None,
    sets: SetsOption = None,
    conditions: ConditionsOption = None,
    tasks: TasksOption = None,
    workspace: WorkspaceOption = None,
    model_path: ModelPathOption = None,
    option: ModelOptionsOption = None,
    models_file: ModelsFileOption = None,
    paraphrases: Annotated[str, typer.Option(
        help="auto (every paraphrase for models that read the prompt), all or canonical.")]
    = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Items per model call.")] = 16,
    workers: WorkersOption = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Score models on evaluation sets; resumes, and re-scores when the prompt or model
    version changes."""
    from lesiontrials.paths import Workspace
    from lesiontrials.slicing.sets import list_sets

    configs = model_configs(model, model_path=model_path, options=option,
                            models_file=models_file)
    if not configs:
        raise typer.BadParameter("give --model NAME (repeatable) or --models FILE")
    settings = _settings(workspace, workers=workers)
    space = Workspace(settings.workspace)
    names = list(sets) if sets else list_sets(space)
    if not names:
        console.print(f"[yellow]no evaluation sets[/] under {space.root / 'eval'} "
                      "(run `lesiontrials slices` first)")
        return
    choice = {"auto": None, "all": True, "canonical": False}
    if paraphrases not in choice:
        raise typer.BadParameter(f"--paraphrases {paraphrases!r}: use auto, all or canonical")
    from lesiontrials import pipeline
    from lesiontrials.cli.console import RichReporter

    with executor_scope(settings, executor, ray_address) as chosen:
        for config in configs:  # one at a time: each model's table as soon as it is scored
            [summary] = pipeline.score(settings, chosen, models=[config], sets=names,
                                       conditions=conditions, tasks=tasks,
                                       batch_size=batch_size, paraphrases=choice[paraphrases],
                                       reporter=RichReporter(console))
            print_score(summary, space)


def print_score(summary: ScoreSummary, space: Workspace, *, table: bool = True) -> None:
    """One scored model: its per-cell table, or (``table=False``) one line."""
    from lesiontrials.scoring.runner import read_results

    if not table:
        scored = sum(c["to_score"] for c in summary.cells)
        console.print(f"[green]{model_label(summary.model, summary.version)}[/]: {scored} "
                      f"answers scored now, {len(summary.cells)} cells")
        return
    out = Table(title=model_label(summary.model, summary.version))
    for column in ("set", "condition", "task", "items", "paraphrases", "reused", "scored now",
                   "unparsed", "accuracy"):
        out.add_column(column)
    for cell in summary.cells:
        frame = read_results(space, model=summary.model, set_name=cell["set"],
                             condition=cell["condition"], task=cell["task"], paraphrase=None)
        accuracy = f"{frame['correct'].mean():.3f}" if len(frame) else "–"
        unparsed = int((frame["parse_status"] != "ok").sum()) if len(frame) else 0
        out.add_row(cell["set"], cell["condition"], cell["task"], str(cell["items"]),
                    str(cell["paraphrases"]), str(cell["already_scored"]),
                    str(cell["to_score"]), str(unparsed), accuracy)
    console.print(out)
    console.print(f"results → {space.results_root / summary.model}")


def split_make(
    name: Annotated[str, typer.Argument(help="Split name (splits/NAME.json).")],
    sets: SetsOption = None,
    models: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Models (default: every model with results).")] = None,
    conditions: ConditionsOption = None,
    tasks: TasksOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Freeze the one-reporting-N split: uids scored by every model × condition × task."""
    from lesiontrials.paths import Workspace
    from lesiontrials.scoring.splits import make_split
    from lesiontrials.slicing.contract import CONDITIONS, TASKS
    from lesiontrials.slicing.sets import list_sets

    space = Workspace(_settings(workspace).workspace)
    split = make_split(workspace=space, name=name, sets=list(sets) if sets else list_sets(space),
                       models=models, conditions=tuple(conditions or CONDITIONS),
                       tasks=tuple(tasks or TASKS))
    counts = split.provenance["counts"]
    fold = split.provenance["calibration"]
    console.print(f"[green]split {name}[/]: N = {len(split.uids)} "
                  f"(SHA-256 {split.sha256}) over {len(split.provenance['models'])} "
                  f"model(s), {len(fold['uids'])} slices in the synthetic calibration fold "
                  f"(not reported); per set {counts} → {space.split_file(name)}")


def split_check(
    name: Annotated[str, typer.Argument(help="Split name.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Verify a split's hash and that the current results reproduce it (exit 1 if not)."""
    from lesiontrials.paths import Workspace
    from lesiontrials.scoring.splits import check_split

    result = check_split(workspace=Workspace(_settings(workspace).workspace), name=name)
    console.print(f"split {name}: hash {'ok' if result.hash_ok else '[red]MISMATCH[/]'}, "
                  f"reproducible {'yes' if result.reproducible else '[red]no[/]'} "
                  f"({len(result.missing)} missing, {len(result.added)} added)")
    if not result.ok:
        raise typer.Exit(1)


split_app = typer.Typer(no_args_is_help=True, help="Frozen evaluation splits.")
split_app.command("make")(split_make)
split_app.command("check")(split_check)
