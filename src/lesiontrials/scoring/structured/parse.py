"""Free-text report → :class:`CaseReport` (one nodule per sentence naming a nodule)."""

from __future__ import annotations

import re

from lesiontrials.scoring.parsing import OK, normalise, parse_lobe
from lesiontrials.scoring.questions.templates import LOBE_TEXT
from lesiontrials.scoring.structured.report import CaseReport, NoduleReport

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(mm|cm)\b")
_RADS = re.compile(r"lung-?rads\s*(?:category\s*)?(4a|4b|[1-4])\b")
_SENTENCE = re.compile(r"(?<=[.;\n])\s+")
_NONE = re.compile(r"\bno (?:other |further |additional |new |pulmonary |lung )*nodul")


def _attenuation(text: str) -> str | None:
    if re.search(r"part[- ]?solid|semi-?solid|subsolid", text):
        return "part-solid"
    if re.search(r"ground[- ]?glass|\bggo\b|\bggn\b|non-?solid", text):
        return "ground-glass"
    if re.search(r"\bsolid\b", text):
        return "solid"
    return None


def _calcified(text: str) -> bool | None:
    if re.search(r"non-?calcified|not calcified|without calcification", text):
        return False
    if re.search(r"calcifi", text):
        return True
    return None


def _nodule(sentence: str) -> NoduleReport:
    size = _SIZE.search(sentence)
    lobe = parse_lobe(sentence)
    rads = _RADS.search(sentence)
    return NoduleReport(
        lobe=LOBE_TEXT[lobe.option] if lobe.status == OK else None,
        size_mm=None if size is None else float(size.group(1)) * (
            10.0 if size.group(2) == "cm" else 1.0),
        attenuation=_attenuation(sentence), calcified=_calcified(sentence),
        lung_rads=None if rads is None else rads.group(1).upper())


def parse_report(text: str, *, case_uid: str = "") -> CaseReport:
    """Parse findings (sentences mentioning a nodule, "no nodules" excluded) and the
    impression's Lung-RADS category (else the highest category stated anywhere)."""
    body = normalise(text)
    findings, _, impression = body.partition("impression")
    nodules = tuple(_nodule(s) for s in _SENTENCE.split(findings)
                    if "nodul" in s and not _NONE.search(s))
    stated = _RADS.findall(impression) or _RADS.findall(body)
    order = ("1", "2", "3", "4A", "4B")
    category = max((s.upper() for s in stated), key=order.index) if stated else None
    return CaseReport(case_uid, nodules, category)
