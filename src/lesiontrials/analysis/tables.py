"""Result tables: per-cell metrics with CIs, McNemar vs plain, breakdowns, synthetic↔real.

Input is one long table of scored answers, one row per (model, set, condition, task,
slice_uid) with at least ``option`` (the parsed answer, '' if unparsed), ``truth``,
``source`` ('synthetic' | 'real') and any breakdown columns. Reported numbers use only
items scored by every model × condition × task of their source ("one reporting N").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.analysis.bootstrap import bootstrap_metric, paired_difference
from lesiontrials.analysis.metrics import confusion, summarise
from lesiontrials.analysis.significance import mcnemar, spearman
from lesiontrials.evaluate.contract import TASK_OPTIONS
from lesiontrials.seeding import rng_for

CELL = ["source", "model", "condition", "task"]
REQUIRED = ("model", "condition", "task", "slice_uid", "option", "truth", "source")


def check_results(results: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in results.columns]
    if missing:
        raise ValueError(f"scored results lack columns {missing}")


def reporting_items(results: pd.DataFrame) -> pd.DataFrame:
    """Keep, per source and task, the slices answered in every model × condition."""
    check_results(results)
    kept = []
    for (_, _), rows in results.groupby(["source", "task"], sort=True):
        cells = rows.groupby(["model", "condition"]).ngroups
        per_uid = rows.groupby("slice_uid")[["model", "condition"]].apply(
            lambda g: len(set(zip(g["model"], g["condition"], strict=True))))
        complete = per_uid.index[per_uid == cells]
        kept.append(rows[rows["slice_uid"].isin(complete)])
    return pd.concat(kept, ignore_index=True) if kept else results.iloc[:0]


def cell_metrics(results: pd.DataFrame, *, seed: int = 0, replicates: int = 1000) -> pd.DataFrame:
    """One row per source × model × condition × task: n, metrics, 95 % bootstrap CIs."""
    rows = []
    for key, group in results.groupby(CELL, sort=True):
        source, model, condition, task = key
        conf = confusion(group["truth"], group["option"], TASK_OPTIONS[task])
        rng = rng_for(seed, "cell", *map(str, key))
        accuracy = bootstrap_metric(conf, metric="accuracy", replicates=replicates, rng=rng)
        balanced = bootstrap_metric(conf, metric="balanced_accuracy", replicates=replicates,
                                    rng=rng)
        rows.append({"source": source, "model": model, "condition": condition, "task": task,
                     **summarise(conf), **accuracy.as_dict("accuracy"),
                     **balanced.as_dict("balanced_accuracy")})
    return pd.DataFrame(rows)


def _paired(results: pd.DataFrame, keys: dict[str, Any], other: dict[str, Any]
            ) -> tuple[np.ndarray, np.ndarray]:
    def correct(selection: dict[str, Any]) -> pd.Series:
        rows = results
        for column, value in selection.items():
            rows = rows[rows[column] == value]
        return (rows["option"] == rows["truth"]).groupby(rows["slice_uid"]).first()

    a, b = correct(keys), correct(other)
    common = a.index.intersection(b.index)
    return a.loc[common].to_numpy(), b.loc[common].to_numpy()


def confusion_table(results: pd.DataFrame) -> pd.DataFrame:
    """Long confusion matrices: counts per source × model × condition × task × truth ×
    answer ('' = unparsed)."""
    counts = results.groupby([*CELL, "truth", "option"]).size()
    return counts.rename("count").reset_index().rename(columns={"option": "answer"})


def versus_plain(results: pd.DataFrame, *, seed: int = 0, replicates: int = 1000
                 ) -> pd.DataFrame:
    """Each guided condition against plain, per source × model × task: paired accuracy
    difference with CI and McNemar's test."""
    rows = []
    for (source, model, task), group in results.groupby(["source", "model", "task"]):
        for condition in sorted(set(group["condition"]) - {"plain"}):
            if "plain" not in set(group["condition"]):
                continue
            a, b = _paired(group, {"condition": condition}, {"condition": "plain"})
            test = mcnemar(a, b)
            diff = paired_difference(a, b, replicates=replicates,
                                     rng=rng_for(seed, "vs-plain", source, model, task, condition))
            rows.append({"source": source, "model": model, "task": task,
                         "condition": condition, "n": len(a), **diff.as_dict("gain"),
                         "mcnemar_b": test.b, "mcnemar_c": test.c,
                         "mcnemar_p_exact": test.p_exact, "mcnemar_p_chi2": test.p_chi2})
    return pd.DataFrame(rows)


def breakdown(results: pd.DataFrame, by: str) -> pd.DataFrame:
    """Accuracy per source × model × condition × task × ``by`` value."""
    if by not in results.columns:
        return pd.DataFrame()
    correct = results.assign(correct=results["option"] == results["truth"])
    table = correct.groupby([*CELL, by], dropna=False)["correct"].agg(["size", "mean"])
    return table.rename(columns={"size": "n", "mean": "accuracy"}).reset_index()


def synthetic_vs_real(cells: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Side-by-side accuracies over model × condition × task cells, with Spearman ρ."""
    wide = cells.pivot_table(index=["model", "condition", "task"], columns="source",
                             values="accuracy").reset_index()
    if not {"synthetic", "real"} <= set(wide.columns):
        return wide, {"cells": 0, "spearman_rho": None}
    paired = wide.dropna(subset=["synthetic", "real"])
    rho, p = spearman(paired["synthetic"].to_numpy(), paired["real"].to_numpy())
    per_task = {}
    for task, rows in paired.groupby("task"):
        task_rho, task_p = spearman(rows["synthetic"].to_numpy(), rows["real"].to_numpy())
        per_task[str(task)] = {"cells": len(rows), "spearman_rho": task_rho, "p": task_p}
    return wide, {"cells": len(paired), "spearman_rho": rho, "p": p, "per_task": per_task}
