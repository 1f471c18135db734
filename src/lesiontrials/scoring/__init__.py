"""Scoring: model adapters, the runner, answer parsing, calibration folds,
frozen splits, detection and malignancy scoring."""

from lesiontrials.scoring.parsing import (
    parse_answer,
)
from lesiontrials.scoring.runner import (
    read_results,
    score,
)
from lesiontrials.scoring.splits import (
    check_split,
    make_split,
)

__all__ = [
    "check_split",
    "make_split",
    "parse_answer",
    "read_results",
    "score",
]
