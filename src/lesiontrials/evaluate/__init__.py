"""Evaluation: 2-D slice sets under guidance conditions, model adapters, scoring, splits."""

from lesiontrials.evaluate.contract import (
    CHANCE,
    CONDITIONS,
    ITEM_COLUMNS,
    PROFILES,
    TASK_OPTIONS,
    TASKS,
    Answer,
    Item,
    Model,
    ModelCard,
)
from lesiontrials.evaluate.parsing import parse_answer
from lesiontrials.evaluate.runner import read_results, score
from lesiontrials.evaluate.sets import build_eval_set, build_real_set, list_sets
from lesiontrials.evaluate.splits import check_split, make_split

__all__ = [
    "CHANCE",
    "CONDITIONS",
    "ITEM_COLUMNS",
    "PROFILES",
    "TASKS",
    "TASK_OPTIONS",
    "Answer",
    "Item",
    "Model",
    "ModelCard",
    "build_eval_set",
    "build_real_set",
    "check_split",
    "list_sets",
    "make_split",
    "parse_answer",
    "read_results",
    "score",
]
