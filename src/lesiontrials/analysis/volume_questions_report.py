"""The report's part on 3-D vision-language encoders: zero-shot volume questions.

One row per (set, model, task): scans asked, accuracy with a 95 % interval, chance (one
over the number of options) and the accuracy of always giving the set's most frequent
answer (what a model that ignores the image can reach). Each scan is asked each task once;
synthetic scans that share a host scan are not independent, so when a ``host`` column
shows a host used more than once the interval is the project's host-clustered one
(:func:`lesiontrials.analysis.bootstrap.accuracy_interval` with ``{"host": …}``: Wilson at
the cluster bootstrap's effective n, CR1, normal quantile — the one-factor construction
whose coverage ``bench_stat_calibration.py`` measures), else Wilson over scans. Scans
without a single answer to a task are not scored on it
(:func:`lesiontrials.scoring.volume_questions.volume_question_truth`).
"""

from __future__ import annotations

import pandas as pd

from lesiontrials.analysis.bootstrap import accuracy_interval
from lesiontrials.analysis.report import markdown_table
from lesiontrials.scoring.models.volume_vlm import VOLUME_PROMPTS
from lesiontrials.seeding import rng_for

COLUMNS = ("set", "source", "model", "task", "n_scans", "accuracy", "ci_low", "ci_high",
           "ci_method", "chance", "majority")


def volume_question_table(answers: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """``answers``: rows of ``set, source, model, task, truth, correct`` (and optionally
    ``host``, the scan's host CT) → the table; ``seed`` seeds the cluster bootstrap."""
    rows = []
    for (set_name, source, model, task), part in answers.groupby(
            ["set", "source", "model", "task"], sort=True):
        n = len(part)
        correct = part["correct"].to_numpy(dtype=float)
        hosts = part["host"].astype(str).to_numpy() if "host" in part else None
        if "host" in part and (part["host"].isna() | (hosts == "")).any():
            # scans without a host would all fall into one "nan" cluster
            raise ValueError(f"volume answers of {model} on {set_name}/{task}: scans "
                             "without a host CT; give every scan its host (volume set "
                             "truth) or leave the host column out")
        shared = hosts is not None and len(set(hosts)) < n
        interval = accuracy_interval(
            correct, units={"host": hosts} if shared and hosts is not None else None,
            rng=rng_for(seed, "volume-questions", set_name, model, task))
        majority = float(part["truth"].value_counts().iloc[0] / n)
        rows.append((set_name, source, model, task, n, interval.estimate, interval.low,
                     interval.high, interval.method, 1.0 / len(VOLUME_PROMPTS[str(task)]),
                     majority))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def volume_question_markdown(table: pd.DataFrame) -> str:
    """The section body: what was asked, then the table."""
    intro = ("Each 3-D vision-language encoder answers, from the whole CT, which of a fixed "
             "set of report-style sentences matches the scan best (presence: 2 options; "
             "lobe: 5; size bin: 4; the same sentences for every scan). Lobe and size are "
             "asked only of scans whose nodules share one lobe (one size bin). 'majority' is "
             "the accuracy of always giving the most frequent true answer. Intervals: 95 %, "
             "clustered by host scan where synthetic scans share a host (ci_method "
             "wilson-design-effect), else Wilson over scans.\n\n")
    return intro + markdown_table(table.round(3))
