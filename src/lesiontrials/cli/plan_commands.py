"""``lesiontrials plan``: specs and designs → manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lesiontrials.cli.console import make_console
from lesiontrials.cli.options import DataRootOption, PlanSize, WorkspaceOption

if TYPE_CHECKING:
    from lesiontrials.pipeline import PlanRecord
    from lesiontrials.trials import TrialPlan

console = make_console()


def plan_all_designs(*, size: str, workspace: Path | None = None, data_root: Path | None = None,
                     seed: int | None = None, strict: bool = False) -> list[TrialPlan]:
    """Plan every feasible design (1-14) and write its manifest
    (:func:`lesiontrials.pipeline.plan`), then print the plans and the infeasible designs
    (with the constraint to relax, from their refusal)."""
    from lesiontrials import pipeline
    from lesiontrials.settings import load_settings

    settings = load_settings(workspace=workspace, data_root=data_root, seed=seed)
    try:
        record = pipeline.plan(settings, size=size, strict=strict)
    except pipeline.InfeasibleDesignsError as exc:
        print_plans(exc.record, settings.workspace / "trials")  # why, design by design
        raise
    print_plans(record, settings.workspace / "trials")
    return list(record.plans)


def print_plans(record: PlanRecord, where: Path) -> None:
    """The planned trials' table and the infeasible designs' table."""
    if record.plans:
        _summary(list(record.plans), where)
    if record.infeasible:
        _infeasible_table(list(record.infeasible))


def _infeasible_table(infeasible: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title=f"{len(infeasible)} infeasible design(s): not planned")
    for column in ("#", "design", "why", "constraint to relax"):
        table.add_column(column, overflow="fold")
    for item in infeasible:
        table.add_row(str(item["design_number"]), item["design"], item["reason"], item["fix"])
    console.print(table)


def _context(workspace: Path | None, data_root: Path | None, seed: int | None):
    from lesiontrials import pipeline
    from lesiontrials.paths import Workspace
    from lesiontrials.settings import load_settings

    settings = load_settings(workspace=workspace, data_root=data_root, seed=seed)
    return pipeline.plan_context(settings), settings, Workspace(settings.workspace)


def _summary(plans: list[TrialPlan], where: Path) -> None:
    from rich.table import Table

    table = Table(title=f"trials → {where}")
    for column in ("#", "trial", "cases", "nodules", "free", "strata", "prevalence (target → "
                   "achieved)", "hosts", "donors (reused)", "percent fallbacks",
                   "warnings"):
        table.add_column(column, overflow="fold")
    for plan in plans:
        audit, info = plan.info["audit"], plan.info
        target = audit["prevalence_target"]
        achieved = audit["prevalence_achieved"]
        prevalence = (f"{target:.3g}" if target is not None else "–") + " → " + (
            f"{achieved:.3g}" if achieved is not None else "–")
        warnings = sum(len(c.get("warnings", [])) for c in info.get("cohorts", []))
        table.add_row(str(info.get("design_number") or ""), plan.name, str(audit["cases"]),
                      str(audit["nodules"]), str(audit["nodule_free_cases"]),
                      str(len(audit["by_stratum"])), prevalence, str(audit["hosts_distinct"]),
                      f"{audit['donors_distinct']} ({audit['donors_reused']})",
                      _fallbacks(audit.get("percent_fallbacks", {})),
                      str(warnings + len(info.get("notes", []))))
    console.print(table)
    for plan in plans:  # what the cross design can separate (simulated power)
        if "cross_design" in plan.info:
            console.print(f"{plan.name}: {plan.info['cross_design']['statement']}")


def _fallbacks(counts: dict[str, int]) -> str:
    """Out-of-range donor percents replaced at insertion (``percent_fallback``), per dataset."""
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "0"


def plan(
    spec: Annotated[Path | None, typer.Argument(help="A YAML/JSON trial spec.")] = None,
    design: Annotated[str | None, typer.Option(help="Design number (1-14) or name.")] = None,
    size: Annotated[PlanSize, typer.Option(
        case_sensitive=False, help="Designs' case counts: demo or paper (published).")
    ] = PlanSize.demo,
    all_designs: Annotated[bool, typer.Option(
        "--all", help="Plan every feasible design; list the infeasible ones.")] = False,
    strict: Annotated[bool, typer.Option(
        help="With --all: fail when any design is infeasible.")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed (designs).")] = None,
    schema: Annotated[bool, typer.Option(help="Print the spec's JSON schema.")] = False,
    explain: Annotated[bool, typer.Option(
        help="With a spec: print what it will do (fields set, template values, expected "
             "counts, strata, every warning) and write nothing.")] = False,
    workspace: WorkspaceOption = None,
    data_root: DataRootOption = None,
) -> None:
    """Plan a trial from a spec, one design, or all designs; write manifests + plan.json."""
    from lesiontrials.trials import load_spec, plan_design, plan_spec, spec_json_schema, write_plan

    if schema:
        console.print_json(json.dumps(spec_json_schema()))
        return
    if all_designs:
        plan_all_designs(size=PlanSize(size).value, workspace=workspace, data_root=data_root,
                         seed=seed, strict=strict)
        return
    if (spec is None) == (design is None):
        raise typer.BadParameter("give a spec file, --design, or --all")
    ctx, settings, ws = _context(workspace, data_root, seed)
    if spec is not None:
        loaded = load_spec(spec)
        result = plan_spec(ctx, loaded)
        if explain:
            from lesiontrials.trials.explain import explain_plan

            for line in explain_plan(loaded, result):
                console.print(line, markup=False, highlight=False, soft_wrap=True)
            return
    elif explain:
        raise typer.BadParameter("--explain needs a spec file")
    else:
        result = plan_design(ctx, str(design), size=PlanSize(size).value, seed=settings.seed)
    write_plan(result, ws)
    _summary([result], ws.trial_dir(result.name))
