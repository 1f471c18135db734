"""Free-text answers → task options, with a parse status.

``parse_answer(text, task=...)`` returns a :class:`Parsed` whose ``status`` is ``ok`` (one
option), ``ambiguous`` (the text supports several) or ``unparsed`` (none). Unparsed and
ambiguous answers count as wrong in accuracy and are reported separately.

Presence: the text is split into clauses; in each, double negatives ("cannot rule out")
are read first (→ present), then negations ("no nodule", "not seen", "absent") (→ absent),
then affirmations (→ present). Clauses that disagree are ambiguous unless the answer opens
with a direct answer word (yes / no / present / absent), which wins.
Lobe: names, "upper lobe of the right lung", abbreviations (RUL…), "lingula", "middle
lobe"; mentions preceded by "not", "rather than", "instead of" are dropped.
Size: ranges ("5-10 mm", "between 1 and 2 cm"), bounds ("less than 5 mm", "≥ 20 mm",
"over 2 cm"), dimensions ("8 x 6 mm", mean) and plain numbers (mm unless cm is said) become
intervals, mapped onto the half-open bins; an interval that spans bins is ambiguous.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

from lesiontrials import anatomy

OK, UNPARSED, AMBIGUOUS = "ok", "unparsed", "ambiguous"


@dataclass(frozen=True)
class Parsed:
    """The parsed option ('' unless ``status`` is ``ok``) and the parse status."""

    option: str
    status: str


def parse_answer(text: str | None, *, task: str) -> Parsed:
    """Map a model's free text onto one option of ``task``."""
    parsers = {"presence": parse_presence, "lobe": parse_lobe, "size": parse_size}
    if task not in parsers:
        raise ValueError(f"unknown task {task!r}")
    return parsers[task](text or "")


