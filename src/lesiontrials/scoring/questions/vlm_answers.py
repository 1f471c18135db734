"""A 3-D vision-language encoder answering question-bank items (``ask --volume-models``).

The encoder (:class:`~lesiontrials.scoring.models.volume_vlm.VolumeVLM`) reads each scored
case's rendered CT — never its label map or truth — and answers by zero-shot similarity to
its fixed sentences (docs/models.md): ``presence`` from the presence task (present → yes),
``lobe`` from the lobe task (the lobe's name) and ``side`` from the same lobe's side. The
sentences do not change with the item's wording or option order, so every case of a
template is asked the same thing. Every other template is "cannot answer".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lesiontrials.anatomy import Lobe
from lesiontrials.io import read_volume, write_parquet
from lesiontrials.paths import Workspace
from lesiontrials.scoring.models.volume_vlm import VolumeVLM
from lesiontrials.scoring.questions.ask import (
    _asked_items,
    _frame,
    _rendered,
    _row,
    _scored_cases,
    read_bank,
)
from lesiontrials.scoring.questions.templates import LOBE_TEXT, NO, YES

#: bank template → the encoder's task that answers it
VLM_TEMPLATES = {"presence": "presence", "lobe": "lobe", "side": "lobe"}


def vlm_reply(template_id: str, options: dict[str, str]) -> str | None:
    """The reply to a template from the encoder's chosen option per task (``None``: the
    encoder cannot answer this template)."""
    task = VLM_TEMPLATES.get(template_id)
    if task is None:
        return None
    option = options[task]
    if template_id == "presence":
        return YES if option == "present" else NO
    if template_id == "lobe":
        return LOBE_TEXT[option]
    return Lobe(option).side.value


def ask_volume_vlm(model: VolumeVLM, *, workspace: Workspace, trial: str) -> Path:
    """Score the encoder on the bank's scored cases → ``questions/results/{model}/``."""
    bank = read_bank(workspace, trial)
    tasks = tuple(sorted(set(VLM_TEMPLATES.values())))
    chosen: dict[str, dict[str, str]] = {}
    for case in _scored_cases(workspace, trial, bank):
        case_dir = workspace.case_dir(trial, case.case_uid)
        if _rendered(case_dir):
            answers = model.zero_shot_all(read_volume(case_dir / "ct.nii.gz"), tasks)
            chosen[case.case_uid] = {task: option for task, (option, _) in answers.items()}
    version = f"vqa-vlm-1+{model.version}"
    rows: list[dict[str, Any]] = []
    for item in _asked_items(bank, all_paraphrases=False):
        if item.template_id not in VLM_TEMPLATES:
            rows.append(_row(item, None, "cannot_answer", model=model.name, version=version))
        elif item.case_uid not in chosen:
            rows.append(_row(item, None, "no_view", model=model.name, version=version))
        else:
            reply = vlm_reply(item.template_id, chosen[item.case_uid])
            rows.append(_row(item, reply, "answered", model=model.name, version=version))
    return write_parquet(_frame(rows), workspace.question_results_dir(model.name)
                         / f"{trial}.parquet")
