"""Where a model fails, per stratum, and which failed nodules a targeted trial aims at.

Input: one row per scored slice with the item columns (``kind``, ``truth_size``,
``truth_lobe``, ``appearance``, ``host_dataset``, ``donor_uid``, ``case_uid``) and a
boolean ``correct`` (:func:`scored_items`). A *failure* is a positive slice answered
wrongly: a missed or mis-sized or mis-located nodule, whose donor nodule the ``targeted``
design can look for similar donors to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.paths import Workspace
from lesiontrials.scoring.results import read_results, set_items

#: the item columns failures are counted by (``attenuation``: see :func:`with_attenuation`)
FAILURE_STRATA: Final = ("truth_size", "truth_lobe", "attenuation", "host_dataset")
FAILURE_COLUMNS: Final = ("stratum", "value", "n_positive", "n_failed", "failure_rate")


@dataclass(frozen=True)
class FailureTarget:
    """One failed nodule the targeted trial aims at: its donor uid and what it was."""

    donor_uid: str
    truth_size: str
    truth_lobe: str
    attenuation: str
    host_dataset: str
    n_failed_slices: int
    priority: float  # mean failure rate of its strata (higher first)


def scored_items(workspace: Workspace, *, model: str, sets: Sequence[str], task: str,
                 condition: str, profile: str = "lung") -> pd.DataFrame:
    """The items of ``sets`` that ``model`` answered in (condition, task), with ``correct``.

    Only items the task applies to are expected (lobe and size: positives with a known
    answer); one of them without an answer is an error: failures would be undercounted."""
    from lesiontrials.slicing.tasks import applies_to

    frames = []
    for set_name in sets:
        items = set_items(workspace, set_name, profile).drop_duplicates("slice_uid")
        asked = [applies_to(task, kind=str(k), truth_lobe=str(lobe), truth_size=str(size))
                 for k, lobe, size in zip(items["kind"], items["truth_lobe"].fillna(""),
                                          items["truth_size"].fillna(""), strict=True)]
        items = items[asked]
        frame = read_results(workspace, model=model, set_name=set_name,
                             condition=condition, task=task)
        if frame.empty:
            raise InputError(f"model {model!r} has no {task}/{condition} results on set "
                             f"{set_name!r}", fix="score it on the set first")
        correct = frame.set_index("slice_uid")["correct"].astype(bool)
        missing = sorted(set(items["slice_uid"]) - set(correct.index))
        if missing:
            raise InputError(f"set {set_name!r}: {len(missing)} item(s) have no answer from "
                             f"{model!r} (first {missing[0]})", fix="score every item")
        rows = items.copy()
        rows["correct"] = rows["slice_uid"].map(correct).to_numpy(bool)
        frames.append(rows)
    return with_attenuation(pd.concat(frames, ignore_index=True))


def with_attenuation(items: pd.DataFrame) -> pd.DataFrame:
    """``items`` plus ``attenuation``: the class (solid, part_solid, ground_glass) its
    ``appearance`` description states, ``'(unstated)'`` when it states none, empty on
    negatives. The description itself is unique per nodule (it names the size), so it
    cannot be a stratum; its attenuation class can."""
    from lesiontrials.lesion_text.parse import parse_description

    def classify(text: object) -> str:
        stated = parse_description(str(text)).overrides.attenuation if str(text) else None
        return "(unstated)" if stated is None else str(stated)

    out = items.copy()
    classes = {text: classify(text) for text in out["appearance"].astype(str).unique()}
    out["attenuation"] = out["appearance"].astype(str).map(classes)
    out.loc[out["kind"] != "positive", "attenuation"] = ""
    return out


def failure_strata(scored: pd.DataFrame) -> pd.DataFrame:
    """Failure rate of positive slices per value of each of :data:`FAILURE_STRATA`
    (columns :data:`FAILURE_COLUMNS`; an empty value reads ``'(none)'``)."""
    positives = scored[scored["kind"] == "positive"]
    out = []
    for stratum in FAILURE_STRATA:
        values = positives[stratum].astype(str).replace("", "(none)")
        for value in sorted(values.unique()):
            rows = positives[values == value]
            failed = int((~rows["correct"]).sum())
            out.append({"stratum": stratum, "value": value, "n_positive": len(rows),
                        "n_failed": failed, "failure_rate": failed / len(rows)})
    return pd.DataFrame(out, columns=list(FAILURE_COLUMNS))


def choose_targets(scored: pd.DataFrame, *, max_targets: int) -> list[FailureTarget]:
    """Up to ``max_targets`` failed donor nodules, those of the worst strata first.

    A nodule's priority is the mean, over :data:`FAILURE_STRATA`, of the failure rate of
    its stratum value, so nodules in the size bins, lobes, appearances and host datasets
    the model misses most are aimed at first; ties by more failed slices, then uid (so the
    choice is deterministic)."""
    if max_targets < 1:
        raise InputError(f"max_targets {max_targets}", fix="aim at one failure or more")
    rates = failure_strata(scored)
    lookup = {(r.stratum, r.value): float(r.failure_rate) for r in rates.itertuples()}
    failed = scored[(scored["kind"] == "positive") & ~scored["correct"]
                    & (scored["donor_uid"].astype(str) != "")]
    targets = []
    for uid, rows in failed.groupby(failed["donor_uid"].astype(str), sort=True):
        first = rows.iloc[0]
        values = {s: (str(first[s]) or "(none)") for s in FAILURE_STRATA}
        priority = float(np.mean([lookup[(s, v)] for s, v in values.items()]))
        targets.append(FailureTarget(str(uid), str(first["truth_size"]),
                                     str(first["truth_lobe"]), str(first["attenuation"]),
                                     str(first["host_dataset"]), len(rows), priority))
    targets.sort(key=lambda t: (-t.priority, -t.n_failed_slices, t.donor_uid))
    return targets[:max_targets]
