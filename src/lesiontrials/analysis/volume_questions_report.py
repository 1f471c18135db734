"""The report's part on 3-D vision-language encoders: zero-shot volume questions.

One row per (set, model, task): scans asked, accuracy with a 95 % Wilson score interval,
chance (one over the number of options) and the accuracy of always giving the set's most
frequent answer (what a model that ignores the image can reach). Each scan is asked each
task once, so scans are the independent units and a Wilson interval over them is the
interval for the design; scans without a single answer to a task are not scored on it
(:func:`lesiontrials.scoring.volume_questions.volume_question_truth`).
"""

from __future__ import annotations

import pandas as pd

from lesiontrials.analysis.intervals import wilson
from lesiontrials.analysis.report import markdown_table
from lesiontrials.scoring.models.volume_vlm import VOLUME_PROMPTS

Z_95 = 1.959963984540054
COLUMNS = ("set", "source", "model", "task", "n_scans", "accuracy", "ci_low", "ci_high",
           "chance", "majority")


def volume_question_table(answers: pd.DataFrame) -> pd.DataFrame:
    """``answers``: rows of ``set, source, model, task, truth, correct`` → the table."""
    rows = []
    for (set_name, source, model, task), part in answers.groupby(
            ["set", "source", "model", "task"], sort=True):
        n = len(part)
        accuracy = float(part["correct"].mean()) if n else float("nan")
        low, high = wilson(accuracy, n, Z_95) if n else (float("nan"), float("nan"))
        majority = float(part["truth"].value_counts().iloc[0] / n) if n else float("nan")
        rows.append((set_name, source, model, task, n, accuracy, low, high,
                     1.0 / len(VOLUME_PROMPTS[str(task)]), majority))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def volume_question_markdown(table: pd.DataFrame) -> str:
    """The section body: what was asked, then the table."""
    intro = ("Each 3-D vision-language encoder answers, from the whole CT, which of a fixed "
             "set of report-style sentences matches the scan best (presence: 2 options; "
             "lobe: 5; size bin: 4; the same sentences for every scan). Lobe and size are "
             "asked only of scans whose nodules share one lobe (one size bin). 'majority' is "
             "the accuracy of always giving the most frequent true answer. Intervals: 95 % "
             "Wilson over scans.\n\n")
    return intro + markdown_table(table.round(3))
