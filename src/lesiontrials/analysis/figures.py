"""Report figures (PNG bytes, deterministic): accuracy bars, synthetic vs real, variance.

Model names arrive already labelled (weight-free baselines carry "(baseline)"), so every
figure marks the baselines the way the tables do.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.slicing.contract import CHANCE, CONDITIONS


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
    png = figure_png(fig)
    plt.close(fig)
    return png


def figure_png(fig: Any) -> bytes:
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
    if rows.empty or "accuracy" not in rows.columns or rows["accuracy"].isna().all():
        return None  # nothing scored on every slice of the split
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
        ax.axhline(100 * CHANCE.get(task, 0), color="grey", linestyle="--", linewidth=1,
                   label="chance level")
        ax.set_xticks(x + width * (len(models) - 1) / 2, conditions, rotation=20)
        ax.set_ylim(0, 100)
        n = pd.to_numeric(sub["n"], errors="coerce").max() if "n" in sub.columns else np.nan
        ax.set_title(f"{task} ({source}" + (f", n = {int(n)} slices)" if n == n else ")"))
        ax.set_ylabel("accuracy (%)")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    labels = [f"{label} (bars: 95 % CI)" if label != "chance level" else label
              for label in labels]
    axes[0][-1].legend(handles, labels, fontsize=7, loc="upper left",
                       bbox_to_anchor=(1.0, 1.0))
    png = figure_png(fig)
    plt.close(fig)
    return png


def transfer_title(table: pd.DataFrame) -> str:
    """The scatter's title: how many cells it plots — those with both a synthetic and a
    real accuracy (a cell without real items is not a point, so it is not counted)."""
    plotted = table.dropna(subset=["synthetic", "real"])
    return f"{len(plotted)} model × condition × task cells with both accuracies"


def transfer_figure(table: pd.DataFrame) -> bytes | None:
    """Scatter of synthetic vs real accuracy per cell, coloured by task."""
    if not {"synthetic", "real"} <= set(table.columns):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plotted = table.dropna(subset=["synthetic", "real"])
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    for task, rows in plotted.groupby("task"):
        ax.scatter(100 * rows["synthetic"], 100 * rows["real"], label=str(task), s=22)
    ax.plot([0, 100], [0, 100], color="grey", linewidth=1, linestyle="--",
            label="equal accuracy")
    ax.set_title(transfer_title(table), fontsize=9)
    ax.set_xlabel("synthetic accuracy (%)")
    ax.set_ylabel("real accuracy (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    png = figure_png(fig)
    plt.close(fig)
    return png


