"""Report sections of the survival head and the question bank (issue 22), read from
``survival/survival.json`` and ``questions/*.json`` when the workspace has them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from lesiontrials.analysis.question_results import (
    category_table,
    display_table,
    measurement_table,
    read_question_results,
    report_table,
)
from lesiontrials.analysis.report import markdown_table
from lesiontrials.io import read_json
from lesiontrials.paths import Workspace

Section = tuple[str, str, dict[str, pd.DataFrame]]
METRICS = (("harrell_c", "Harrell C"), ("uno_c", "Uno C"), ("auc", "mean td-AUC"),
           ("ibs", "integrated Brier (lower better)"))


def _ci(v: Mapping[str, float], *, signed: bool = False) -> str:
    fmt = "{:+.3f}" if signed else "{:.3f}"
    return f"{fmt.format(v['estimate'])} [{fmt.format(v['low'])}, {fmt.format(v['high'])}]"


def survival_section(record: Mapping[str, Any]) -> Section:
    """(title, markdown, tables); simulated outcomes are labelled so in title and text."""
    simulated = record["outcomes"] == "simulated"
    title = "Survival head" + (" (SIMULATED outcomes)" if simulated else "")
    table = pd.DataFrame([{
        "metric": label, "clinical": _ci(record["scores"]["clinical"][key]),
        "clinical + CT": _ci(record["scores"]["clinical+ct"][key]),
        "Δ (CT added)": _ci(record["delta"][key], signed=True)} for key, label in METRICS])
    lines = [
        f"{record['n_patients']} patients ({', '.join(record.get('datasets', []))}), "
        f"{record['n_events']} deaths; {record['folds']}-fold cross-validated ridge Cox "
        f"models; 95 % intervals from {record['n_boot']} patient-bootstrap resamples that "
        "refit the whole cross-validation (docs/survival.md).", ""]
    if simulated:
        truth = record["generating_model"]["true_hr_per_sd"]
        lines += ["Outcomes are SIMULATED (Weibull proportional hazards; true hazard "
                  "ratios per SD: " + ", ".join(f"{k} {v:.2f}" for k, v in truth.items())
                  + "). A gain here means the CT features carry the signal the simulation "
                  "put in them, not that they predict real survival.", ""]
    lines += [markdown_table(table), ""]
    if record.get("dropped_clinical"):
        lines.append("Clinical covariates left out: " + "; ".join(
            f"{k} ({v})" for k, v in record["dropped_clinical"].items()) + ".")
    return title, "\n".join(lines), {"survival_scores": table}


def question_bank_section(banks: Sequence[Mapping[str, Any]]) -> Section:
    """(title, markdown, tables): items per category and template of the written banks."""
    items = pd.DataFrame([{**i, "trial": b["trial"]} for b in banks for i in b["items"]])
    if items.empty:
        return "Question bank", "The question banks hold no items.", {}
    counts = (items.groupby(["category", "template_id"])
              .agg(items=("uid", "size"), cases=("case_uid", "nunique"),
                   cannot_be_determined=("answer", lambda a: int(
                       (a == "cannot be determined").sum())))
              .reset_index())
    text = "\n".join([
        f"{len(items)} items on {items['case_uid'].nunique()} cases "
        f"({', '.join(sorted(items['trial'].unique()))}); answers come from the realised "
        "truth of each case (docs/vqa.md). Model scores follow in \"Models on the question "
        "bank\" when `lesiontrials ask` has run.",
        "", markdown_table(counts)])
    return "Question bank", text, {"question_bank_counts": counts}


def question_results_section(rows: pd.DataFrame, reports: Sequence[Mapping[str, Any]],
                             *, seed: int = 0) -> Section:
    """(title, markdown, tables): accuracy by category with case-clustered CIs,
    measurement errors and report-task field scores."""
    tables: dict[str, pd.DataFrame] = {}
    lines = ["Scored on each bank's `test` split (its `dev` split is the calibration fold the "
             "majority prior is fitted on). Accuracy is over the items a model answered, with "
             "a 95 % interval that resamples cases (patient series for the repeat scans of "
             "longitudinal screening); the answered and asked columns give its "
             "coverage: "
             "baselines answer only what their output can say and otherwise \"cannot "
             "answer\" (docs/vqa.md).", ""]
    if not rows.empty:
        tables["vqa_by_category"] = category_table(rows, seed=seed)
        lines += [markdown_table(tables["vqa_by_category"]), ""]
        measured = measurement_table(rows)
        if not measured.empty:
            tables["vqa_measurement_errors"] = measured
            lines += ["Absolute error of numeric answers (units of the template: mm, mm³, "
                      "nodules):", "", markdown_table(measured), ""]
    if reports:
        tables["report_field_scores"] = report_table(reports)
        lines += ["Report generation: field precision / recall / F1 against the "
                  "ground-truth structured reports (unstated fields count against recall; "
                  "\"—\" where nothing was stated), size error over matched nodules, "
                  "Lung-RADS linearly weighted kappa (\"—\": no category stated).", "",
                  markdown_table(display_table(tables["report_field_scores"])), ""]
    return "Models on the question bank", "\n".join(lines), tables


def truth_sections(workspace: Workspace) -> list[Section]:
    """The sections whose inputs the workspace has (none when it has neither)."""
    sections = []
    banks = sorted((workspace.root / "questions").glob("*.json"))
    if banks:
        sections.append(question_bank_section([read_json(p) for p in banks]))
    rows, reports = read_question_results(workspace.root / "questions" / "results")
    if not rows.empty or reports:
        sections.append(question_results_section(rows, reports))
    survival = workspace.survival_dir / "survival.json"
    if survival.is_file():
        sections.append(survival_section(read_json(survival)))
    return sections