_WORD_NUMBERS: Final = {w: i for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen", "twenty"))} | {"thirty": 30, "forty": 40}


def normalise(text: str) -> str:
    """Lower case, ASCII dashes and comparison signs, expanded contractions, units."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    for dash in ("\u2013", "\u2014", "\u2212", "\u2010"):
        text = text.replace(dash, "-")
    text = text.replace("\u2265", ">=").replace("\u2264", "<=").replace("*", " ")
    text = re.sub(r"\bcan ?not\b|\bcan't\b", "can not", text)
    text = re.sub(r"\bwon't\b", "will not", text)
    text = re.sub(r"n't\b", " not", text)
    text = re.sub(r"\bmilli(?:met(?:er|re)s?)\b", "mm", text)
    text = re.sub(r"\bcenti(?:met(?:er|re)s?)\b", "cm", text)
    text = re.sub(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b",
                  lambda m: str(_WORD_NUMBERS[m.group(1)]), text)
    return re.sub(r"\s+", " ", text).strip()


# --------------------------------------------------------------------------- presence
_NOUN = r"(?:nodules?|lesions?|mass(?:es)?|abnormalit\w*|findings?|evidence|opacit\w*|tumou?rs?)"
_DOUBLE_NEGATIVE: Final = [re.compile(p) for p in (
    r"\b(?:can not|could not|unable to|impossible to)\s+(?:be\s+)?(?:rule|ruled)\s+out",
    r"\b(?:can not|could not|unable to)\s+(?:be\s+)?(?:exclude|excluded)\b",
    r"\bnot\s+(?:be\s+)?(?:ruled\s+out|excluded)\b",
    r"\bnot\s+(?:entirely\s+|completely\s+|totally\s+)?(?:absent|negative|nodule[- ]free|"
    r"normal|clear|unremarkable)\b",
    r"\bno\s+absence\b", r"\bnot\s+without\b", r"\bnot\s+free\s+of\b",
)]
_EITHER: Final = re.compile(r"\b(?:present\s+or\s+absent|absent\s+or\s+present|yes\s+or\s+no|"
                            r"no\s+or\s+yes)\b")
_NEGATION: Final = [re.compile(p) for p in (
    r"\babsent\b", r"\babsence\s+of\b", r"\bnegative\b", r"\bnone\b",
    r"\bno\s+(?:\w+\s+){0,3}?" + _NOUN + r"\b",
    r"^\s*(?:answer\s*:?\s*)?no\b",
    r"\bnot\s+(?:\w+\s+){0,2}?(?:present|seen|visible|identified|detected|noted|appreciated|"
    r"evident|apparent|observed|found|see|identify|detect|observe|find|appreciate|show)\b",
    r"\bwithout\s+(?:\w+\s+){0,2}?" + _NOUN + r"\b",
    r"\bnot\s+(?:a|an|any|one)\s+(?:\w+\s+){0,2}?" + _NOUN + r"\b",
    r"\bfree\s+of\b", r"\bnodule[- ]free\b",
    r"\b(?:lungs?\s+(?:are|is|appear|appears)\s+clear|unremarkable)\b",
    r"\bnormal\s+(?:lungs?|study|scan|ct|slice|chest)\b",
)]
_AFFIRMATION: Final = [re.compile(p) for p in (
    r"\bpresent\b", r"\byes\b", r"\bpositive\b", r"\b" + _NOUN + r"\b",
    r"\b(?:visible|seen|identified|detected|noted|evident|suspicious)\b",
)]
_DIRECT: Final = re.compile(r"^\s*(?:answer\s*:?\s*)?(yes|no|present|absent)\b")
_CLAUSES: Final = re.compile(r"[.;!?\n]+|,|\bbut\b|\bhowever\b|\balthough\b|\bthough\b")


def _presence_vote(clause: str) -> str | None:
    if any(p.search(clause) for p in _DOUBLE_NEGATIVE):
        return "present"
    if _EITHER.search(clause):
        return AMBIGUOUS
    if any(p.search(clause) for p in _NEGATION):
        return "absent"
    if any(p.search(clause) for p in _AFFIRMATION):
        return "present"
    return None


def parse_presence(text: str) -> Parsed:
    """``present`` / ``absent`` from free text (negation read before affirmation)."""
    norm = normalise(text)
    votes = [v for c in _CLAUSES.split(norm) if (v := _presence_vote(c)) is not None]
    if not votes:
        return Parsed("", UNPARSED)
    if len(set(votes)) == 1 and votes[0] != AMBIGUOUS:
        return Parsed(votes[0], OK)
    direct = _DIRECT.match(norm)
    if direct and not _EITHER.match(norm):
        word = direct.group(1)
        return Parsed("present" if word in ("yes", "present") else "absent", OK)
    return Parsed("", AMBIGUOUS)


# --------------------------------------------------------------------------- lobe
_SIDE = r"(right|left|rt|lt)"
_LEVEL = r"(upper|superior|middle|mid|lower|inferior)"
_LEVELS: Final = {"upper": "upper", "superior": "upper", "middle": "middle", "mid": "middle",
                  "lower": "lower", "inferior": "lower"}
_SIDES: Final = {"right": "right", "rt": "right", "left": "left", "lt": "left"}
_LOBE_PATTERNS: Final = [
    (re.compile(r"\b" + _SIDE + r"\.?\s+(?:lung\s+)?" + _LEVEL + r"\b"), "side_level"),
    (re.compile(r"\b" + _LEVEL + r"\s+(?:lobe\s+)?(?:of\s+)?(?:the\s+)?" + _SIDE + r"\b"),
     "level_side"),
    (re.compile(r"\b(rul|rml|rll|lul|lll)\b"), "abbreviation"),
    (re.compile(r"\blingula(?:r)?\b"), "lingula"),
    (re.compile(r"\b(?:middle|mid)\s+lobe\b"), "middle"),
]
_LOBE_NEGATED: Final = re.compile(r"(?:\bnot|\bno|\brather than|\binstead of|\bexcluding|"
                                  r"\bexcept|\bnor)\s+(?:\w+\s+){0,2}$")


def _lobe_of(match: re.Match[str], kind: str) -> str | None:
    if kind == "abbreviation":
        return anatomy.parse_lobe(match.group(1)).value
    if kind == "lingula":
        return anatomy.Lobe.LUL.value
    if kind == "middle":
        return anatomy.Lobe.RML.value
    side, level = ((match.group(1), match.group(2)) if kind == "side_level"
                   else (match.group(2), match.group(1)))
    try:
        return anatomy.parse_lobe(f"{_SIDES[side]} {_LEVELS[level]}").value
    except ValueError:  # "left middle lobe" does not exist
        return None


def parse_lobe(text: str) -> Parsed:
    """One of the five canonical lobe names from free text."""
    norm = re.sub(r"[_,:/()]", " ", normalise(text))
    norm = re.sub(r"\s+", " ", norm)
    taken: list[tuple[int, int]] = []
    found: set[str] = set()
    for pattern, kind in _LOBE_PATTERNS:
        for match in pattern.finditer(norm):
            start, stop = match.span()
            if any(start < b and stop > a for a, b in taken):
                continue
            taken.append((start, stop))
            if _LOBE_NEGATED.search(norm[max(0, start - 30):start]):
                continue
            lobe = _lobe_of(match, kind)
            if lobe is not None:
                found.add(lobe)
    if len(found) == 1:
        return Parsed(found.pop(), OK)
    return Parsed("", AMBIGUOUS if found else UNPARSED)


# --------------------------------------------------------------------------- size
_NUM = r"(\d+(?:\.\d+)?)"
_UNIT = r"\s*(?:(mm|cm)\b)?"
_UPPER = r"(?:<=|<|less than|smaller than|under|below|up to|at most|not more than|no more than)"
_LOWER = (r"(?:>=|>|more than|greater than|larger than|bigger than|over|above|at least|"
          r"exceeding|exceeds)")
_SIZE_PATTERNS: Final = [
    (re.compile(r"\bbetween\s+" + _NUM + _UNIT + r"\s+and\s+" + _NUM + _UNIT), "range"),
    (re.compile(r"(?<![\d.])" + _NUM + _UNIT + r"\s*(?:-|to)\s*" + _NUM + _UNIT), "range"),
    (re.compile(r"(?<![\d.])" + _NUM + _UNIT + r"\s*x\s*" + _NUM + _UNIT
                + r"(?:\s*x\s*" + _NUM + _UNIT + r")?"), "dims"),
    (re.compile(_UPPER + r"\s*" + _NUM + _UNIT), "upper"),
    (re.compile(_LOWER + r"\s*" + _NUM + _UNIT), "lower"),
    (re.compile(r"(?<![\d.])" + _NUM + _UNIT + r"\s+or\s+(?:more|larger|greater|bigger|above)"),
     "lower"),
    (re.compile(r"(?<![\d.])" + _NUM + _UNIT + r"\s+or\s+(?:less|smaller|below)"), "upper_incl"),
    (re.compile(r"(?<![\d.<>=])" + _NUM + _UNIT), "point"),
]
_EDGES: Final = anatomy.TASK_SIZE_EDGES_MM
_BINS: Final = anatomy.TASK_SIZE_BINS


def _mm(value: str, unit: str | None, default_unit: str | None) -> float:
    scale = 10.0 if (unit or default_unit) == "cm" else 1.0
    return float(value) * scale


def _interval(match: re.Match[str], kind: str) -> tuple[float, float, bool]:
    """``(low, high, closed)`` in mm; ``closed`` means the high end is included."""
    g = match.groups()
    if kind == "range":
        return _mm(g[0], g[1], g[3]), _mm(g[2], g[3], g[1]), False
    if kind == "dims":
        units = [u for u in g[1::2] if u]
        values = [_mm(v, u, units[-1] if units else None) for v, u in zip(g[0::2], g[1::2],
                                                                           strict=True) if v]
        mean = sum(values) / len(values)
        return mean, mean, True
    if kind in ("upper", "upper_incl"):
        inclusive = kind == "upper_incl" or match.group(0).startswith(("<=", "up to", "at most",
                                                                        "not more", "no more"))
        return 0.0, _mm(g[0], g[1], None), inclusive
    if kind == "lower":
        return _mm(g[0], g[1], None), math.inf, False
    value = _mm(g[0], g[1], None)
    return value, value, True


def _bins(low: float, high: float, closed: bool) -> set[str]:
    """Bins an interval overlaps (a point: the bin that holds it)."""
    out = set()
    for lo, hi, name in zip(_EDGES[:-1], _EDGES[1:], _BINS, strict=True):
        if low == high:
            if lo <= low < hi:
                out.add(name)
        elif low < hi and (high > lo or (closed and high == lo)):
            out.add(name)
    return out


def parse_size(text: str) -> Parsed:
    """One of the task size bins (``<5``, ``5-10``, ``10-20``, ``>=20`` mm) from free text."""
    norm = normalise(text)
    taken: list[tuple[int, int]] = []
    found: set[str] = set()
    unitless: list[float] = []
    for pattern, kind in _SIZE_PATTERNS:
        for match in pattern.finditer(norm):
            start, stop = match.span()
            if any(start < b and stop > a for a, b in taken):
                continue
            taken.append((start, stop))
            if kind == "point" and match.group(2) is None:
                unitless.append(float(match.group(1)))
                continue
            found |= _bins(*_interval(match, kind))
    if not found and len(unitless) == 1 and 0 < unitless[0] <= 200:
        found = _bins(unitless[0], unitless[0], True)
    if len(found) == 1:
        return Parsed(found.pop(), OK)
    return Parsed("", AMBIGUOUS if found else UNPARSED)
