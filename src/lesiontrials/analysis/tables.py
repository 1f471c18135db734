"""Result tables: per-cell accuracy with design-aware CIs, guidance vs plain (exact McNemar,
Holm), breakdowns, synthetic↔real agreement per task.

Input is one long table of scored answers, one row per (model, set, condition, task,
slice_uid) with at least ``option`` (the parsed answer, '' if unparsed), ``truth``,
``source`` ('synthetic' | 'real') and any breakdown columns; ``case_uid``, ``design``,
``donor_uid`` and ``host_ct_id`` give each answer's resampling units
(:mod:`.design_units`). Reported numbers use the slices of a frozen split
(:func:`apply_split`); a model × condition × task that lacks any of them is a "not scored"
row, never a smaller N.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.analysis.bootstrap import accuracy_interval, paired_difference
from lesiontrials.analysis.design_units import RowUnits, units_for
from lesiontrials.analysis.metrics import confusion, summarise
from lesiontrials.analysis.resampling import CaseCellSums
from lesiontrials.analysis.significance import holm, mcnemar, spearman_cells_interval
from lesiontrials.seeding import rng_for
from lesiontrials.slicing.contract import TASK_OPTIONS

CELL = ["source", "model", "condition", "task"]
REQUIRED = ("model", "condition", "task", "slice_uid", "option", "truth", "source")


def check_results(results: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in results.columns]
    if missing:
        raise ValueError(f"scored results lack columns {missing}")


def reporting_items(results: pd.DataFrame) -> pd.DataFrame:
    """Without a frozen split: keep, per source and task, the slices answered in every
    model × condition (what ``split make`` would freeze from these results)."""
    check_results(results)
    kept = []
    for (_, _), rows in results.groupby(["source", "task"], sort=True):
        cells = rows.groupby(["model", "condition"]).ngroups
        per_uid = rows.groupby("slice_uid")[["model", "condition"]].apply(
            lambda g: len(set(zip(g["model"], g["condition"], strict=True))))
        complete = per_uid.index[per_uid == cells]
        kept.append(rows[rows["slice_uid"].isin(complete)])
    return pd.concat(kept, ignore_index=True) if kept else results.iloc[:0]


def apply_split(results: pd.DataFrame, uids: Collection[str], *,
                expected: pd.DataFrame | None = None,
                restricted: Mapping[str, Collection[str]] | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Answers on the split's slices, and the coverage of every cell.

    ``expected`` (columns slice_uid, source, task) lists the split's slices each task asks
    (from the items; see :func:`~lesiontrials.analysis.workspace.expected_slices`);
    without it, a source × task's expected slices are the split's slices that any model
    answered. Every model × condition seen for that source × task gets a coverage row; a
    cell missing any expected slice is ``not scored`` and its answers are left out, so no
    cell is reported on a smaller N than the others. ``restricted`` maps a trained model
    to the split slices it may be scored on (those of the sets it did not learn from): its
    cells are expected on those only, reported with their own N and marked ``held-out
    only`` in the coverage's ``scope`` (every other cell: ``all``). Returns (answers of
    fully scored cells, coverage table).
    """
    limits = {m: set(u) for m, u in (restricted or {}).items()}
    check_results(results)
    inside = results[results["slice_uid"].isin(set(uids))]
    asked: dict[tuple[str, str], set[str]] = {}
    if expected is not None:
        listed = expected[expected["slice_uid"].isin(set(uids))]
        asked = {(str(s), str(t)): set(rows["slice_uid"])
                 for (s, t), rows in listed.groupby(["source", "task"])}
    kept, coverage = [], []
    for (source, task), rows in inside.groupby(["source", "task"], sort=True):
        expected_uids = asked.get((str(source), str(task)), set(rows["slice_uid"])) \
            if expected is not None else set(rows["slice_uid"])
        expected_uids = expected_uids | set(rows["slice_uid"])
        for model in sorted(rows["model"].unique()):
            for condition in sorted(rows["condition"].unique()):
                cell = rows[(rows["model"] == model) & (rows["condition"] == condition)]
                wanted = (expected_uids & limits[model] if model in limits
                          else expected_uids)
                if not wanted:  # a trained model asked nothing of this source × task
                    continue
                missing = len(wanted - set(cell["slice_uid"]))
                n = len(wanted)
                coverage.append({"source": source, "model": model, "condition": condition,
                                 "task": task, "expected": n, "scored": n - missing,
                                 "scope": "held-out only" if model in limits else "all",
                                 "status": "scored" if missing == 0 else
                                 f"not scored: {missing} of {n} slices missing"})
                if missing == 0:
                    kept.append(cell)
    answers = pd.concat(kept, ignore_index=True) if kept else inside.iloc[:0]
    return answers, pd.DataFrame(coverage, columns=[*CELL, "expected", "scored", "scope",
                                                    "status"])


