"""Slicing: 2-D evaluation sets (slices, overlays, display windows) and volume
sets, with the item contract."""

from lesiontrials.slicing.contract import (
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
from lesiontrials.slicing.sets import (
    build_eval_set,
    build_real_set,
    list_sets,
)

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
    "list_sets",
]
