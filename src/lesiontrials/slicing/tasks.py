"""Tasks: the question, answer options and option wording per task, versioned.

The same question is asked in every guidance condition, so a change in accuracy across
conditions is due to the image alone. ``prompt_hash`` identifies the exact wording: a
changed prompt gets a new hash and the runner re-scores.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Final

from lesiontrials.slicing.contract import TASK_OPTIONS, TASKS

PROMPT_VERSION: Final = "v1"

#: human wording of each option (what a chat model is asked to say)
OPTION_TEXT: Final[dict[str, dict[str, str]]] = {
    "presence": {"present": "present", "absent": "absent"},
    "lobe": {
        "right_lung_upper_lobe": "right upper lobe",
        "right_lung_middle_lobe": "right middle lobe",
        "right_lung_lower_lobe": "right lower lobe",
        "left_lung_upper_lobe": "left upper lobe",
        "left_lung_lower_lobe": "left lower lobe",
    },
    "size": {"<5": "smaller than 5 mm", "5-10": "5 to 10 mm", "10-20": "10 to 20 mm",
             ">=20": "20 mm or larger"},
}

_QUESTIONS: Final[dict[str, str]] = {
    "presence": ("Is there a lung nodule in this axial chest CT slice? "
                 "Answer with one word: present or absent."),
    "lobe": ("In which lung lobe is the nodule in this axial chest CT slice? The image is "
             "shown in radiological convention (the patient's right on the image's left). "
             "Answer with one of: {options}."),
    "size": ("What is the diameter of the nodule in this axial chest CT slice? "
             "Answer with one of: {options}."),
}

#: one caption per option, for contrastive (CLIP-style) zero-shot scoring
CAPTIONS: Final[dict[str, dict[str, str]]] = {
    "presence": {"present": "an axial chest CT slice showing a lung nodule",
                 "absent": "an axial chest CT slice of normal lung without any nodule"},
    "lobe": {k: f"an axial chest CT slice showing a lung nodule in the {v}"
             for k, v in OPTION_TEXT["lobe"].items()},
    "size": {"<5": "an axial chest CT slice showing a tiny lung nodule smaller than 5 mm",
             "5-10": "an axial chest CT slice showing a small lung nodule of 5 to 10 mm",
             "10-20": "an axial chest CT slice showing a lung nodule of 10 to 20 mm",
             ">=20": "an axial chest CT slice showing a large lung mass of 20 mm or more"},
}


@dataclass(frozen=True)
class TaskPrompt:
    """What a model is asked for one task: question text, option ids, wording, captions."""

    task: str
    question: str
    options: tuple[str, ...]
    option_text: dict[str, str]
    captions: dict[str, str]
    version: str = PROMPT_VERSION

    @property
    def prompt_hash(self) -> str:
        """SHA-256 (16 hex) of everything a model sees of the prompt."""
        payload = json.dumps([self.task, self.version, self.question, self.options,
                              self.option_text, self.captions], sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def task_prompt(task: str) -> TaskPrompt:
    """The current prompt for ``task`` (``presence`` | ``lobe`` | ``size``)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; use one of {TASKS}")
    options = TASK_OPTIONS[task]
    listed = ", ".join(OPTION_TEXT[task][o] for o in options)
    return TaskPrompt(task=task, question=_QUESTIONS[task].format(options=listed),
                      options=options, option_text=dict(OPTION_TEXT[task]),
                      captions=dict(CAPTIONS[task]))


def applies_to(task: str, *, kind: str, truth_lobe: str = "", truth_size: str = "") -> bool:
    """Whether an item of ``kind`` is asked ``task``: presence for every slice; lobe and
    size only for positives with that truth known."""
    if task == "presence":
        return True
    if kind != "positive":
        return False
    return bool(truth_lobe) if task == "lobe" else bool(truth_size)