def _describe_units(units: dict[str, np.ndarray]) -> str:
    return " × ".join(f"{len(np.unique(ids))} {name}s" for name, ids in units.items())


def _correct(rows: pd.DataFrame) -> np.ndarray:
    return (rows["option"] == rows["truth"]).to_numpy(dtype=float)


@dataclass(frozen=True)
class RowValues:
    """What the per-cell tables read of every row, computed once for the whole table and
    taken by position per cell (:meth:`headline`, :meth:`units`): per-cell pandas
    selections and string conversions were most of the analysis stage at 512²."""

    correct: np.ndarray  # (rows,) 0/1: option == truth
    means: np.ndarray | None  # (rows,) correct_mean, where the table has it
    counts: np.ndarray | None  # (rows,) paraphrases (missing: 1)
    row_units: RowUnits

    @classmethod
    def of(cls, results: pd.DataFrame) -> RowValues:
        means = counts = None
        if "correct_mean" in results.columns and "paraphrases" in results.columns:
            counts = results["paraphrases"].fillna(1).to_numpy(dtype=float)
            means = results["correct_mean"].to_numpy(dtype=float)
        return cls(_correct(results), means, counts, RowUnits.of(results))

    def headline(self, positions: np.ndarray) -> tuple[np.ndarray, int, float]:
        """:func:`headline_correct` of the rows at ``positions``."""
        if self.means is not None and self.counts is not None:
            counts, means = self.counts[positions], self.means[positions]
            if (counts > 1).any():
                if np.isnan(means).any():
                    raise ValueError("a slice asked several paraphrases lacks their mean")
                return means, int(counts.max()), float(counts.sum())
        return self.correct[positions], 1, float(len(positions))

    def units(self, positions: np.ndarray) -> dict[str, np.ndarray]:
        """:func:`~lesiontrials.analysis.design_units.units_for` of those rows."""
        return self.row_units.take(positions)


def grouped_positions(frame: pd.DataFrame, keys: list[str], *, dropna: bool = True
                      ) -> Iterator[tuple[Any, np.ndarray]]:
    """``(key, row positions)`` of ``frame.groupby(keys, sort=True, dropna=dropna)``, in
    its order and with its keys, without building each group's frame."""
    index = frame[keys].assign(_position=np.arange(len(frame)))
    for key, group in index.groupby(keys, sort=True, dropna=dropna):
        yield key, group["_position"].to_numpy()


def headline_correct(rows: pd.DataFrame) -> tuple[np.ndarray, int, float]:
    """Per slice, the correctness the headline accuracy averages; how many prompt
    paraphrases it is the mean over; how many answers that is in all. With
    ``correct_mean``/``paraphrases`` columns
    (:func:`~lesiontrials.analysis.selective.paraphrase_means`) and more than one
    paraphrase, the slice's mean correctness over them (each slice weighs the same);
    otherwise the canonical answer's 0/1."""
    if "correct_mean" in rows.columns and "paraphrases" in rows.columns:
        counts = rows["paraphrases"].fillna(1).to_numpy(dtype=float)
        means = rows["correct_mean"].to_numpy(dtype=float)
        if (counts > 1).any():
            if np.isnan(means).any():
                raise ValueError("a slice asked several paraphrases lacks their mean")
            return means, int(counts.max()), float(counts.sum())
    return _correct(rows), 1, float(len(rows))


