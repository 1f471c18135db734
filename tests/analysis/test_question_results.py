"""By-category results on the question bank and report field tables."""

from __future__ import annotations

import pandas as pd

from lesiontrials.analysis.question_results import category_table, measurement_table
from lesiontrials.analysis.truth_sections import question_results_section


def _rows() -> pd.DataFrame:
    rows = []
    for case in range(6):
        for template, category, kind in (("presence", "recognition", "yes_no"),
                                         ("lobe", "recognition", "choice"),
                                         ("mean_diameter", "measurement", "numeric")):
            answered = template != "mean_diameter"
            rows.append({"uid": f"c{case}/{template}/p0", "case_uid": f"c{case}",
                         "template_id": template, "category": category,
                         "answer_type": kind, "model": "blob",
                         "status": "answered" if answered else "cannot_answer",
                         "correct": (case < 4) if answered else None,
                         "abs_error": float("nan")})
    return pd.DataFrame(rows)


def test_category_table_counts_accuracy_and_coverage() -> None:
    table = category_table(_rows()).set_index("category")
    assert table.loc["recognition", "asked"] == 12
    assert table.loc["recognition", "answered"] == 12
    assert table.loc["recognition", "cases"] == 6
    # 8 of 12 right: both items of cases 0-3; the interval resamples the 6 cases
    estimate, bounds = table.loc["recognition", "accuracy [95% CI]"].split(" [")
    low, high = (float(v) for v in bounds.rstrip("]").split(", "))
    assert float(estimate) == round(8 / 12, 2) and low < 8 / 12 < high
    assert table.loc["measurement", "answered"] == 0
    assert table.loc["measurement", "accuracy [95% CI]"] == "cannot answer"
    assert list(table["model"].unique()) == ["blob (baseline)"]


def test_measurement_errors_and_section() -> None:
    rows = _rows()
    rows.loc[rows["template_id"] == "mean_diameter", ["status", "abs_error", "correct"]] = (
        "answered", 2.0, False)
    errors = measurement_table(rows)
    assert errors.loc[0, "median_abs_error"] == 2.0 and errors.loc[0, "items"] == 6
    title, text, tables = question_results_section(rows, [])
    assert title == "Models on the question bank"
    assert "vqa_by_category" in tables and "cases" in text


def test_report_table_is_numeric_and_writable(tmp_path) -> None:
    from lesiontrials.analysis.question_results import display_table, report_table
    from lesiontrials.io import write_parquet

    record = {"model": "rules_reader", "trial": "t", "n_cases": 2, "size_abs_error_mm": None,
              "category_kappa": float("nan"), "fields": [
                  {"field": "lobe", "precision": 0.5, "recall": 0.25, "f1": 1 / 3,
                   "n_pred": 2, "n_true": 4},
                  {"field": "attenuation", "precision": None, "recall": 0.0, "f1": None,
                   "n_pred": 0, "n_true": 4}]}
    table = report_table([record])
    assert table["precision"].dtype == float
    write_parquet(table, tmp_path / "t.parquet")  # the report writes its tables
    shown = display_table(table)
    assert shown.loc[1, "precision"] == "—" and shown.loc[0, "F1 / value"] == 0.33
