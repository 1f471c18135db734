"""Prompt paraphrases: distinct wordings/orders, each scored and stored with its id."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from evalsynth import TRIAL

from lesiontrials.scoring.models.registry import MODELS
from lesiontrials.scoring.paraphrases import PRIMARY, paraphrase, paraphrases
from lesiontrials.scoring.runner import read_results, score
from lesiontrials.slicing.contract import TASK_OPTIONS, TASKS, Answer, Item
from lesiontrials.slicing.tasks import task_prompt


@pytest.mark.parametrize("task", TASKS)
def test_paraphrases_differ_and_keep_the_options(task: str) -> None:
    found = paraphrases(task)
    assert len(found) >= 4 and found[0].id == PRIMARY
    assert found[0].prompt == task_prompt(task)
    assert len({p.prompt.question for p in found}) == len(found)
    assert len({p.prompt.prompt_hash for p in found}) == len(found)
    for p in found:
        assert set(p.prompt.options) == set(TASK_OPTIONS[task])
    assert found[-1].prompt.options == tuple(reversed(TASK_OPTIONS[task]))
    with pytest.raises(ValueError, match="p9"):
        paraphrase(task, "p9")


@dataclass
class Reader:
    """Answers the first option listed: its accuracy depends on the option order."""

    name: str = "reader"
    profile: str = "lung"
    uses_context: bool = False
    reads_prompt: bool = True
    version: str = "1"

    def answer(self, items: list[Item]) -> list[Answer]:
        return [Answer(item.options[0], raw_text=item.question) for item in items]


def test_each_paraphrase_is_scored_and_stored(fresh_trial, monkeypatch) -> None:
    monkeypatch.setitem(MODELS, "reader", lambda **kw: Reader())
    ws = fresh_trial.workspace
    summary = score(model="reader", workspace=ws, sets=[TRIAL], conditions=["plain"],
                    tasks=["presence"], show_progress=False)
    assert summary.cells[0]["paraphrases"] == 4 and summary.cells[0]["to_score"] == 24
    frame = read_results(ws, model="reader", set_name=TRIAL, condition="plain",
                         task="presence", paraphrase=None)
    assert len(frame) == 24 and frame.groupby("paraphrase").size().eq(6).all()
    by_id = {p.id: p.prompt.question for p in paraphrases("presence")}
    assert all(by_id[pid] == text for pid, text in zip(frame.paraphrase, frame.raw_text,
                                                       strict=True))
    accuracy = frame.groupby("paraphrase").correct.mean()
    assert accuracy["p0"] == 0.5 and accuracy["p3"] == 0.5  # 3 positives, 3 negatives
    assert set(frame[frame.paraphrase == "p3"].option) == {"absent"}
    again = score(model="reader", workspace=ws, sets=[TRIAL], conditions=["plain"],
                  tasks=["presence"], show_progress=False)
    assert again.cells[0]["to_score"] == 0  # resumable per paraphrase
    canonical = score(model="reader", workspace=ws, sets=[TRIAL], conditions=["plain"],
                      tasks=["presence"], show_progress=False, all_paraphrases=False)
    assert canonical.cells[0]["paraphrases"] == 1
    assert set(read_results(ws, model="reader", set_name=TRIAL, condition="plain",
                            task="presence", paraphrase=None).paraphrase) == {"p0"}
