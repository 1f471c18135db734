"""A 3-D vision-language encoder answering the question bank (``ask --volume-models``):
presence, lobe and side from its fixed sentences; other templates "cannot answer"; an
unrendered case "no_view"; the reply follows the encoder's choice, not the truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lesiontrials.io import write_json
from lesiontrials.io.volumes import Volume, write_volume
from lesiontrials.paths import Workspace
from lesiontrials.scoring.models.volume_vlm import VOLUME_PROMPTS, VolumeVLM
from lesiontrials.scoring.questions.vlm_answers import ask_volume_vlm, vlm_reply
from lesiontrials.scoring.questions.workspace import write_question_bank

SENTENCES = [t for p in VOLUME_PROMPTS.values() for t in p.values()]


@dataclass
class _ScriptedEncoder:
    """Text i ↦ unit vector i; every scan ↦ the mean of the chosen sentences' vectors."""

    chosen: tuple[str, ...]
    logit_scale: float = 10.0
    seen: list[Any] = field(default_factory=list)

    @property
    def settings(self) -> dict[str, Any]:
        return {"architecture": "scripted", "chosen": list(self.chosen)}

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return np.eye(len(SENTENCES))[[SENTENCES.index(t) for t in texts]]

    def encode_volume(self, volume: Volume) -> np.ndarray:
        self.seen.append(volume)
        vector = np.eye(len(SENTENCES))[[SENTENCES.index(t) for t in self.chosen]].sum(axis=0)
        return vector / np.linalg.norm(vector)


def _workspace(tmp_path: Path, lobe: str) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    ct = np.full((40, 30, 20), -850, dtype=np.int16)
    nodule = {"nodule_index": 0, "realised": {
        "lobe": lobe, "side": lobe.split("_")[0], "zone": "middle_zone",
        "equivalent_diameter_mm": 10.0, "max_axis_diameter_mm": 10.0, "volume_mm3": 520.0,
        "pleural_distance_mm": 9.0, "centroid_mm": [-30.0, 0.0, 0.0]}}
    for k, rendered in ((0, True), (1, False)):
        case_dir = ws.case_dir("t", f"t-{k:05d}")
        write_json({"case_uid": f"t-{k:05d}", "status": "done", "nodules": [nodule],
                    "host": {"seg_path": "masks/H/seg.nii.gz"}}, case_dir / "insert.json")
        if rendered:
            write_volume(case_dir / "ct.nii.gz", Volume(ct, np.diag([1.5, 1.5, 2.0, 1.0])),
                         kind="ct")
            write_json({"status": "done"}, case_dir / "render.json")
    write_question_bank(ws, "t", seed=0, dev_fraction=0.0)
    return ws


@pytest.mark.parametrize("lobe", ["right_lung_lower_lobe", "left_lung_upper_lobe"])
def test_encoder_answers_presence_lobe_side(tmp_path: Path, lobe: str) -> None:
    """The encoder always picks 'present' and the right lower lobe: right on the RLL case,
    wrong on the LUL case — the truth never reaches the reply."""
    ws = _workspace(tmp_path, lobe)
    encoder = _ScriptedEncoder((VOLUME_PROMPTS["presence"]["present"],
                                VOLUME_PROMPTS["lobe"]["right_lung_lower_lobe"]))
    model = VolumeVLM(name="scripted", encoder=encoder, weights_sha256="0" * 64)
    rows = pd.read_parquet(ask_volume_vlm(model, workspace=ws, trial="t"))
    first = rows[rows["case_uid"] == "t-00000"].set_index("template_id")
    assert first.loc["lobe", "reply"] == "right lower lobe"
    assert first.loc["side", "reply"] == "right" and first.loc["presence", "reply"] == "yes"
    assert bool(first.loc["presence", "correct"])
    expected = lobe == "right_lung_lower_lobe"
    assert bool(first.loc["lobe", "correct"]) is expected
    assert bool(first.loc["side", "correct"]) is expected
    assert first.loc["count", "status"] == "cannot_answer"
    assert set(rows[rows["case_uid"] == "t-00001"]["status"]) <= {"no_view", "cannot_answer"}
    assert (rows[(rows["case_uid"] == "t-00001")
                 & rows["template_id"].isin(["presence", "lobe", "side"])]["status"]
            == "no_view").all()
    assert len(encoder.seen) == 1 and set(vars(encoder.seen[0])) == {"array", "affine"}


def test_vlm_reply_maps_each_template() -> None:
    options = {"presence": "absent", "lobe": "left_lung_lower_lobe"}
    assert vlm_reply("presence", options) == "no"
    assert vlm_reply("lobe", options) == "left lower lobe"
    assert vlm_reply("side", options) == "left"
    assert vlm_reply("mean_diameter", options) is None
