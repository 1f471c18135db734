"""A fair test of the council: calibrated on one synthetic fold, judged on data it never saw.

The council (:mod:`.council`) is built from synthetic data only: each cell's model ranking
from the *calibration fold*'s cell accuracies (:mod:`lesiontrials.scoring.calibration`),
whether to route from the donor/host verdicts of the crossed design. It is then evaluated
on the held-out synthetic slices and on the real slices of the frozen split, the crossed
design left out (its slices informed the verdicts), against

* every fixed model;
* the best fixed model chosen on synthetic: per task × condition, the model with the
  highest accuracy on the calibration fold (what one would do without the diagnostic);
* the oracle router: per task × condition, the model with the highest accuracy on the
  evaluation slices themselves. It chooses with the evaluation labels, so it is an upper
  bound, not a method.

Differences are paired on the same slices with design-aware CIs
(:func:`~lesiontrials.analysis.bootstrap.paired_difference`; units from
:mod:`.design_units`). The comparison on the calibration fold itself is in-sample and is
labelled so.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.analysis.bootstrap import paired_difference
from lesiontrials.analysis.council import Council, apply_council, build_council, fixed_routes
from lesiontrials.analysis.design_units import RowUnits, is_crossed
from lesiontrials.analysis.report_data import ANALYSIS_VERSION
from lesiontrials.seeding import rng_for

IN_SAMPLE = "synthetic calibration fold (in-sample)"
HELD_OUT = "synthetic held-out fold"
REAL = "real"
BEST_SYNTHETIC = "best on synthetic"  # the best fixed model chosen on the calibration fold
ORACLE = "oracle (upper bound)"  # chooses on the evaluation labels themselves


@dataclass(frozen=True)
class CouncilEvaluation:
    """The council, its routed cells, and paired comparisons per task (and per cell)."""

    council: Council
    verdicts: dict[str, dict[str, Any]]
    per_task: pd.DataFrame
    per_cell: pd.DataFrame
    routed: int
    why_not_routed: str

    def record(self) -> dict[str, Any]:
        return {"analysis_version": ANALYSIS_VERSION, "built": True,
                "council": self.council.to_dict(), "routed_cells": self.routed,
                "why_not_routed": self.why_not_routed, "verdicts": self.verdicts,
                "per_task": self.per_task.to_dict(orient="records"),
                "per_cell": self.per_cell.to_dict(orient="records")}


def correctness(answers: pd.DataFrame) -> pd.DataFrame:
    """Per model × task × condition × slice: 0/1 correctness (``option == truth``)."""
    return answers.assign(correct=(answers["option"] == answers["truth"]).astype(float))


def cell_accuracy(answers: pd.DataFrame) -> pd.DataFrame:
    """Point accuracy per model × condition × task (what the council is built from)."""
    return (correctness(answers).groupby(["model", "condition", "task"])["correct"].mean()
            .rename("accuracy").reset_index())


def _policies(answers: pd.DataFrame, council: Council, best: Council
              ) -> dict[tuple[str, str], pd.Series]:
    """(name, kind) → correctness indexed by (task, condition, slice_uid)."""
    keys = ["task", "condition", "slice_uid"]
    oracle = fixed_routes(cell_accuracy(answers), reason="oracle")
    out: dict[tuple[str, str], pd.Series] = {}
    for name, kind, policy in (("council", "council", council),
                               (BEST_SYNTHETIC, "best on synthetic", best),
                               (ORACLE, "oracle", oracle)):
        decided = correctness(apply_council(policy, answers))
        out[(name, kind)] = decided.set_index(keys)["correct"]
    for model, rows in correctness(answers).groupby("model"):
        out[(str(model), "fixed model")] = rows.set_index(keys)["correct"]
    return out


@dataclass(frozen=True)
class _Decided:
    """One evaluation set's policies (:func:`_policies`) and its slices' design units,
    decided once and compared per task and per task × condition."""

    policies: dict[tuple[str, str], pd.Series]
    slices: pd.Index  # slice_uid of each row of ``units``
    units: RowUnits

    @classmethod
    def of(cls, answers: pd.DataFrame, council: Council, best: Council) -> _Decided:
        meta = answers.drop_duplicates("slice_uid").reset_index(drop=True)
        return cls(_policies(answers, council, best), pd.Index(meta["slice_uid"]),
                   RowUnits.of(meta))


def _compare(decided: _Decided, evaluated_on: str, *, by: list[str], seed: int,
             replicates: int) -> list[dict[str, Any]]:
    policies = dict(decided.policies)
    mine = policies.pop(("council", "council"))
    rows = []
    for (name, kind), theirs in sorted(policies.items()):
        common = mine.index.intersection(theirs.index)
        frame = pd.DataFrame({"council": mine.loc[common], "other": theirs.loc[common]})
        for key, group in frame.groupby(level=by, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            slices = group.index.get_level_values("slice_uid")
            positions = decided.slices.get_indexer(slices)
            if (positions < 0).any():
                raise ValueError(f"{evaluated_on}: a compared slice has no answer row")
            units = decided.units.take(positions)
            diff = paired_difference(group["council"].to_numpy(), group["other"].to_numpy(),
                                     units=units,
                                     replicates=replicates,
                                     rng=rng_for(seed, "council-eval", evaluated_on, name,
                                                 *map(str, key)))
            rows.append({"evaluated_on": evaluated_on, **dict(zip(by, key, strict=True)),
                         "comparator": name, "comparator_kind": kind, "n": len(group),
                         "council_accuracy": float(group["council"].mean()),
                         "comparator_accuracy": float(group["other"].mean()),
                         **diff.as_dict("council_minus_comparator")})
    return rows


def _why_not_routed(council: Council, verdicts: dict[str, dict[str, Any]]) -> str:
    if any(rule.mode == "route" for rule in council.rules):
        return ""
    if not verdicts:
        return ("no task has a verdict: too few crossed-design answers (at least 2 donors "
                "and 2 hosts per task)")
    def describe(record: dict[str, Any]) -> str:
        size = (f"{record['donors']} donors × {record['hosts']} hosts"
                if {"donors", "hosts"} <= set(record) else "")
        why = str(record.get("verdict_reason", ""))
        detail = "; ".join(part for part in (size, why) if part)
        return f"{record['verdict']}" + (f" — {detail}" if detail else "")

    listed = ", ".join(f"{task}: {describe(record)}" for task, record in sorted(
        verdicts.items()))
    return ("no task was called donor-driven by the crossed design (" + listed + "), so "
            "every cell uses the fallback")


def evaluate_council(scored: pd.DataFrame, *, calibration_uids: Collection[str],
                     reported: pd.DataFrame, verdicts: dict[str, dict[str, Any]],
                     fallback: str = "weighted_vote", seed: int = 0, replicates: int = 2000
                     ) -> CouncilEvaluation:
    """Build the council on the calibration fold and compare it out of sample.

    ``scored``: every answer (the calibration fold is taken from it); ``reported``: the
    answers on the frozen split's slices (held-out synthetic and real); ``verdicts``:
    :func:`~lesiontrials.analysis.diagnostic.task_verdicts` of the crossed design, whose
    slices are left out of every comparison here.
    """
    fold = set(calibration_uids)
    calibration = scored[scored["slice_uid"].isin(fold) & (scored["source"] == "synthetic")]
    if calibration.empty:
        raise ValueError("the calibration fold has no synthetic answers to build the "
                         "council from")
    calibration_cells = cell_accuracy(calibration)
    council = build_council(calibration_cells, verdicts, fallback=fallback)
    best = fixed_routes(calibration_cells, reason=BEST_SYNTHETIC)
    evaluations = [(IN_SAMPLE, calibration), (HELD_OUT, reported[reported["source"] ==
                                                                 "synthetic"]),
                   (REAL, reported[reported["source"] == "real"])]
    per_task: list[dict[str, Any]] = []
    per_cell: list[dict[str, Any]] = []
    for name, answers in evaluations:
        answers = answers[~is_crossed(answers)]
        if answers.empty:
            continue
        decided = _Decided.of(answers, council, best)
        per_task += _compare(decided, name, by=["task"], seed=seed, replicates=replicates)
        per_cell += _compare(decided, name, by=["task", "condition"], seed=seed,
                             replicates=replicates)
    routed = int(np.sum([rule.mode == "route" for rule in council.rules]))
    return CouncilEvaluation(council, verdicts, pd.DataFrame(per_task), pd.DataFrame(per_cell),
                             routed, _why_not_routed(council, verdicts))
