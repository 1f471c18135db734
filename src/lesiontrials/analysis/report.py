"""Analysis run and report: tables (CSV + Parquet), figures, report.md and report.html.

``analyze`` turns scored results into tables; ``write_report`` renders them. The HTML
is self-contained (figures embedded as base64 PNG) so it can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.analysis.tables import (
    breakdown,
    cell_metrics,
    confusion_table,
    reporting_items,
    synthetic_vs_real,
    versus_plain,
)
from lesiontrials.evaluate.contract import CHANCE, CONDITIONS
from lesiontrials.io import (
    write_bytes_atomic,
    write_csv,
    write_json,
    write_parquet,
    write_text_atomic,
)

BREAKDOWNS = ("design", "host_dataset", "donor_dataset", "truth_lobe", "truth_size", "appearance")


@dataclass
class Analysis:
    cells: pd.DataFrame
    confusion: pd.DataFrame
    vs_plain: pd.DataFrame
    breakdowns: dict[str, pd.DataFrame]
    transfer_table: pd.DataFrame
    transfer: dict[str, Any]
    reporting_n: dict[str, int]
    notes: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)  # extra (title, markdown)
    figures: dict[str, bytes] = field(default_factory=dict)  # extra figures by name


def analyze(results: pd.DataFrame, *, seed: int = 0, replicates: int = 1000) -> Analysis:
    """All tables from scored results (see :mod:`.tables` for the input columns)."""
    kept = reporting_items(results)
    dropped = len(results) - len(kept)
    reporting_n = {f"{s}/{t}": int(rows["slice_uid"].nunique())
                   for (s, t), rows in kept.groupby(["source", "task"])}
    cells = cell_metrics(kept, seed=seed, replicates=replicates)
    table, transfer = synthetic_vs_real(cells)
    notes = [f"{dropped} answers dropped: their slice was not scored by every model × "
             "condition of its task (one reporting N)"] if dropped else []
    return Analysis(cells=cells, confusion=confusion_table(kept),
                    vs_plain=versus_plain(kept, seed=seed, replicates=replicates),
                    breakdowns={b: breakdown(kept, b) for b in BREAKDOWNS},
                    transfer_table=table, transfer=transfer, reporting_n=reporting_n,
                    notes=notes)


def variance_figure(tasks: dict[str, dict[str, Any]]) -> bytes | None:
    """Stacked bars of donor / host / residual variance shares per task."""
    if not tasks:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(tasks)
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(names), 3.2))
    bottom = np.zeros(len(names))
    for part, colour in (("donor_share", "#1f77b4"), ("host_share", "#ff7f0e"),
                         ("residual_share", "#c7c7c7")):
        values = np.array([tasks[n][part] for n in names], dtype=float)
        ax.bar(names, values, bottom=bottom, color=colour, label=part.replace("_share", ""))
        bottom += np.nan_to_num(values)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of variance")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    png = _figure_png(fig)
    plt.close(fig)
    return png


def _figure_png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight",
                metadata={"Software": None})
    return buffer.getvalue()


def accuracy_figure(cells: pd.DataFrame, source: str) -> bytes | None:
    """Grouped bars: accuracy with 95 % CI per model and condition, one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = cells[cells["source"] == source]
    if rows.empty:
        return None
    tasks = sorted(rows["task"].unique())
    models = sorted(rows["model"].unique())
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    width = 0.8 / max(len(models), 1)
    for ax, task in zip(axes[0], tasks, strict=True):
        sub = rows[rows["task"] == task]
        conditions = [c for c in CONDITIONS if c in set(sub["condition"])]
        x = np.arange(len(conditions))
        for m, model in enumerate(models):
            values = sub[sub["model"] == model].set_index("condition").reindex(conditions)
            err = np.vstack([values["accuracy"] - values["accuracy_ci_low"],
                             values["accuracy_ci_high"] - values["accuracy"]])
            ax.bar(x + m * width, 100 * values["accuracy"], width, yerr=100 * err, capsize=2,
                   label=model)
        ax.axhline(100 * CHANCE.get(task, 0), color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(x + width * (len(models) - 1) / 2, conditions, rotation=20)
        ax.set_ylim(0, 100)
        ax.set_title(f"{task} ({source})")
        ax.set_ylabel("accuracy (%)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    png = _figure_png(fig)
    plt.close(fig)
    return png


def transfer_figure(table: pd.DataFrame) -> bytes | None:
    """Scatter of synthetic vs real accuracy per cell, coloured by task."""
    if not {"synthetic", "real"} <= set(table.columns):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    for task, rows in table.groupby("task"):
        ax.scatter(100 * rows["synthetic"], 100 * rows["real"], label=str(task), s=22)
    ax.plot([0, 100], [0, 100], color="grey", linewidth=1, linestyle="--")
    ax.set_xlabel("synthetic accuracy (%)")
    ax.set_ylabel("real accuracy (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    png = _figure_png(fig)
    plt.close(fig)
    return png


def markdown_table(frame: pd.DataFrame, *, max_rows: int = 60) -> str:
    if frame.empty:
        return "_(none)_\n"
    shown = frame.head(max_rows)
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:.3f}"
        return str(value)
    lines = ["| " + " | ".join(map(str, shown.columns)) + " |",
             "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in shown.itertuples(index=False)]
    if len(frame) > max_rows:
        lines.append(f"\n_{len(frame) - max_rows} more rows in the CSV table._")
    return "\n".join(lines) + "\n"


def _wide_confusion(confusion: pd.DataFrame) -> pd.DataFrame:
    plain = confusion[confusion["condition"] == "plain"]
    if plain.empty:
        return plain
    wide = plain.pivot_table(index=["source", "model", "task", "truth"], columns="answer",
                             values="count", fill_value=0, aggfunc="sum")
    wide.columns = [c if c else "(unparsed)" for c in wide.columns]
    return wide.reset_index()


def write_report(analysis: Analysis, directory: Path, *, title: str,
                 description: str = "") -> Path:
    """Write tables/, figures/, report.md and a self-contained report.html."""
    directory = Path(directory)
    tables = {"cells": analysis.cells, "confusion": analysis.confusion,
              "vs_plain": analysis.vs_plain,
              "synthetic_vs_real": analysis.transfer_table,
              **{f"by_{k}": v for k, v in analysis.breakdowns.items() if not v.empty}}
    for name, frame in tables.items():
        write_csv(frame, directory / "tables" / f"{name}.csv")
        write_parquet(frame, directory / "tables" / f"{name}.parquet")
    figures: dict[str, bytes] = {}
    for source in ("synthetic", "real"):
        png = accuracy_figure(analysis.cells, source)
        if png:
            figures[f"accuracy_{source}"] = png
    png = transfer_figure(analysis.transfer_table)
    if png:
        figures["synthetic_vs_real"] = png
    figures.update(analysis.figures)
    for name, png in figures.items():
        write_bytes_atomic(directory / "figures" / f"{name}.png", png)
    write_json({"reporting_n": analysis.reporting_n, "transfer": analysis.transfer,
                "notes": analysis.notes}, directory / "summary.json")
    markdown = _markdown(analysis, title=title, description=description, figures=figures)
    write_text_atomic(directory / "report.md", markdown)
    write_text_atomic(directory / "report.html", _html(markdown, figures))
    return directory / "report.html"


def _markdown(analysis: Analysis, *, title: str, description: str,
              figures: dict[str, bytes]) -> str:
    cell_columns = ["source", "model", "condition", "task", "n", "accuracy", "accuracy_ci_low",
                    "accuracy_ci_high", "balanced_accuracy", "unparsed_rate"]
    recall = [c for c in analysis.cells.columns if c.startswith("recall[")]
    parts = [f"# {title}\n", description + "\n" if description else "",
             "## Reporting N\nOnly items scored by every model × condition × task of their "
             "source count.\n", markdown_table(pd.DataFrame(
                 [{"source/task": k, "slices": v} for k, v in analysis.reporting_n.items()])),
             *[f"- {note}\n" for note in analysis.notes]]
    for source in ("synthetic", "real"):
        if f"accuracy_{source}" in figures:
            parts.append(f"\n![accuracy {source}](figures/accuracy_{source}.png)\n")
    parts += ["\n## Accuracy per model, condition and task (95 % bootstrap CI)\n",
              markdown_table(analysis.cells[[c for c in cell_columns
                                              if c in analysis.cells.columns]]),
              "\n## Per-class recall\nA model that always gives one answer has recall 1 for "
              "that class and 0 for the others.\n",
              markdown_table(analysis.cells[["source", "model", "condition", "task", *recall]]),
              "\n## Confusion matrices (plain condition; every condition in "
              "tables/confusion.csv)\n",
              markdown_table(_wide_confusion(analysis.confusion)),
              "\n## Guidance versus plain (paired; McNemar)\n",
              markdown_table(analysis.vs_plain)]
    if analysis.transfer.get("cells"):
        parts += ["\n## Synthetic versus real\n",
                  f"Spearman ρ over {analysis.transfer['cells']} cells: "
                  f"{analysis.transfer['spearman_rho']:.3f}\n",
                  "\n![synthetic vs real](figures/synthetic_vs_real.png)\n",
                  markdown_table(analysis.transfer_table)]
    for name, frame in analysis.breakdowns.items():
        if not frame.empty and frame[name].nunique() > 1:
            parts += [f"\n## Accuracy by {name}\n", markdown_table(frame)]
    for section_title, body in analysis.sections:
        parts += [f"\n## {section_title}\n", body]
    return "".join(parts)


def _html(markdown: str, figures: dict[str, bytes]) -> str:
    """Minimal Markdown → HTML (headings, tables, lists, images, paragraphs)."""
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>lesiontrials report"
           "</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
           "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
           "padding:2px 6px}img{max-width:100%}</style></head><body>"]
    table: list[str] = []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            out.append(_html_table(table))
            table = []
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("!["):
            name = line[line.index("(") + 1:line.index(")")].removeprefix("figures/")
            png = figures.get(name.removesuffix(".png"))
            if png:
                data = base64.b64encode(png).decode("ascii")
                out.append(f"<p><img src='data:image/png;base64,{data}'></p>")
        elif line.startswith("- "):
            out.append(f"<ul><li>{html.escape(line[2:])}</li></ul>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    out.append("</body></html>")
    return "\n".join(out)


def _html_table(lines: list[str]) -> str:
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines
            if not set(line) <= set("|-: ")]
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
