"""Contracts of the evaluation stage: items, tasks, answers and the model protocol.

An *item* is one 2-D evaluation image (a centre slice with its z−1/z+1 neighbours as
context) under one guidance condition in one preprocessing profile. Items of the same
slice share a canonical ``slice_uid`` across conditions and profiles. Evaluation sets are
written as ``eval/{set}/{profile}/cases.parquet`` (one row per slice uid × condition, the
columns of :data:`ITEM_COLUMNS`) with PNGs under ``eval/{set}/{profile}/images/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

import numpy as np

from lesiontrials import anatomy
from lesiontrials.records.tables import EvalItem

CONDITIONS: Final = ("plain", "bbox", "contour", "bbox_contour")
PROFILES: Final = ("lung", "medgemma_rgb")  # 8-bit lung window grey; MedGemma-style RGB
TASKS: Final = ("presence", "lobe", "size")
#: answer options per task (the parsers map free text onto these)
TASK_OPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "presence": ("present", "absent"),
    "lobe": tuple(lobe.value for lobe in anatomy.Lobe),
    "size": anatomy.TASK_SIZE_BINS,
}
CHANCE: Final[dict[str, float]] = {"presence": 0.5, "lobe": 0.2, "size": 0.25}

#: columns of eval/{set}/{profile}/cases.parquet, one row per (slice_uid, condition): the
#: fields of :class:`lesiontrials.records.EvalItem` (each described there), in order
ITEM_COLUMNS: Final[tuple[str, ...]] = tuple(EvalItem.model_fields)


@dataclass(frozen=True)
class Item:
    """What a model sees for one question."""

    slice_uid: str
    task: str
    condition: str
    profile: str
    question: str
    options: tuple[str, ...]
    image: np.ndarray  # (H, W) uint8 grey or (H, W, 3) uint8 RGB
    context: tuple[np.ndarray, ...] = ()  # neighbour slices (z-1, z+1), same encoding
    pixel_spacing_mm: float = float("nan")  # in-plane pixel size; NaN when unknown
    #: the item's case (synthetic case uid, or '{dataset}/{ct_id}' of a real scan): an
    #: identifier only, so a trained model can refuse cases it was trained on
    case_uid: str = ""


@dataclass(frozen=True)
class Answer:
    """A model's answer: the chosen option ('' when unparsed), raw text, optional scores."""

    option: str
    raw_text: str = ""
    scores: dict[str, float] | None = None  # option -> score/probability when available
    parse_status: str = "ok"  # 'ok' | 'unparsed' | 'ambiguous'


@runtime_checkable
class Model(Protocol):
    """Every model adapter: a name, a version string for the result cache key, answers.

    Optional attributes the runner reads when present: ``profile`` (the preprocessing
    profile the model reads, default ``'lung'``), ``uses_context`` (whether
    :attr:`Item.context` should be filled with the z−1/z+1 slices, default ``True``) and
    ``reads_image`` (default ``True``; ``False``: :attr:`Item.image` is a blank 1×1 image
    and no file is read — for models that answer without looking, like the majority prior).
    """

    name: str

    @property
    def version(self) -> str: ...

    def answer(self, items: list[Item]) -> list[Answer]: ...


@dataclass(frozen=True)
class ModelCard:
    """Identity recorded with every result shard."""

    name: str
    version: str
    kind: str  # 'baseline' | 'clip' | 'chat_vlm' | 'openai_endpoint'
    extra: dict[str, str] = field(default_factory=dict)
