"""Model results on the question bank by category, and report-task field scores.

Reads ``questions/results/{model}/{trial}.parquet`` (:mod:`lesiontrials.scoring.questions.
ask`) and ``{trial}.reports.json``. Accuracy per model × category is over the items the
model answered; its 95 % interval resamples cases (every item of a case shares its image
and truth) — patient series in a longitudinal trial (repeat scans share host and
nodules) — through :func:`~lesiontrials.analysis.bootstrap.accuracy_interval`, the
case-clustered Wilson interval at the bootstrap's effective size. Coverage says how many
of the asked items the model could answer at all (the rest: "cannot answer" or no view),
so a baseline that answers two templates is not read as a model of the whole bank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.analysis.bootstrap import accuracy_interval
from lesiontrials.io import read_json, read_parquet
from lesiontrials.seeding import rng_for

CATEGORIES = ("recognition", "measurement", "visual_reasoning", "medical_reasoning")
BASELINE_MODELS = frozenset({"threshold", "blob", "overlay_reader", "majority", "rules_reader"})


def _label(model: str) -> str:
    return f"{model} (baseline)" if model in BASELINE_MODELS else model


def _fmt(estimate: float, low: float, high: float) -> str:
    return f"{estimate:.2f} [{low:.2f}, {high:.2f}]"


def category_table(rows: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """One row per model × category: answered / asked, accuracy with a case-clustered CI,
    mean absolute error of measurement answers (mm or mm³ per template, so per template
    in :func:`measurement_table`)."""
    out: list[dict[str, Any]] = []
    for (model, category), group in rows.groupby(["model", "category"], sort=True):
        scored = group[group["status"].isin(["answered", "unparsed"])]
        correct = scored["correct"].fillna(False).astype(float).to_numpy()
        cell: dict[str, Any] = {"model": _label(str(model)), "category": category,
                                "asked": len(group), "answered": len(scored),
                                "cases": scored["case_uid"].nunique()}
        if len(scored):
            interval = accuracy_interval(
                correct, units={"case": _clusters(scored)},
                rng=rng_for(seed, "vqa-category", str(model), str(category)))
            cell["accuracy [95% CI]"] = _fmt(interval.estimate, interval.low, interval.high)
        else:
            cell["accuracy [95% CI]"] = "cannot answer"
        out.append(cell)
    table = pd.DataFrame(out)
    if table.empty:
        return table
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return table.sort_values(["model", "category"], key=lambda s: s.map(order).fillna(s)
                             if s.name == "category" else s).reset_index(drop=True)


def _clusters(scored: pd.DataFrame) -> np.ndarray:
    """The resampled unit per item: the patient series (repeat scans of one patient share
    host and nodules), else the case; results written before series existed: the case."""
    if "series_uid" in scored.columns:
        series = scored["series_uid"].fillna("").astype(str)
        return np.where(series != "", series, scored["case_uid"].astype(str))
    return scored["case_uid"].to_numpy()


def measurement_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Median and mean absolute error per model × numeric template (answered items)."""
    numeric = rows[(rows["answer_type"] == "numeric") & rows["abs_error"].notna()]
    if numeric.empty:
        return pd.DataFrame()
    return (numeric.groupby(["model", "template_id"], sort=True)["abs_error"]
            .agg(items="size", median_abs_error="median", mean_abs_error="mean")
            .round(2).reset_index().assign(model=lambda t: t["model"].map(_label)))


def report_table(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Field precision / recall / F1 per model, size error and category kappa."""
    out = []
    for record in records:
        for f in record["fields"]:
            out.append({"model": _label(record["model"]), "trial": record["trial"],
                        "cases": record["n_cases"], "field": f["field"],
                        "precision": f["precision"], "recall": f["recall"],
                        "F1 / value": f["f1"],
                        "stated / true": f"{f['n_pred']} / {f['n_true']}"})
        out.append({"model": _label(record["model"]), "trial": record["trial"],
                    "cases": record["n_cases"], "field": "size abs. error mm (matched)",
                    "F1 / value": record["size_abs_error_mm"]})
        out.append({"model": _label(record["model"]), "trial": record["trial"],
                    "cases": record["n_cases"], "field": "Lung-RADS weighted kappa",
                    "F1 / value": record["category_kappa"]})
    table = pd.DataFrame(out)
    for column in ("precision", "recall", "F1 / value"):  # numeric (NaN: nothing stated / no pair)
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    return table


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """A copy for markdown: numbers to 2 decimals, missing values as "—"."""
    def cell(v: Any) -> Any:
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return "—"
        return round(v, 2) if isinstance(v, float) else v
    return table.astype(object).map(cell)


def read_question_results(root: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """All result rows (with their trial) and report records under ``questions/results``."""
    parts = [read_parquet(p).assign(trial=p.stem) for p in sorted(root.glob("*/*.parquet"))]
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    reports = [read_json(p) for p in sorted(root.glob("*/*.reports.json"))]
    return rows, reports
