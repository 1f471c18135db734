"""``lesiontrials render`` and ``lesiontrials describe``: plain functions that main.py registers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lesiontrials.cli.console import make_console
from lesiontrials.cli.options import (
    BackendName,
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

console = make_console()


def render(
    trial: Annotated[str | None, typer.Argument(help="Trial name (omit with --all).")] = None,
    all_trials: Annotated[bool, typer.Option("--all", help="Render every inserted trial.")] = False,
    backend: Annotated[BackendName, typer.Option(
        case_sensitive=False,
        help="auto (real hosts: host-ct, phantoms: analytic), analytic, physics, host-ct, "
             "maisi.")] = BackendName.auto,
    workers: WorkersOption = None,
    workspace: WorkspaceOption = None,
    data_root: DataRootOption = None,
    appearance: Annotated[str, typer.Option(
        help='Render every lesion with this look, e.g. "6 mm ground-glass nodule".')] = "",
    feature_distance: Annotated[bool, typer.Option(
        "--feature-distance", help="Also compute the deep-feature distance to the data "
        "root's real CTs (encoder extra; writes feature_distance.json).")] = False,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Render inserted cases to CT (ct.nii.gz, render.json, qc.png per case); resumable."""
    from lesiontrials.errors import ConfigError
    from lesiontrials.paths import Workspace
    from lesiontrials.render.backends.registry import BACKEND_NAMES
    from lesiontrials.render.trial import inserted_trials
    from lesiontrials.settings import load_settings

    if backend not in BACKEND_NAMES:
        raise ConfigError(f"unknown backend {backend!r}; use one of {', '.join(BACKEND_NAMES)}")
    backend = BackendName(backend)
    settings = load_settings(workspace=workspace, data_root=data_root, workers=workers)
    space = Workspace(settings.workspace)
    inserted = inserted_trials(space)
    trials = inserted if all_trials else ([trial] if trial else [])
    if trial and not all_trials:
        _require_inserted(space, trial, known=inserted)
    if not trials:
        raise ConfigError("name a trial or pass --all (no inserted trials found)"
                          if all_trials or not trial else "no trial given")
    from lesiontrials.lesion_text import stated_diameter_mm

    size = stated_diameter_mm(appearance)  # geometry is already inserted: warn, record
    if size is not None:
        console.print(f"[yellow]warning[/]: --appearance states {size:g} mm, but sizes are "
                      "decided at planning and the nodules are already inserted; the look "
                      "applies, the size does not (put it in the trial spec's appearance)")
    from lesiontrials import pipeline
    from lesiontrials.cli.console import RichReporter
    from lesiontrials.io.locks import stage_lock

    with stage_lock(space.root, "render", on_takeover=console.print), \
            executor_scope(settings, executor, ray_address) as chosen:
        record = pipeline.render(settings, chosen, trials=trials, backend=backend.value,
                                 appearance=appearance, feature_distance=feature_distance,
                                 reporter=RichReporter(console))
    print_render(record, space)
    record.check()


def print_render(record: StageRecord, space: Workspace) -> None:
    """One trial's render table, or one row per trial; where the outputs are."""
    summaries = list(record.summaries)
    if len(summaries) == 1:
        _print_summary(summaries[0])
    else:  # one table for the stage, one row per trial
        summary_table(summaries)
    console.print(f"outputs: {space.root / 'cases'}/TRIAL/CASE/ (ct.nii.gz, render.json, "
                  "qc.png per case)", markup=False, highlight=False)


def _require_inserted(space: Workspace, trial: str, *, known: list[str]) -> None:
    """Refuse a trial name with no inserted cases before anything is created."""
    from lesiontrials.errors import InputError

    space.cases_dir(trial)  # refuses '..', '/' and the like
    if trial not in known:
        raise InputError(f"trial {trial!r} has no inserted cases", path=space.root / "cases",
                         fix=f"run `lesiontrials insert {trial}` first, or use one of "
                             f"{known or '(none inserted yet)'}")


def summary_table(summaries: list[dict]) -> None:
    """Every trial's render summary as one row (fidelity means, failures counted)."""
    table = Table(title=f"render · {len(summaries)} trials")
    fidelity = sorted({k for s in summaries for k in s["fidelity"]})
    distance = any(s.get("feature_distance") for s in summaries)
    for column in ("trial", "cases / rendered", "this run", "backends", "failed", *fidelity,
                   *(["feature_distance"] if distance else [])):
        table.add_column(column)
    for summary in summaries:
        table.add_row(summary["trial"], f"{summary['cases']} / {summary['rendered']}",
                      plain_value(summary["this_run"]), plain_value(summary["backends"]),
                      str(len(summary["failed"])),
                      *[plain_value(summary["fidelity"].get(k)) for k in fidelity],
                      *([plain_value(summary.get("feature_distance"))] if distance else []))
    console.print(table)
    for summary in summaries:
        for failure in summary["failed"][:10]:
            console.print(f"[red]failed[/] {summary['trial']}/{failure['case_uid']}: "
                          f"{failure['reason']}")


def plain_value(value: object) -> str:
    """A table cell: mappings as ``key: value`` pairs, floats to 4 significant digits, a
    missing value as "–" (never a Python ``dict`` or ``None``)."""
    if value is None:
        return "–"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {plain_value(v)}" for k, v in value.items()) or "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _print_summary(summary: dict) -> None:
    table = Table(title=f"render · {summary['trial']}")
    table.add_column("item")
    table.add_column("value")
    table.add_row("cases / rendered", f"{summary['cases']} / {summary['rendered']}")
    table.add_row("this run", plain_value(summary["this_run"]))
    table.add_row("backends", plain_value(summary["backends"]))
    for key, value in summary["fidelity"].items():
        table.add_row(key, plain_value(value))
    for key, value in summary.get("feature_distance", {}).items():
        table.add_row(f"feature_distance.{key}", plain_value(value))
    console.print(table)
    for failure in summary["failed"][:10]:
        console.print(f"[red]failed[/] {failure['case_uid']}: {failure['reason']}")


def describe(
    text: Annotated[str, typer.Argument(help='A lesion description, e.g. "pure GGO".')],
    rules_only: Annotated[bool, typer.Option(
        "--rules-only", help="Do not use the MiniLM synonym encoder.")] = False,
) -> None:
    """Show how a free-text lesion description is parsed into descriptors."""
    from lesiontrials.lesion_text import (
        LesionDescriptors,
        default_resolver,
        parse_description,
    )
    from lesiontrials.lesion_text import lesion_sentence as sentence

    resolver = None if rules_only else default_resolver()
    parsed = parse_description(text, resolver=resolver)
    table = Table(title=f"parse of {text!r}")
    for column in ("phrase", "concept", "by", "score", "negated"):
        table.add_column(column)
    for match in parsed.matches:
        table.add_row(match.phrase, match.concept, match.source, f"{match.score:.2f}",
                      "yes" if match.negated else "")
    console.print(table)
    values = parsed.overrides.set_fields()
    console.print("descriptors: " + (", ".join(f"{k}={getattr(v, 'value', v)}"
                                               for k, v in values.items()) or "(none)"))
    if parsed.unmatched:
        console.print(f"[yellow]not understood:[/] {' '.join(parsed.unmatched)}")
    console.print("as rendered: " + sentence(parsed.overrides.apply(LesionDescriptors())))
    console.print(f"synonyms: {'MiniLM encoder' if resolver else 'rules only'}")
