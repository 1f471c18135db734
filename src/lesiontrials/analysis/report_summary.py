"""The report's reader-facing sections: the one-screen summary (what was run, N, headline
accuracies with their 95 % CIs, synthetic versus real, baselines marked), one section per
trial (by its own name) and one per model.

Plain functions from the :class:`~lesiontrials.analysis.report_data.Analysis` tables to
Markdown; nothing here computes a statistic, it only selects and words them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from lesiontrials.analysis.report_layout import (
    BASELINE_SUFFIX,
    SOURCE_ORDER,
    label_baselines,
    markdown_table,
)

if TYPE_CHECKING:
    from lesiontrials.analysis.report_data import Analysis

NO_TRIAL = "(real set: no trial)"
SOURCE_MEANING = ("Synthetic = donor lesions in procedural phantom anatomy; real = real CT "
                  "anatomy (the real set, and donors inserted into real scans).")


def _reading_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Synthetic before real, the plain condition first, then as given (stable)."""
    if frame.empty:
        return frame
    key = pd.DataFrame({
        "source": frame["source"].map(lambda s: SOURCE_ORDER.get(str(s), 2)),
        "plain": (frame["condition"] != "plain").astype(int)}, index=frame.index)
    order = key.sort_values(["source", "plain"], kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def _ci(row: pd.Series) -> str:
    return (f"{row['accuracy']:.3f} [{row['accuracy_ci_low']:.3f}, "
            f"{row['accuracy_ci_high']:.3f}], n = {int(row['n'])}")


def _best(rows: pd.DataFrame) -> pd.Series | None:
    rows = rows.dropna(subset=["accuracy"])
    if rows.empty:
        return None
    return rows.sort_values(["accuracy", "model"], ascending=[False, True],
                            kind="stable").iloc[0]


def headline_lines(analysis: Analysis) -> list[str]:
    """Per source × task: the most accurate model (plain condition where it was run) with
    its CI, next to the best weight-free baseline; then synthetic-vs-real ρ per task."""
    cells = analysis.cells
    if cells.empty or "accuracy" not in cells.columns:
        return ["- No model × condition × task cell was scored on every slice of the split."]
    scored = cells[cells["status"] == "scored"]
    coverage = analysis.coverage
    restricted = set(coverage.loc[coverage["scope"] == "held-out only", "model"]) \
        if "scope" in coverage.columns else set()
    lines = []
    for (source, task), rows in sorted(scored.groupby(["source", "task"]),
                                       key=lambda kv: (kv[0][0] != "synthetic", kv[0][1])):
        condition = "plain" if (rows["condition"] == "plain").any() else "every condition"
        if condition == "plain":
            rows = rows[rows["condition"] == "plain"]
        held = rows["model"].isin(restricted)
        models = _best(rows[~rows["model"].isin(analysis.baselines) & ~held])
        base = _best(rows[rows["model"].isin(analysis.baselines) & ~held])
        parts = []
        if models is not None:
            parts.append(f"best model **{models['model']}** {_ci(models)}")
        if base is not None:
            parts.append(f"best baseline {base['model']}{BASELINE_SUFFIX} {_ci(base)}")
        # a trained model answered only the held-out trials' slices: shown apart, never
        # ranked against models reported on the whole split
        parts += [f"{row['model']} (held-out trials only) {_ci(row)}"
                  for _, row in rows[held].sort_values("model").iterrows()]
        where = condition if condition == "every condition" else f"{condition} condition"
        lines.append(f"- {task}, {source} ({where}): " + "; ".join(parts))
    for task, record in sorted(analysis.transfer.items()):
        rho, low, high = (record.get(f"spearman_rho{k}") for k in ("", "_ci_low", "_ci_high"))
        if all(isinstance(v, int | float) and v == v for v in (rho, low, high)):
            lines.append(f"- {task}: synthetic vs real Spearman ρ = {rho:.2f} "
                         f"[{low:.2f}, {high:.2f}] over {record.get('cells', '?')} cells")
    return lines


def _per_source_n(reporting_n: dict[str, int]) -> str:
    most: dict[str, int] = {}
    for key, n in reporting_n.items():
        source = key.split("/", 1)[0]
        most[source] = max(most.get(source, 0), n)
    return ", ".join(f"{source} {n}" for source, n in sorted(
        most.items(), key=lambda kv: SOURCE_ORDER.get(kv[0], 2)))


def summary_section(analysis: Analysis, *, selection: str = "") -> str:
    """One screen: what was run, how many slices, headline numbers, baselines marked."""
    cells = analysis.cells
    models = sorted(set(cells["model"])) if len(cells) else []
    named = [f"{m}{BASELINE_SUFFIX}" if m in analysis.baselines else m for m in models]
    trials = trial_names(analysis)
    conditions = sorted(set(cells["condition"])) if len(cells) else []
    tasks = sorted(set(cells["task"])) if len(cells) else []
    lines = ["\n## Summary\n",
             f"- **Models** ({len(models)}): {', '.join(named) or 'none'}",
             f"- **Trials** ({len(trials)}): {', '.join(trials) or 'none'}",
             f"- **Tasks**: {', '.join(tasks) or 'none'}; **conditions**: "
             f"{', '.join(conditions) or 'none'}",
             f"- **Slices reported** (largest task per source): "
             f"{_per_source_n(analysis.reporting_n) or 'none'}; {analysis.split.line()}",
             f"- **Synthetic vs real**: {SOURCE_MEANING}"]
    if selection:
        lines.append(f"- **Selection**: {selection}")
    if analysis.baselines:
        lines.append("- Models marked (baseline) are weight-free baselines (no learned "
                     "weights): the floor a model must beat.")
    lines += ["\n**Headline accuracies** (95 % CIs resample the design's units):\n",
              *headline_lines(analysis)]
    if analysis.notes:
        lines.append(f"\n_{len(analysis.notes)} note(s) on what is left out: see "
                     "[Reported slices](#reported-slices)._")
    return "\n".join(lines) + "\n"


def trial_names(analysis: Analysis) -> list[str]:
    """Every trial in the reported answers, by its own name (custom trials included)."""
    frame = analysis.breakdowns.get("trial", pd.DataFrame())
    if frame.empty:
        return []
    return sorted({NO_TRIAL if pd.isna(t) or str(t) in ("", "nan", "None") else str(t)
                   for t in frame["trial"]})


def trial_sections(analysis: Analysis, *, max_rows: int = 12) -> str:
    """``### Trial: NAME`` per trial: its design and accuracy per model, condition, task."""
    frame = analysis.breakdowns.get("trial", pd.DataFrame())
    if frame.empty:
        return ""
    frame = frame.assign(trial=[NO_TRIAL if pd.isna(t) or str(t) in ("", "nan", "None")
                                else str(t) for t in frame["trial"]])
    parts = ["\n## Trials\n", "Accuracy with 95 % CI per trial, plain condition first "
             "(every row in [tables/by_trial.csv](tables/by_trial.csv)).\n"]
    columns = ["source", "model", "condition", "task", "n", "accuracy", "accuracy_ci_low",
               "accuracy_ci_high"]
    for trial in trial_names(analysis):
        rows = _reading_order(frame[frame["trial"] == trial])
        parts.append(f"\n### Trial: {trial}\n")
        parts.append(markdown_table(label_baselines(rows[[c for c in columns if c in
                                                          rows.columns]], analysis.baselines),
                                    max_rows=max_rows, full="by_trial"))
    return "".join(parts)


def model_sections(analysis: Analysis, *, max_rows: int = 12) -> str:
    """``### Model: NAME`` per model: its cells (accuracy with CI), synthetic first."""
    cells = analysis.cells
    if cells.empty:
        return ""
    columns = ["source", "condition", "task", "n", "accuracy", "accuracy_ci_low",
               "accuracy_ci_high", "balanced_accuracy", "unparsed_rate", "status"]
    parts = ["\n## Models\n"]
    for model in sorted(set(cells["model"])):
        rows = _reading_order(cells[cells["model"] == model])
        name = f"{model}{BASELINE_SUFFIX}" if model in analysis.baselines else str(model)
        parts.append(f"\n### Model: {name}\n")
        parts.append(markdown_table(rows[[c for c in columns if c in rows.columns]],
                                    max_rows=max_rows, full="cells"))
    return "".join(parts)
