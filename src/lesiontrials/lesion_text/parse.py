"""Free text → lesion descriptors.

A rule-based parser reads radiology phrases ("8 mm part-solid nodule with spiculated
margins", "pure GGO", "calcified granuloma"): sizes by regular expression, then a table of
concept phrases matched longest first, with negation ("no", "non", "without") and grade
words ("mildly", "markedly"). Words the table does not know can be resolved by a synonym
resolver; :func:`default_resolver` uses the packaged MiniLM text encoder
(:mod:`lesiontrials.lesion_text.synonyms`) when the ``text`` extra is installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from lesiontrials.anatomy import Texture
from lesiontrials.lesion_text.descriptors import Calcification, DescriptorOverrides, Internal

# concept → the descriptor values it sets
CONCEPTS: dict[str, dict[str, Any]] = {
    "ground_glass": {"attenuation": Texture.GROUND_GLASS, "solid_fraction": 0.0},
    "part_solid": {"attenuation": Texture.PART_SOLID},
    "solid": {"attenuation": Texture.SOLID, "solid_fraction": 1.0},
    "sharp_margin": {"margin": 5.0},
    "smooth_margin": {"margin": 4.0},
    "ill_defined_margin": {"margin": 2.0},
    "poorly_defined_margin": {"margin": 1.0},
    "spiculated": {"spiculation": 4.0},
    "lobulated": {"lobulation": 4.0},
    "calcified": {"calcification": Calcification.DIFFUSE},
    "calcified_granuloma": {"calcification": Calcification.DIFFUSE, "margin": 5.0,
                            "attenuation": Texture.SOLID, "solid_fraction": 1.0},
    "popcorn": {"calcification": Calcification.POPCORN},
    "laminated": {"calcification": Calcification.LAMINATED},
    "central_calcification": {"calcification": Calcification.CENTRAL},
    "eccentric_calcification": {"calcification": Calcification.ECCENTRIC},
    "cavitary": {"internal": Internal.AIR},
    "fat": {"internal": Internal.FAT},
    "fluid": {"internal": Internal.FLUID},
    "heterogeneous": {"heterogeneity": 0.7},
    "homogeneous": {"heterogeneity": 0.1},
}
# concept → phrases (normalised: lower case, hyphens as spaces)
PHRASES: dict[str, tuple[str, ...]] = {
    "ground_glass": ("pure ground glass", "ground glass", "groundglass", "pure ggo", "pure ggn",
                     "ggo", "ggn", "non solid", "hazy", "faint"),
    "part_solid": ("part solid", "partly solid", "partially solid", "semi solid", "semisolid",
                   "subsolid", "sub solid", "mixed attenuation", "mixed density"),
    "solid": ("solid", "soft tissue density", "soft tissue attenuation"),
    "sharp_margin": ("sharp", "sharply marginated", "well defined", "well circumscribed",
                     "circumscribed", "well marginated", "crisp"),
    "smooth_margin": ("smooth",),
    "ill_defined_margin": ("ill defined", "indistinct", "fuzzy", "blurred", "hazy margin",
                           "irregular margin", "irregular"),
    "poorly_defined_margin": ("poorly defined", "poorly marginated", "very ill defined"),
    "spiculated": ("spiculated", "spiculation", "spicules", "spiculations", "speculated",
                   "corona radiata", "stellate", "spiky"),
    "lobulated": ("lobulated", "lobular", "lobulation", "lobulations", "bumpy", "knobby"),
    "calcified_granuloma": ("calcified granuloma", "granuloma"),
    "popcorn": ("popcorn calcification", "popcorn"),
    "laminated": ("laminated", "lamellar", "concentric calcification", "concentric"),
    "central_calcification": ("central calcification", "centrally calcified",
                              "central calcific focus", "bulls eye"),
    "eccentric_calcification": ("eccentric calcification", "eccentric", "non central",
                                "peripheral calcification"),
    "calcified": ("calcified", "calcification", "calcific", "densely calcified",
                  "diffuse calcification", "diffusely calcified"),
    "cavitary": ("cavitary", "cavitating", "cavitation", "cavity", "cavitated"),
    "fat": ("fat containing", "fat density", "macroscopic fat", "hamartoma", "fat"),
    "fluid": ("fluid", "cystic", "fluid density"),
    "heterogeneous": ("heterogeneous", "inhomogeneous", "heterogeneously"),
    "homogeneous": ("homogeneous", "uniform", "homogeneously"),
}
_NEGATABLE: dict[str, dict[str, Any]] = {
    "spiculated": {"spiculation": 1.0}, "lobulated": {"lobulation": 1.0},
    "calcified": {"calcification": Calcification.NONE},
    "cavitary": {"internal": Internal.SOFT_TISSUE}}
_NEGATIONS = ("no", "non", "not", "without", "absent", "free of")
_GRADES = {"minimally": 2.0, "slightly": 2.0, "mildly": 2.0, "mild": 2.0, "subtle": 2.0,
           "moderately": 3.0, "moderate": 3.0, "markedly": 5.0, "marked": 5.0,
           "heavily": 5.0, "highly": 5.0, "extensively": 5.0, "severely": 5.0}
_GRADED = {"spiculated": "spiculation", "lobulated": "lobulation"}
_STOPWORDS = frozenset(
    {
        "a", "an", "the", "with", "and", "or", "of", "in", "on", "at", "to", "is", "are", "was",
        "were", "nodule", "nodules", "lesion", "lesions", "mass", "opacity", "opacities", "margin",
        "margins", "border", "borders", "contour", "contours", "appearance", "shaped", "shape",
        "pulmonary", "lung", "lobe", "right", "left", "upper", "lower", "middle", "small", "large",
        "tiny", "new", "focus", "mm", "cm", "which", "that", "has", "have", "showing", "shows",
        "containing", "component", "core", "portion", "part"
    })
_NUMBER = r"(\d+(?:\.\d+)?)"
_UNIT = r"\s*(mm|millimet(?:er|re)s?|cm|centimet(?:er|re)s?)\b"
_COMPONENT = re.compile(_NUMBER + _UNIT + r"\s*(?:solid\s*(?:component|core|portion|part))")
_COMPONENT_PCT = re.compile(r"(\d+(?:\.\d+)?)\s*%\s*solid|solid\s*(?:component|core|portion)"
                            r"\s*(?:of\s*)?(\d+(?:\.\d+)?)\s*%")
_SIZE = re.compile(_NUMBER + _UNIT)


@dataclass(frozen=True)
class Match:
    """One recognised phrase: the concept it stands for and who recognised it."""

    phrase: str
    concept: str
    source: str  # "rule" or "encoder"
    score: float = 1.0
    negated: bool = False


@dataclass(frozen=True)
class ParsedText:
    text: str
    overrides: DescriptorOverrides
    matches: tuple[Match, ...]
    unmatched: tuple[str, ...]


class SynonymResolver(Protocol):
    """Maps unknown phrases to a concept in :data:`CONCEPTS` (or ``None``) with a score."""

    def resolve(self, phrases: list[str]) -> list[tuple[str, float] | None]: ...


def normalise(text: str) -> str:
    text = text.lower().replace("’", "'").replace("'", "")
    text = re.sub(r"[-_/,;:()]+", " ", text)
    text = re.sub(r"\bnon(?=[a-z])", "non ", text)
    return re.sub(r"\s+", " ", text).strip()


def _to_mm(value: str, unit: str) -> float:
    return float(value) * (10.0 if unit.startswith("c") else 1.0)


def _sizes(text: str) -> tuple[float | None, float | None, str]:
    """(diameter_mm, solid component mm or fraction, text with the sizes removed)."""
    component: float | None = None
    found = _COMPONENT.search(text)
    if found:
        component = _to_mm(found.group(1), found.group(2))
        text = text[:found.start()] + " solid component " + text[found.end():]
    pct = _COMPONENT_PCT.search(text)
    if pct:
        component = -float(pct.group(1) or pct.group(2)) / 100.0  # negative: a fraction
        text = text[:pct.start()] + " " + text[pct.end():]
    diameter = None
    size = _SIZE.search(text)
    if size:
        diameter = _to_mm(size.group(1), size.group(2))
        text = text[:size.start()] + " " + text[size.end():]
    return diameter, component, text


def _rule_matches(text: str) -> tuple[list[tuple[int, Match]], str]:
    table = sorted(((p, c) for c, ps in PHRASES.items() for p in ps), key=lambda pc: -len(pc[0]))
    padded = f" {text} "
    found: list[tuple[int, Match]] = []
    for phrase, concept in table:
        for hit in re.finditer(rf"(?<= ){re.escape(phrase)}(?= )", padded):
            before = padded[:hit.start()].split()[-3:]
            negated = (concept in _NEGATABLE and any(
                w in _NEGATIONS for w in before)) or (concept == "calcified" and
                                                    padded[:hit.start()].endswith("non"))
            found.append((hit.start(), Match(phrase, concept, "rule", negated=negated)))
            padded = padded[:hit.start()] + "#" * len(phrase) + padded[hit.end():]
    return found, padded


def _grade(text_before: str) -> float | None:
    words = text_before.split()[-2:]
    grades = [_GRADES[w] for w in words if w in _GRADES]
    return grades[-1] if grades else None


def _leftover(padded: str) -> list[str]:
    words = [w for w in re.sub(r"#+", " ", padded).split()
             if w not in _STOPWORDS and w not in _NEGATIONS and w not in _GRADES
             and not w.replace(".", "").isdigit()]
    return words


def parse_description(text: str, *, resolver: SynonymResolver | None = None) -> ParsedText:
    """Parse a free-text lesion description into descriptor overrides.

    >>> parse_description("8 mm part-solid nodule with spiculated margins").overrides.spiculation
    4.0
    """
    clean = normalise(text)
    diameter, component, clean = _sizes(clean)
    hits, padded = _rule_matches(clean)
    leftovers = _leftover(padded)
    if resolver is not None and leftovers:
        for word, resolved in zip(leftovers, resolver.resolve(leftovers), strict=True):
            if resolved is not None:
                hits.append((padded.find(word), Match(word, resolved[0], "encoder", resolved[1])))
        leftovers = [w for w in leftovers if all(m.phrase != w for _, m in hits)]
    values = _combine(sorted(hits, key=lambda h: h[0]), padded)
    if diameter is not None:
        values["diameter_mm"] = diameter
    _apply_component(values, diameter, component)
    return ParsedText(text=text, overrides=DescriptorOverrides(**values),
                      matches=tuple(m for _, m in sorted(hits, key=lambda h: h[0])),
                      unmatched=tuple(leftovers))


def stated_diameter_mm(text: str) -> float | None:
    """The size a description states ("6 mm ground-glass nodule" → 6.0), or ``None``."""
    if not text.strip():
        return None
    return parse_description(text).overrides.diameter_mm


def _combine(hits: list[tuple[int, Match]], padded: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    concepts = {m.concept for _, m in hits if not m.negated}
    for position, match in hits:
        if match.negated:
            values.update(_NEGATABLE[match.concept])
            continue
        if match.concept == "solid" and concepts & {"part_solid", "ground_glass"}:
            continue  # "solid component" inside a part-solid description
        if match.concept == "calcified" and concepts & {"popcorn", "laminated",
                                                        "central_calcification",
                                                        "eccentric_calcification"}:
            continue  # the specific pattern wins
        update = dict(CONCEPTS[match.concept])
        if match.concept in _GRADED:
            grade = _grade(padded[:position])
            if grade is not None:
                update[_GRADED[match.concept]] = grade
        values.update(update)
    return values


def _apply_component(values: dict[str, Any], diameter: float | None,
                     component: float | None) -> None:
    if component is None:
        return
    fraction = -component if component < 0 else (
        component / diameter if diameter else None)
    if fraction is None:
        return
    values.setdefault("attenuation", Texture.PART_SOLID)
    if values["attenuation"] is Texture.PART_SOLID:
        values["solid_fraction"] = round(min(max(fraction, 0.05), 0.95), 3)
