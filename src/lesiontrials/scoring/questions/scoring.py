"""Score a model's free-text reply to a question item.

Yes/no replies go through the project's presence parser (negations, hedges); choice replies
accept the option letter or the option text (lobes also through the lobe parser); numeric
replies take the first number (cm converted to mm). "cannot be determined" (or
"indeterminate", "unknown") is recognised for every type, except in a choice reply that
also names another option (then the reply names several options and is not parsed).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from lesiontrials.scoring.parsing import OK, normalise, parse_lobe, parse_presence
from lesiontrials.scoring.questions.bank import LETTERS, QuestionItem
from lesiontrials.scoring.questions.templates import CANNOT, LOBE_TEXT, TEMPLATES

_CANNOT = re.compile(r"can ?not be (determined|assessed)|indeterminate|\bunknown\b|"
                     r"not possible to (tell|determine)")
_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?)\s*(cm|mm)?")


@dataclass(frozen=True)
class ItemScore:
    """``correct`` (``None``: reply not parsed); ``abs_error`` for numeric items."""

    uid: str
    parsed: str | float | None
    correct: bool | None
    abs_error: float | None = None


def _parse_choice(item: QuestionItem, text: str) -> str | None:
    letter = re.fullmatch(r"\(?([a-h])[\).:]?(\s.*)?", text.strip())
    if letter and LETTERS.index(letter.group(1).upper()) < len(item.options):
        return item.options[LETTERS.index(letter.group(1).upper())]
    hits = [o for o in item.options if o != CANNOT and re.search(
        rf"(?<![\w-]){re.escape(o.lower())}(?![\w-])", text)]
    if len(hits) == 1:
        return hits[0]
    if item.template_id == "lobe":
        lobe = parse_lobe(text)
        if lobe.status == OK:
            return LOBE_TEXT[lobe.option]
    return None


def _parse_number(item: QuestionItem, text: str) -> float | None:
    match = _NUMBER.search(text)
    if match is None:
        return None
    value = float(match.group(1))
    return value * 10.0 if match.group(2) == "cm" and item.unit == "mm" else value


def parse_reply(item: QuestionItem, reply: str | None) -> str | float | None:
    """The reply mapped onto the item's answer space (``None``: could not parse)."""
    text = normalise(reply or "")
    if _CANNOT.search(text):
        # "solid, part-solid or cannot be determined" names several options: no answer
        others = [o for o in item.options if o != CANNOT and re.search(
            rf"(?<![\w-]){re.escape(o.lower())}(?![\w-])", text)]
        return None if item.answer_type == "choice" and others else CANNOT
    if item.answer_type == "choice":
        return _parse_choice(item, text)
    if item.answer_type == "numeric":
        return _parse_number(item, text)
    parsed = parse_presence(text)
    if parsed.status != OK:
        return None
    return "yes" if parsed.option == "present" else "no"


def score_reply(item: QuestionItem, reply: str | None) -> ItemScore:
    """Exact match for yes/no and choice; tolerance and absolute error for numbers."""
    parsed = parse_reply(item, reply)
    if parsed is None:
        return ItemScore(item.uid, None, None)
    if item.answer_type != "numeric" or item.answer == CANNOT or parsed == CANNOT:
        return ItemScore(item.uid, parsed, parsed == item.answer)
    truth, value = float(item.answer), float(parsed)
    tolerance = TEMPLATES[item.template_id].tolerance
    error = abs(value - truth)
    allowed = 0.0 if tolerance is None else tolerance.allows(truth)
    return ItemScore(item.uid, value, bool(error <= allowed + 1e-9) and math.isfinite(value),
                     abs_error=error)
