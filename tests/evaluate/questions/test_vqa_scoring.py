"""Scoring free-text replies: yes/no, letters and texts, numbers with tolerance."""

from __future__ import annotations

import pytest

from lesiontrials.scoring.questions.bank import QuestionItem
from lesiontrials.scoring.questions.scoring import score_reply
from lesiontrials.scoring.questions.templates import CANNOT


def item(template_id: str, answer_type: str, answer: str | float,
         options: tuple[str, ...] = (), unit: str = "") -> QuestionItem:
    return QuestionItem(uid=f"c/{template_id}/p0", case_uid="c", template_id=template_id,
                        category="x", answer_type=answer_type, paraphrase=0, question="?",
                        options=options, answer=answer, unit=unit, split="test")


@pytest.mark.parametrize(("reply", "correct"), [
    ("Yes.", True), ("No, it is not calcified.", False), ("maybe", None),
    ("It cannot be determined from this image", False),
])
def test_yes_no(reply: str, correct: bool | None) -> None:
    assert score_reply(item("calcification", "yes_no", "yes"), reply).correct is correct


def test_choice_by_letter_text_and_lobe_parser() -> None:
    lobe = item("lobe", "choice", "left lower lobe",
                ("right upper lobe", "left lower lobe", "left upper lobe"))
    assert score_reply(lobe, "B").correct is True
    assert score_reply(lobe, "(b) left lower lobe").correct is True
    assert score_reply(lobe, "It is in the left lower lobe.").correct is True
    assert score_reply(lobe, "A").correct is False
    assert score_reply(lobe, "LLL").correct is True  # the project's lobe parser
    rads = item("lung_rads", "choice", CANNOT, ("2", "4A", CANNOT))
    assert score_reply(rads, "Cannot be determined without the attenuation").correct is True


@pytest.mark.parametrize(("reply", "correct", "error"), [
    ("9 mm", True, 1.0),            # tolerance max(1 mm, 10 %) of 10 mm = 1 mm
    ("about 11 mm", True, 1.0),
    ("11.2 mm", False, 1.2),
    ("1.0 cm", True, 0.0),          # cm → mm
    ("no idea", None, None),
])
def test_numeric_tolerance_and_absolute_error(reply: str, correct: bool | None,
                                              error: float | None) -> None:
    score = score_reply(item("mean_diameter", "numeric", 10.0, unit="mm"), reply)
    assert score.correct is correct
    if error is None:
        assert score.abs_error is None
    else:
        assert score.abs_error == pytest.approx(error)


def test_count_is_exact() -> None:
    count = item("count", "numeric", 2.0, unit="nodules")
    assert score_reply(count, "2").correct is True
    assert score_reply(count, "3 nodules").correct is False
