"""Per-stratum gain of one model over another on the same items, with paired intervals.

The last step of the targeted loop: after retraining, compare the retrained model with the
original (or with a model retrained on the same number of untargeted cases) on the *same*
held-out slices. Each stratum's gain is mean(correct_a) − mean(correct_b) with the paired
interval of :func:`~lesiontrials.analysis.bootstrap.paired_difference`, whose units are the
design's (:func:`~lesiontrials.analysis.design_units.units_for`: cases, or donors and hosts
in a crossed design), so reused cases are resampled as units, not as items.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd

from lesiontrials.analysis.bootstrap import paired_difference
from lesiontrials.analysis.design_units import units_for
from lesiontrials.errors import InputError
from lesiontrials.paths import Workspace
from lesiontrials.scoring.results import read_results, set_items
from lesiontrials.seeding import rng_for

#: item columns a gain can be stratified by
STRATA: Final = ("truth_size", "truth_lobe", "appearance", "attenuation", "host_dataset",
                  "set", "kind")
GAIN_COLUMNS: Final = ("stratum", "value", "n_items", "n_cases", "accuracy_a", "accuracy_b",
                       "gain", "gain_ci_low", "gain_ci_high", "gain_ci_method")


def paired_items(workspace: Workspace, *, model_a: str, model_b: str, sets: Sequence[str],
                 task: str, condition: str, profile: str = "lung") -> pd.DataFrame:
    """One row per slice scored by both models: the item's columns plus ``correct_a`` and
    ``correct_b``. A slice scored by one model only is an error (the comparison would not
    be paired)."""
    frames = []
    for set_name in sets:
        items = set_items(workspace, set_name, profile).drop_duplicates("slice_uid")
        answers = {}
        for label, model in (("a", model_a), ("b", model_b)):
            frame = read_results(workspace, model=model, set_name=set_name,
                                 condition=condition, task=task)
            if frame.empty:
                raise InputError(f"model {model!r} has no {task}/{condition} results on set "
                                 f"{set_name!r}", fix=f"score it: lesiontrials score --model "
                                 f"... -s {set_name} -c {condition} -t {task}")
            answers[label] = frame.set_index("slice_uid")["correct"].astype(bool)
        only = set(answers["a"].index) ^ set(answers["b"].index)
        if only:
            raise InputError(f"set {set_name!r}: {len(only)} slice(s) scored by one model only "
                             f"(e.g. {sorted(only)[0]})", fix="score both models on the same "
                             "sets, conditions and tasks")
        rows = items[items["slice_uid"].isin(answers["a"].index)].copy()
        rows["correct_a"] = rows["slice_uid"].map(answers["a"]).to_numpy(bool)
        rows["correct_b"] = rows["slice_uid"].map(answers["b"]).to_numpy(bool)
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def per_stratum_gain(paired: pd.DataFrame, *, by: str, seed: int = 0,
                     replicates: int = 2000) -> pd.DataFrame:
    """Gain of model a over b overall (``stratum='all'``) and per value of ``by`` (columns
    :data:`GAIN_COLUMNS`; negatives have no size, lobe or appearance and form the value
    ``'(negative)'``)."""
    if by not in STRATA:
        raise InputError(f"cannot stratify by {by!r}", fix=f"use one of {list(STRATA)}")
    values = paired[by].astype(str).where(paired["kind"] == "positive", "(negative)") if (
        by in ("truth_size", "truth_lobe", "appearance", "attenuation")
    ) else paired[by].astype(str)
    out = [_gain(paired, "all", "all", seed=seed, replicates=replicates)]
    for value in sorted(values.unique()):
        out.append(_gain(paired[values == value], by, value, seed=seed,
                         replicates=replicates))
    return pd.DataFrame(out, columns=list(GAIN_COLUMNS))


def _gain(rows: pd.DataFrame, stratum: str, value: str, *, seed: int,
          replicates: int) -> dict[str, object]:
    a = rows["correct_a"].to_numpy(np.float64)
    b = rows["correct_b"].to_numpy(np.float64)
    interval = paired_difference(a, b, units=units_for(rows), replicates=replicates,
                                 rng=rng_for(seed, "gain", stratum, value))
    return {"stratum": stratum, "value": value, "n_items": len(rows),
            "n_cases": int(rows["case_uid"].nunique()), "accuracy_a": float(a.mean()),
            "accuracy_b": float(b.mean()), "gain": interval.estimate,
            "gain_ci_low": interval.low, "gain_ci_high": interval.high,
            "gain_ci_method": interval.method}
