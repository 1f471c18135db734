"""Chat VLMs answer question-bank items and write reports (tiny LLaVA built here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tiny_models
from tiny_models import INSTALL_VLM, import_or_skip, make_items

from lesiontrials.scoring.questions.adapters import Asked, PromptAnswerer, answerer_for
from lesiontrials.scoring.questions.bank import build_bank
from lesiontrials.scoring.questions.scoring import score_reply
from lesiontrials.scoring.questions.truth import CaseTruth, NoduleTruth
from lesiontrials.scoring.structured.parse import parse_report


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import_or_skip("torch", INSTALL_VLM)
    import_or_skip("transformers", INSTALL_VLM)
    directory = tmp_path_factory.mktemp("llava")
    tiny_models.build_llava(directory)
    return directory


@pytest.mark.slow
def test_chat_model_answers_every_item_type(tiny_llava: Path) -> None:
    from lesiontrials.scoring.models.chat import ChatVLM

    model = ChatVLM(model_path=tiny_llava, max_new_tokens=6, device="cpu")
    answerer = answerer_for(model)
    assert isinstance(answerer, PromptAnswerer) and model.option_scores  # caller's untouched
    nodule = NoduleTruth(index=0, lobe="right_lung_upper_lobe", side="right",
                         zone="upper_zone", diameter_mm=9.0, max_diameter_mm=10.0,
                         volume_mm3=380.0, pleural_distance_mm=6.0,
                         centroid_mm=(0.0, 0.0, 0.0), attenuation=None, solid_fraction=None,
                         calcification=None)
    bank = [i for i in build_bank([CaseTruth("c-00000", (nodule,))]) if i.paraphrase == 0]
    assert {i.answer_type for i in bank} == {"yes_no", "choice", "numeric"}
    view = make_items(1)[0]
    asked = [Asked.from_item(i) for i in bank]
    replies = answerer.answer(asked, [view] * len(bank))
    assert len(replies) == len(bank) and all(isinstance(r, str) for r in replies)
    assert answerer.answer(asked, [view] * len(bank)) == replies  # greedy: deterministic
    for item, reply in zip(bank, replies, strict=True):
        score = score_reply(item, reply)
        assert score.correct in (True, False, None)
    report = answerer.answer([Asked("c/report", "c", "report", "choice", "Write a report.",
                                    ("a free-text report",), "", "")], [view])[0]
    assert isinstance(report, str)
    parse_report(report or "", case_uid="c")  # any text parses to a (possibly empty) report
