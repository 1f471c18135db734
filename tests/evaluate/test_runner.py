"""The runner: shards per cell, resume after interruption, re-scoring on a changed prompt
or model version, free-text parsing, and the result columns."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import pytest
from evalsynth import TRIAL

from lesiontrials.errors import InputError
from lesiontrials.scoring.models.registry import MODELS
from lesiontrials.scoring.runner import RESULT_COLUMNS, read_results, score
from lesiontrials.slicing import tasks as task_module
from lesiontrials.slicing.contract import CONDITIONS, Answer, Item


@dataclass
class TextModel:
    """A chat-like model: answers free text only; can fail after a number of items."""

    name: str = "texter"
    profile: str = "lung"
    uses_context: bool = False
    fail_after: int | None = None
    tag: str = "1"
    seen: int = 0

    @property
    def version(self) -> str:
        return self.tag

    def answer(self, items: list[Item]) -> list[Answer]:
        out = []
        for item in items:
            self.seen += 1
            if self.fail_after is not None and self.seen > self.fail_after:
                raise RuntimeError("interrupted")
            text = {"presence": "No nodule is present.", "lobe": "Right upper lobe, I think.",
                    "size": "hard to say"}[item.task]
            out.append(Answer("", raw_text=text))
        return out


@pytest.fixture
def texter(monkeypatch):
    options: dict = {}
    monkeypatch.setitem(MODELS, "texter", lambda **kw: TextModel(**{**options, **kw}))
    return options


def _shards(ws, model="texter"):
    return sorted((ws.root / "results" / model).rglob("part-*.parquet"))


def test_results_are_written_per_cell_with_the_contract_columns(fresh_trial, texter):
    ws = fresh_trial.workspace
    summary = score(model="texter", workspace=ws, sets=[TRIAL], show_progress=False)
    assert summary.model == "texter" and len(summary.cells) == 4 * 3
    cells = {(c["condition"], c["task"]): c for c in summary.cells}
    assert cells[("plain", "presence")]["items"] == 6 and cells[("plain", "lobe")]["items"] == 3
    frame = read_results(ws, model="texter", set_name=TRIAL, condition="plain", task="presence")
    assert tuple(frame.columns) == RESULT_COLUMNS and len(frame) == 6
    assert set(frame.option) == {"absent"} and set(frame.parse_status) == {"ok"}
    assert frame.correct.sum() == 3  # right on the three negatives only
    lobe = read_results(ws, model="texter", set_name=TRIAL, condition="bbox", task="lobe")
    assert set(lobe.option) == {"right_lung_upper_lobe"} and lobe.correct.sum() == 1
    size = read_results(ws, model="texter", set_name=TRIAL, condition="bbox", task="size")
    assert set(size.parse_status) == {"unparsed"} and not size.correct.any()
    assert set(size.option) == {""} and set(size.raw_text) == {"hard to say"}
    assert (ws.root / "results" / "texter" / "model.json").is_file()


def test_rerun_skips_and_interrupted_run_resumes(fresh_trial, texter):
    ws = fresh_trial.workspace
    texter["fail_after"] = 20
    # a unit that raises fails with its reason (the executor contract); the others finish
    with pytest.raises(InputError, match="RuntimeError: interrupted"):
        score(model="texter", workspace=ws, sets=[TRIAL], show_progress=False, batch_size=2)
    partial = _shards(ws)
    assert partial  # the finished cells were kept
    texter["fail_after"] = None
    resumed = score(model="texter", workspace=ws, sets=[TRIAL], show_progress=False)
    done_before = sum(c["already_scored"] for c in resumed.cells)
    assert done_before > 0 and sum(c["to_score"] for c in resumed.cells) == 48 - done_before
    again = score(model="texter", workspace=ws, sets=[TRIAL], show_progress=False)
    assert sum(c["to_score"] for c in again.cells) == 0
    assert len(_shards(ws)) == len(set(_shards(ws)))
    for condition in CONDITIONS:
        frame = read_results(ws, model="texter", set_name=TRIAL, condition=condition,
                             task="presence")
        assert frame.slice_uid.is_unique and len(frame) == 6


def test_changed_prompt_or_version_rescores(fresh_trial, texter, monkeypatch):
    ws = fresh_trial.workspace
    first = score(model="texter", workspace=ws, sets=[TRIAL], tasks=["presence"],
                  conditions=["plain"], show_progress=False)
    monkeypatch.setitem(task_module._QUESTIONS, "presence", "Nodule? present or absent.")
    second = score(model="texter", workspace=ws, sets=[TRIAL], tasks=["presence"],
                   conditions=["plain"], show_progress=False)
    assert second.cells[0]["to_score"] == 6
    assert second.cells[0]["run_key"] != first.cells[0]["run_key"]
    texter["tag"] = "2"
    third = score(model="texter", workspace=ws, sets=[TRIAL], tasks=["presence"],
                  conditions=["plain"], show_progress=False)
    assert third.version == "2" and third.cells[0]["to_score"] == 6
    everything = read_results(ws, model="texter", set_name=TRIAL, condition="plain",
                              task="presence", current_only=False)
    assert len(everything) == 18 and everything.run_key.nunique() == 3  # append-only
    current = read_results(ws, model="texter", set_name=TRIAL, condition="plain",
                           task="presence")
    assert set(current.run_key) == {third.cells[0]["run_key"]}


def test_workers_give_the_same_results(fresh_trial):
    ws = fresh_trial.workspace
    score(model="majority", workspace=ws, sets=[TRIAL], show_progress=False, workers=2,
          shard_size=2)
    frame = read_results(ws, model="majority", set_name=TRIAL, condition="contour",
                         task="presence")
    assert len(frame) == 6 and frame.slice_uid.is_unique
    scores = json.loads(frame.scores_json.iloc[0])
    # fitted on the calibration fold's truth only (never on the slices it is scored on)
    from lesiontrials.scoring.calibration import calibration_fold

    items = pd.read_parquet(ws.eval_dir(TRIAL, "lung") / "cases.parquet")
    fold = items[items.slice_uid.isin(calibration_fold(items).uids)].drop_duplicates(
        "slice_uid")
    expected = fold.truth_presence.value_counts(normalize=True).to_dict()
    assert scores == {o: expected.get(o, 0.0) for o in ("present", "absent")}
    assert len(list((ws.root / "results" / "majority" / TRIAL / "contour" / "presence")
                    .glob("part-*.parquet"))) == 3


def test_bad_requests_are_clear_errors(fresh_trial):
    with pytest.raises(InputError, match="unknown task"):
        score(model="majority", workspace=fresh_trial.workspace, sets=[TRIAL], tasks=["x"])
    with pytest.raises(InputError, match="no 'lung' items"):
        score(model="majority", workspace=fresh_trial.workspace, sets=["other"],
              show_progress=False)
    empty = read_results(fresh_trial.workspace, model="nobody", set_name=TRIAL,
                         condition="plain", task="size")
    assert empty.empty and tuple(empty.columns) == RESULT_COLUMNS


def test_a_model_that_reads_no_image_is_shown_none(fresh_trial, texter):
    """The majority prior (``reads_image = False``) is scored without a file being read:
    with every PNG of the set gone its results are the bytes it wrote with them there; a
    model that reads images cannot be scored then (the missing file is named)."""
    ws = fresh_trial.workspace
    score(model="majority", workspace=ws, sets=[TRIAL], show_progress=False)
    before = {p.relative_to(ws.root): p.read_bytes() for p in _shards(ws, "majority")}
    for shard in _shards(ws, "majority"):
        shard.unlink()
    for png in (ws.eval_set_dir(TRIAL)).rglob("*.png"):
        png.unlink()
    score(model="majority", workspace=ws, sets=[TRIAL], show_progress=False)
    after = {p.relative_to(ws.root): p.read_bytes() for p in _shards(ws, "majority")}
    assert after == before and len(after) == 4 * 3
    with pytest.raises(InputError, match="image not found"):
        score(model="texter", workspace=ws, sets=[TRIAL], show_progress=False)