def cell_metrics(results: pd.DataFrame, *, seed: int = 0, replicates: int = 2000
                 ) -> pd.DataFrame:
    """One row per source × model × condition × task: n, metrics, the accuracy's 95 % CI
    over the design's units (:func:`~lesiontrials.analysis.bootstrap.accuracy_interval`)
    and which units those were. Balanced accuracy and recalls are point estimates.

    ``accuracy`` (and its CI) is the headline: for a model asked several prompt
    paraphrases, the mean over them (:func:`headline_correct`; the units resampled are the
    same cases, all paraphrases of a slice travel together); ``accuracy_p0`` is the
    canonical paraphrase alone, which balanced accuracy, recalls and the confusion
    matrices describe; ``paraphrases`` says how many were averaged."""
    rows = []
    values = RowValues.of(results)
    truth = results["truth"].to_numpy(dtype=object)
    option = results["option"].to_numpy(dtype=object)
    for key, positions in grouped_positions(results, CELL):
        source, model, condition, task = key
        conf = confusion(truth[positions], option[positions], TASK_OPTIONS[task])
        units = values.units(positions)
        correct, asked, answers = values.headline(positions)
        accuracy = accuracy_interval(correct, units=units, replicates=replicates,
                                     rng=rng_for(seed, "cell", *map(str, key)),
                                     answers=answers)
        metrics = summarise(conf)
        row = {"source": source, "model": model, "condition": condition, "task": task,
               **metrics, **accuracy.as_dict("accuracy")}  # accuracy: the headline
        row.update({"accuracy_p0": metrics["accuracy"], "paraphrases": asked,
                    "units": _describe_units(units)})
        rows.append(row)
    return pd.DataFrame(rows)


