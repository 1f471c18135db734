"""Models answering the question bank: adapters, the runner's rows, no leak."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lesiontrials.io import write_json, write_parquet, write_png
from lesiontrials.paths import Workspace
from lesiontrials.scoring.models.prior import MajorityPrior
from lesiontrials.scoring.questions.adapters import (
    Asked,
    PromptAnswerer,
    QuestionPrior,
    TaskAnswerer,
    answerer_for,
)
from lesiontrials.scoring.questions.ask import ask_slice_model, read_bank
from lesiontrials.scoring.questions.bank import build_bank
from lesiontrials.scoring.questions.scoring import score_reply
from lesiontrials.scoring.questions.truth import CaseTruth, NoduleTruth
from lesiontrials.scoring.questions.workspace import write_question_bank
from lesiontrials.slicing.contract import Answer, Item
from lesiontrials.testing_records import eval_item_row

LOBES = {"right_lung_lower_lobe": "right", "left_lung_upper_lobe": "left"}


def _nodule(d: float, lobe: str, index: int = 0) -> NoduleTruth:
    return NoduleTruth(index=index, lobe=lobe, side=LOBES[lobe], zone="lower_zone",
                       diameter_mm=d, max_diameter_mm=d, volume_mm3=d ** 3 / 2,
                       pleural_distance_mm=8.0, centroid_mm=(0.0, 0.0, -40.0 * index),
                       attenuation=None, solid_fraction=None, calcification=None)


def _cases(n: int) -> list[CaseTruth]:
    lobes = list(LOBES)
    return [CaseTruth(f"c-{k:05d}", () if k % 3 == 0 else (_nodule(5.0 + k, lobes[k % 2]),))
            for k in range(n)]


@dataclass
class Fixed:
    """A slice-task model answering a fixed option per task (records what it saw)."""

    name: str = "fixed"
    version: str = "1"
    seen: list[Item] | None = None

    def answer(self, items: list[Item]) -> list[Answer]:
        self.seen = [*(self.seen or []), *items]
        fixed = {"presence": "present", "lobe": "left_lung_upper_lobe", "size": "5-10"}
        return [Answer(fixed[i.task]) for i in items]


@dataclass
class Echo:
    """A prompt-reading 'model' that replies with everything it was given."""

    name: str = "echo"
    version: str = "1"
    reads_prompt: bool = True

    def answer(self, items: list[Item]) -> list[Answer]:
        return [Answer("", raw_text=repr(i)) for i in items]


def _view(uid: str) -> Item:
    return Item(slice_uid=f"s-{uid}", task="", condition="plain", profile="lung",
                question="", options=(), image=np.zeros((8, 8), np.uint8), case_uid=uid)


def test_asked_carries_no_answer_or_split() -> None:
    names = {f.name for f in fields(Asked)}
    assert not names & {"answer", "split"}
    item = build_bank(_cases(3))[0]
    assert str(item.answer) not in repr(Asked.from_item(item)).replace(item.question, "") or (
        item.answer in ("yes", "no"))


def test_what_a_model_is_asked_does_not_depend_on_the_truth() -> None:
    """Same cases, other lobes and sizes: every question a model receives is identical
    (text, options and their order), so no input channel carries the answer."""
    a = _cases(12)
    b = [CaseTruth(c.case_uid, tuple(_nodule(n.diameter_mm + 3.0,
                                             "left_lung_upper_lobe" if n.side == "right"
                                             else "right_lung_lower_lobe", n.index)
                                     for n in c.nodules)) for c in a]
    asked_a = {i.uid: Asked.from_item(i) for i in build_bank(a)}
    asked_b = {i.uid: Asked.from_item(i) for i in build_bank(b)}
    assert asked_a.keys() == asked_b.keys()
    assert asked_a == asked_b
    answers_a = {i.uid: i.answer for i in build_bank(a)}
    answers_b = {i.uid: i.answer for i in build_bank(b)}
    assert any(answers_a[u] != answers_b[u] for u in answers_a)  # the truths do differ


def test_task_answerer_maps_slice_tasks_and_refuses_the_rest() -> None:
    bank = [i for i in build_bank(_cases(6)) if i.paraphrase == 0]
    model = Fixed()
    answerer = TaskAnswerer(model)
    answerable = [i for i in bank if answerer.can_answer(i.template_id)]
    assert {i.template_id for i in answerable} == {"presence", "lobe", "side"}
    assert not answerer.can_answer("count") and not answerer.can_answer("mean_diameter")
    replies = answerer.answer([Asked.from_item(i) for i in answerable],
                              [_view(i.case_uid) for i in answerable])
    expected = {"presence": "yes", "lobe": "left upper lobe", "side": "left"}
    assert replies == [expected[i.template_id] for i in answerable]
    assert {i.task for i in model.seen or []} == {"presence", "lobe"}


def test_prior_fits_on_the_calibration_fold_only() -> None:
    bank = build_bank(_cases(30), dev_fraction=0.4)
    dev = [i for i in bank if i.split == "dev"]
    prior = QuestionPrior()
    prior.fit(dev, fold="dev")
    presence = [i.answer for i in dev if i.template_id == "presence"]
    assert prior.answers["presence"] == max(set(presence), key=presence.count)
    diam = sorted(float(i.answer) for i in dev if i.template_id == "mean_diameter")
    assert float(prior.answers["mean_diameter"]) == pytest.approx(np.median(diam), abs=0.05)
    # changing every scored (test) answer changes nothing: the prior never reads them
    flipped = dev + [type(i)(**{**i.__dict__, "answer": "no"}) for i in bank
                     if i.split == "test"]
    again = QuestionPrior()
    again.fit([i for i in flipped if i.split == "dev"], fold="dev")
    assert again.answers == prior.answers
    assert isinstance(answerer_for(MajorityPrior()), QuestionPrior)


def test_an_echoing_model_scores_nothing() -> None:
    """Replying with the whole input (question, options, view) must never be scored right:
    the input holds no answer, and naming every option is not an answer."""
    bank = [i for i in build_bank(_cases(9)) if i.answer_type == "choice"]
    answerer = PromptAnswerer(Echo())
    replies = answerer.answer([Asked.from_item(i) for i in bank], [_view(i.case_uid)
                                                                  for i in bank])
    assert not any(score_reply(i, r).correct for i, r in zip(bank, replies, strict=True))


def _workspace(tmp_path: Path, cases: list[CaseTruth]) -> Workspace:
    """insert.json per case and a one-profile evaluation set with one plain view per case
    (the first case has none)."""
    ws = Workspace(tmp_path)
    rows = []
    for case in cases:
        write_json({"case_uid": case.case_uid, "status": "done", "nodules": [
            {"nodule_index": n.index, "realised": {
                "lobe": n.lobe, "side": n.side, "zone": n.zone,
                "equivalent_diameter_mm": n.diameter_mm, "max_axis_diameter_mm": n.diameter_mm,
                "volume_mm3": n.volume_mm3, "pleural_distance_mm": 8.0,
                "centroid_mm": list(n.centroid_mm)}} for n in case.nodules]},
            ws.case_dir("t", case.case_uid) / "insert.json")
        if case is cases[0]:
            continue
        uid = f"s-{case.case_uid}"
        png = f"images/{uid}.png"
        write_png(ws.eval_dir("t", "lung") / png, np.full((16, 16), 40, np.uint8))
        rows.append(eval_item_row(slice_uid=uid, case_uid=case.case_uid, set="t", trial="t",
                                  kind="positive" if case.nodules else "negative",
                                  nodule_index=case.nodules[0].index if case.nodules else -1,
                                  condition="plain", image_path=png,
                                  context_paths=json.dumps([png, png, png]),
                                  pixel_spacing_mm=0.7))
    write_parquet(pd.DataFrame(rows), ws.eval_dir("t", "lung") / "cases.parquet")
    write_question_bank(ws, "t", seed=0, dev_fraction=0.0)
    return ws


def test_runner_rows_statuses_and_scores(tmp_path: Path) -> None:
    cases = _cases(7)
    ws = _workspace(tmp_path, cases)
    rows = pd.read_parquet(ask_slice_model(Fixed(), workspace=ws, trial="t"))
    bank = [i for i in read_bank(ws, "t") if i.paraphrase == 0]
    assert sorted(rows["uid"]) == sorted(i.uid for i in bank)
    status = dict(zip(rows["uid"], rows["status"], strict=True))
    for item in bank:
        if item.template_id not in ("presence", "lobe", "side"):
            assert status[item.uid] == "cannot_answer"
        elif item.case_uid == cases[0].case_uid:
            assert status[item.uid] == "no_view"
        else:
            assert status[item.uid] == "answered"
    answered = rows[rows["status"] == "answered"].set_index("uid")
    truth = {i.uid: i.answer for i in bank}
    for uid, row in answered.iterrows():
        fixed = {"presence": "yes", "lobe": "left upper lobe", "side": "left"}[row.template_id]
        assert bool(row["correct"]) == (truth[str(uid)] == fixed)
    # deterministic bytes
    path = ws.question_results_dir("fixed") / "t.parquet"
    first = path.read_bytes()
    ask_slice_model(Fixed(), workspace=ws, trial="t")
    assert path.read_bytes() == first


def test_prior_without_calibration_fold_cannot_answer(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, _cases(4))  # dev_fraction 0: no calibration items
    rows = pd.read_parquet(ask_slice_model(MajorityPrior(), workspace=ws, trial="t"))
    assert set(rows["status"]) == {"cannot_answer"}