def _paired(results: pd.DataFrame, keys: dict[str, Any], other: dict[str, Any]
            ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Correctness of two selections on their common slices, with those slices' units."""
    def select(selection: dict[str, Any]) -> pd.DataFrame:
        rows = results
        for column, value in selection.items():
            rows = rows[rows[column] == value]
        return rows.drop_duplicates("slice_uid").set_index("slice_uid")

    a, b = select(keys), select(other)
    common = a.index.intersection(b.index).sort_values()
    shared = b.loc[common].reset_index()
    return _correct(a.loc[common]), _correct(b.loc[common]), units_for(shared)


def confusion_table(results: pd.DataFrame) -> pd.DataFrame:
    """Long confusion matrices: counts per source × model × condition × task × truth ×
    answer ('' = unparsed)."""
    counts = results.groupby([*CELL, "truth", "option"]).size()
    return counts.rename("count").reset_index().rename(columns={"option": "answer"})


def versus_plain(results: pd.DataFrame, *, seed: int = 0, replicates: int = 2000
                 ) -> pd.DataFrame:
    """Each guided condition against plain, per source × model × task, on the same slices.

    The gain's CI is the paired design-aware interval
    (:func:`~lesiontrials.analysis.bootstrap.paired_difference`); the test is the exact
    McNemar test, Holm-adjusted within the family of one source × model (its guided
    conditions × tasks: ``family_tests`` says how many), so adding a model changes no
    other model's adjusted p-values.
    """
    rows = []
    for (source, model, task), group in results.groupby(["source", "model", "task"]):
        if "plain" not in set(group["condition"]):
            continue
        for condition in sorted(set(group["condition"]) - {"plain"}):
            a, b, units = _paired(group, {"condition": condition}, {"condition": "plain"})
            if a.size == 0:
                continue
            test = mcnemar(a.astype(bool), b.astype(bool))
            diff = paired_difference(a, b, units=units, replicates=replicates,
                                     rng=rng_for(seed, "vs-plain", source, model, task,
                                                 condition))
            rows.append({"source": source, "model": model, "task": task,
                         "condition": condition, "n": int(a.size), **diff.as_dict("gain"),
                         "mcnemar_b": test.b, "mcnemar_c": test.c,
                         "p_exact": test.p_value})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    family = table.groupby(["source", "model"])["p_exact"]
    table["p_holm"] = family.transform(lambda p: pd.Series(holm(p.to_numpy()), index=p.index))
    table["family_tests"] = family.transform(lambda p: int(np.isfinite(p).sum())).astype(int)
    return table


def breakdown(results: pd.DataFrame, by: str, *, seed: int = 0, replicates: int = 2000
              ) -> pd.DataFrame:
    """Accuracy with its design-aware 95 % CI per source × model × condition × task ×
    ``by`` value (the headline accuracy: the mean over paraphrases where several were
    asked, :func:`headline_correct`)."""
    if by not in results.columns:
        return pd.DataFrame()
    rows = []
    values = RowValues.of(results)
    for key, positions in grouped_positions(results, [*CELL, by], dropna=False):
        correct, _, answers = values.headline(positions)
        interval = accuracy_interval(correct, units=values.units(positions), answers=answers,
                                     replicates=replicates,
                                     rng=rng_for(seed, "breakdown", by, *map(str, key)))
        rows.append({**dict(zip([*CELL, by], key, strict=True)), "n": len(positions),
                     **interval.as_dict("accuracy")})
    return pd.DataFrame(rows)


def synthetic_vs_real(cells: pd.DataFrame, *, results: pd.DataFrame, seed: int = 0,
                      replicates: int = 2000
                      ) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Side-by-side accuracies over model × condition cells, and per task Spearman ρ with
    a 95 % CI (:func:`~lesiontrials.analysis.significance.spearman_cells_interval`: each
    source's cases — the design's units, :func:`units_for` — and the cells are resampled;
    no p-value: cells share their answers' cases). ``results``: the answers behind
    ``cells`` (same split, crossed design excluded). Tasks are never pooled: their chance
    levels differ, so a pooled ρ would rank tasks rather than models."""
    if cells.empty or "accuracy" not in cells.columns:
        return pd.DataFrame(), {}
    wide = cells.pivot_table(index=["model", "condition", "task"], columns="source",
                             values="accuracy").reset_index()
    if not {"synthetic", "real"} <= set(wide.columns):
        return wide, {}
    per_task: dict[str, dict[str, Any]] = {}
    for task, rows in wide.dropna(subset=["synthetic", "real"]).groupby("task"):
        keys = list(zip(rows["model"], rows["condition"], strict=True))
        answers = results[results["task"] == task]
        rho, low, high = spearman_cells_interval(
            case_cell_sums(answers[answers["source"] == "synthetic"], keys),
            case_cell_sums(answers[answers["source"] == "real"], keys),
            rng=rng_for(seed, "synthetic-vs-real-cells", str(task)), replicates=replicates)
        per_task[str(task)] = {"cells": len(rows), "models": int(rows["model"].nunique()),
                               "spearman_rho": rho, "spearman_rho_ci_low": low,
                               "spearman_rho_ci_high": high,
                               "spearman_rho_ci_method": "basic-bootstrap-cases-and-cells"}
    return wide, per_task


def case_cell_sums(rows: pd.DataFrame, keys: list[tuple[Any, Any]]) -> CaseCellSums:
    """Headline correctness (:func:`headline_correct`) summed per design unit × cell, for
    the (model, condition) cells ``keys`` of one source × task; a cell without rows is an
    error (the split gives every reported cell its slices)."""
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    groups = dict(iter(rows.groupby(["model", "condition"], sort=False)))
    for key in keys:
        group = groups.get(tuple(key))
        if group is None or group.empty:
            raise ValueError(f"no answers for cell {key} behind its accuracy")
        correct, _, _ = headline_correct(group)
        parts.append((units_for(group)["case"], correct))
    names = np.unique(np.concatenate([units.astype(str) for units, _ in parts]))
    sums = np.zeros((names.size, len(keys)))
    counts = np.zeros((names.size, len(keys)))
    for column, (units, correct) in enumerate(parts):
        index = np.searchsorted(names, units.astype(str))
        np.add.at(sums[:, column], index, correct)
        np.add.at(counts[:, column], index, 1.0)
    return CaseCellSums(sums=sums, counts=counts)
