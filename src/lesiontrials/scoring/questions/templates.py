"""The declarative catalogue of question templates (docs/vqa.md).

Each :class:`Template` names its category, answer type, paraphrases and a ``derive``
function from a case's realised truth to the :class:`Answer` (``None``: the template does
not apply to this case, e.g. a pairwise question on a one-nodule case, or the truth is
too close to call — two nodules whose diameters differ by < 1 mm are not compared).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from lesiontrials.anatomy import Lobe, Texture, Zone
from lesiontrials.scoring.questions.lungrads import (
    CATEGORIES,
    FOLLOW_UP_OPTIONS,
    GROWTH_MM,
    NOT_MODELLED,
    case_category,
    follow_up_option,
    nodule_category,
)
from lesiontrials.scoring.questions.truth import CaseTruth, NoduleTruth

CANNOT: Final = "cannot be determined"
YES, NO = "yes", "no"
#: Per-nodule questions need an unambiguous reference: the largest nodule must beat the
#: next by this much (mm); pairwise size comparisons need the same margin.
SIZE_MARGIN_MM: Final = 1.0
#: "More superior" needs this cranio-caudal separation of the centroids (mm).
LEVEL_MARGIN_MM: Final = 5.0
#: Juxtapleural: nodule–pleura distance ≤ this (mm); "not juxtapleural" ≥ NOT_JUXTA (mm);
#: cases in between are not asked.
JUXTA_MM: Final = 2.0
NOT_JUXTA_MM: Final = 5.0

#: growth questions: a change within this of :data:`GROWTH_MM` is too close to call (mm)
GROWTH_MARGIN_MM: Final = 0.5
#: Lung-RADS defines growth within 12 months: longer intervals are not asked (days)
GROWTH_INTERVAL_DAYS: Final = 366.0
#: how a two-scan view is laid out (every growth item says it, whatever the answer)
PAIR_NOTE: Final = ("The left half of the image is the current scan, the right half the "
                    "prior scan (blank when no prior scan is available).")
#: templates shown the current and the prior slice side by side (:mod:`.views`)
PAIR_TEMPLATES: Final = frozenset({"growth", "growth_mm", "new_nodule", "lung_rads_repeat",
                                   "follow_up_repeat"})
#: pair templates whose answer decides whether a pair view exists: a new nodule's prior is
#: nodule-free, so the evaluation set has no prior slice at the current view's level and
#: the case would be ``no_view`` exactly when the answer involves a new nodule (an image
#: model answering "no" to every item it is shown would score 100 %). Image answerers are
#: not asked these until evaluation sets slice priors at their successors' levels.
PRIOR_LEVEL_TEMPLATES: Final = frozenset({"new_nodule", "lung_rads_repeat",
                                          "follow_up_repeat"})

LOBE_TEXT: Final = MappingProxyType({
    Lobe.RUL.value: "right upper lobe", Lobe.RML.value: "right middle lobe",
    Lobe.RLL.value: "right lower lobe", Lobe.LUL.value: "left upper lobe",
    Lobe.LLL.value: "left lower lobe"})
ZONE_TEXT: Final = MappingProxyType({Zone.UPPER.value: "upper zone",
                                     Zone.MIDDLE.value: "middle zone",
                                     Zone.LOWER.value: "lower zone"})
TEXTURE_TEXT: Final = MappingProxyType({Texture.SOLID: "solid", Texture.PART_SOLID: "part-solid",
                                        Texture.GROUND_GLASS: "ground-glass"})


@dataclass(frozen=True)
class Tolerance:
    """A numeric answer is correct when ``|reply − truth| ≤ max(abs_mm, rel × truth)``."""

    absolute: float
    relative: float

    def allows(self, truth: float) -> float:
        return max(self.absolute, self.relative * abs(truth))


@dataclass(frozen=True)
class Answer:
    """The realised answer: ``value`` is "yes"/"no", an option text, a number or
    :data:`CANNOT`; ``options`` for multiple choice (unshuffled); ``fill`` the
    placeholders of the paraphrases."""

    value: str | float
    options: tuple[str, ...] = ()
    fill: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    """One question template. ``answer_type``: ``yes_no``, ``choice`` or ``numeric``."""

    template_id: str
    category: str
    answer_type: str
    paraphrases: tuple[str, ...]
    derive: Callable[[CaseTruth], Answer | None]
    unit: str = ""
    tolerance: Tolerance | None = None


def by_size(case: CaseTruth) -> list[NoduleTruth]:
    """Nodules largest first (mean diameter; ties by index)."""
    return sorted(case.nodules, key=lambda n: (-n.diameter_mm, n.index))


def subject(case: CaseTruth) -> tuple[NoduleTruth, str] | None:
    """The nodule per-nodule questions ask about and how they name it (``None``: no
    nodule, or the two largest are within :data:`SIZE_MARGIN_MM`)."""
    ranked = by_size(case)
    if not ranked:
        return None
    if len(ranked) > 1 and ranked[0].diameter_mm - ranked[1].diameter_mm < SIZE_MARGIN_MM:
        return None
    # always "the largest": "the nodule" would tell the count question's answer
    return ranked[0], "the largest nodule"


def _per_nodule(pick: Callable[[NoduleTruth], Answer | None]
                ) -> Callable[[CaseTruth], Answer | None]:
    def derive(case: CaseTruth) -> Answer | None:
        found = subject(case)
        if found is None:
            return None
        answer = pick(found[0])
        if answer is None:
            return None
        return Answer(answer.value, answer.options, {"ref": found[1], **answer.fill})
    return derive


def _yes_no(flag: bool | None) -> Answer:
    return Answer(CANNOT if flag is None else (YES if flag else NO))


def _pair(case: CaseTruth) -> tuple[NoduleTruth, NoduleTruth] | None:
    """The two nodules of a two-nodule case in different, known lobes."""
    if len(case.nodules) != 2:
        return None
    a, b = sorted(case.nodules, key=lambda n: n.index)
    if a.lobe is None or b.lobe is None or a.lobe == b.lobe:
        return None
    return a, b


def _compare(key: Callable[[NoduleTruth], float], margin: float
             ) -> Callable[[CaseTruth], Answer | None]:
    def derive(case: CaseTruth) -> Answer | None:
        pair = _pair(case)
        if pair is None or abs(key(pair[0]) - key(pair[1])) < margin:
            return None
        names = tuple(f"the nodule in the {LOBE_TEXT[str(n.lobe)]}" for n in pair)
        winner = names[0] if key(pair[0]) > key(pair[1]) else names[1]
        return Answer(winner, names, {"a": names[0], "b": names[1]})
    return derive


def _same_lobe(case: CaseTruth) -> Answer | None:
    if len(case.nodules) != 2 or any(n.lobe is None for n in case.nodules):
        return None
    return _yes_no(case.nodules[0].lobe == case.nodules[1].lobe)


def _juxtapleural(n: NoduleTruth) -> Answer | None:
    d = n.pleural_distance_mm
    if d is None or JUXTA_MM < d < NOT_JUXTA_MM:
        return None
    return _yes_no(d <= JUXTA_MM)


def _choice(value: str | None, options: tuple[str, ...], *, cannot: bool = False) -> Answer:
    opts = (*options, CANNOT) if cannot else options
    return Answer(CANNOT if value is None else value, opts)


def _category_question(*, repeat: bool, answer: Callable[[str | None], Answer]
                       ) -> Callable[[CaseTruth], Answer | None]:
    """A question on the case's Lung-RADS category: asked on repeat scans only (follow-up
    wording, growth rows apply) or on scans without a prior only (baseline wording); a
    not-modelled category is not asked. ``answer`` maps the category (None: cannot be
    determined) to the answer."""
    def derive(case: CaseTruth) -> Answer | None:
        if (case.prior_case_uid is not None) != repeat:
            return None
        category = case_category(case.nodules)
        if category == NOT_MODELLED:
            return None
        return answer(category)
    return derive


def _lung_rads_of(*, repeat: bool) -> Callable[[CaseTruth], Answer | None]:
    """The case category, in the wording of a baseline or a repeat scan."""
    return _category_question(
        repeat=repeat, answer=lambda category: _choice(category, CATEGORIES, cannot=True))


def _follow_up_of(*, repeat: bool) -> Callable[[CaseTruth], Answer | None]:
    """The follow-up the case category calls for."""
    return _category_question(repeat=repeat, answer=lambda category: _choice(
        None if category is None else follow_up_option(category), FOLLOW_UP_OPTIONS,
        cannot=True))


def _suspicious(n: NoduleTruth) -> Answer | None:
    category = nodule_category(n)
    if category == NOT_MODELLED:
        return None
    return _yes_no(None if category is None else category in ("4A", "4B"))


def _series_subject(case: CaseTruth) -> NoduleTruth | None:
    """The nodule a growth question asks about (cases of longitudinal trials only)."""
    if not case.in_series:
        return None
    found = subject(case)
    return None if found is None else found[0]


def _growth(case: CaseTruth) -> Answer | None:
    """Grown by > 1.5 mm since the prior scan; "cannot be determined" without a prior;
    new nodules (``new_nodule``), near-threshold changes and > 12-month intervals are not
    asked."""
    n = _series_subject(case)
    if n is None:
        return None
    fill = {"ref": "the largest nodule"}
    if case.prior_case_uid is None:
        return Answer(CANNOT, fill=fill)
    change = n.diameter_change_mm
    if change is None or (case.interval_days or 0.0) > GROWTH_INTERVAL_DAYS:
        return None
    if abs(change - GROWTH_MM) < GROWTH_MARGIN_MM:
        return None
    return Answer(YES if change > GROWTH_MM else NO, fill=fill)


def _growth_mm(case: CaseTruth) -> Answer | None:
    n = _series_subject(case)
    change = None if n is None else n.diameter_change_mm
    if change is None:
        return None
    return Answer(round(change, 1), fill={"ref": "the largest nodule"})


def _new_nodule(case: CaseTruth) -> Answer | None:
    n = _series_subject(case)
    if n is None:
        return None
    fill = {"ref": "the largest nodule"}
    if case.prior_case_uid is None:
        return Answer(CANNOT, fill=fill)
    return Answer(YES if n.status == "new" else NO, fill=fill)


def _attenuation(n: NoduleTruth) -> Answer:
    return _choice(None if n.attenuation is None else TEXTURE_TEXT[n.attenuation],
                   tuple(TEXTURE_TEXT.values()), cannot=True)


def _number(pick: Callable[[NoduleTruth], float | None]) -> Callable[[NoduleTruth], Answer | None]:
    def derive(n: NoduleTruth) -> Answer | None:
        value = pick(n)
        return None if value is None else Answer(round(float(value), 1))
    return derive


CATALOGUE: Final[tuple[Template, ...]] = (
    Template("presence", "recognition", "yes_no", (
        "Is there a lung nodule in this chest CT?",
        "Does this CT scan show any pulmonary nodule?",
        "Are any lung nodules present?"),
        lambda c: _yes_no(bool(c.nodules))),
    Template("count", "recognition", "numeric", (
        "How many lung nodules are there in this CT?",
        "Count the pulmonary nodules in this scan."),
        lambda c: Answer(float(len(c.nodules))), unit="nodules",
        tolerance=Tolerance(0.0, 0.0)),
    Template("side", "recognition", "choice", (
        "In which lung is {ref}?", "Is {ref} in the left or the right lung?"),
        _per_nodule(lambda n: _choice(n.side if n.side in ("left", "right") else None,
                                      ("left", "right")))),
    Template("lobe", "recognition", "choice", (
        "In which lobe is {ref}?", "Which pulmonary lobe contains {ref}?"),
        _per_nodule(lambda n: None if n.lobe is None else _choice(
            LOBE_TEXT[n.lobe], tuple(LOBE_TEXT.values())))),
    Template("zone", "recognition", "choice", (
        "In which lung zone (upper, middle or lower) is {ref}?",
        "Is {ref} in the upper, middle or lower zone of the lung?"),
        _per_nodule(lambda n: _choice(ZONE_TEXT.get(n.zone), tuple(ZONE_TEXT.values())))),
    Template("attenuation", "recognition", "choice", (
        "What is the attenuation of {ref}?",
        "Is {ref} solid, part-solid or ground-glass?"),
        _per_nodule(_attenuation)),
    Template("calcification", "recognition", "yes_no", (
        "Is {ref} calcified?", "Does {ref} contain calcification?"),
        _per_nodule(lambda n: _yes_no(None if n.calcification is None
                                      else n.calcification.value != "none"))),
    Template("mean_diameter", "measurement", "numeric", (
        "What is the mean diameter of {ref} in millimetres?",
        "Measure {ref}: its average diameter in mm?"),
        _per_nodule(_number(lambda n: n.diameter_mm)), unit="mm",
        tolerance=Tolerance(1.0, 0.10)),
    Template("longest_diameter", "measurement", "numeric", (
        "What is the longest diameter of {ref} in millimetres?",
        "How long is {ref} along its longest axis, in mm?"),
        _per_nodule(_number(lambda n: n.max_diameter_mm)), unit="mm",
        tolerance=Tolerance(1.5, 0.15)),
    Template("volume", "measurement", "numeric", (
        "What is the volume of {ref} in cubic millimetres?",
        "Estimate the volume of {ref} (mm³)."),
        _per_nodule(_number(lambda n: n.volume_mm3)), unit="mm3",
        tolerance=Tolerance(0.0, 0.25)),
    Template("pleural_distance", "measurement", "numeric", (
        "How far is {ref} from the pleura, in millimetres?",
        "What is the distance from {ref} to the pleural surface (mm)?"),
        _per_nodule(_number(lambda n: n.pleural_distance_mm)), unit="mm",
        tolerance=Tolerance(2.0, 0.20)),
    Template("larger", "visual_reasoning", "choice", (
        "Which is larger: {a} or {b}?", "Of {a} and {b}, which nodule is bigger?"),
        _compare(lambda n: n.diameter_mm, SIZE_MARGIN_MM)),
    Template("more_superior", "visual_reasoning", "choice", (
        "Which lies more superiorly: {a} or {b}?",
        "Which nodule is higher (more cranial): {a} or {b}?"),
        _compare(lambda n: n.centroid_mm[2], LEVEL_MARGIN_MM)),
    Template("juxtapleural", "visual_reasoning", "yes_no", (
        "Is {ref} juxtapleural (touching the pleura)?", "Does {ref} abut the pleura?"),
        _per_nodule(_juxtapleural)),
    Template("same_lobe", "visual_reasoning", "yes_no", (
        "Are the two nodules in the same lobe?", "Do both nodules lie in one lobe?"),
        _same_lobe),
    Template("lung_rads", "medical_reasoning", "choice", (
        "What is the Lung-RADS v2022 category of this baseline screening CT?",
        "Assign the Lung-RADS (v2022) category for this scan."),
        _lung_rads_of(repeat=False)),
    Template("follow_up", "medical_reasoning", "choice", (
        "What follow-up does Lung-RADS v2022 recommend for this scan?",
        "Which management is recommended for this baseline screening CT?"),
        _follow_up_of(repeat=False)),
    Template("lung_rads_repeat", "medical_reasoning", "choice", (
        "What is the Lung-RADS v2022 category of this annual screening CT, compared with "
        f"the prior scan? {PAIR_NOTE}",
        "Assign the Lung-RADS (v2022) category of this follow-up screening CT, taking new "
        f"and growing nodules into account. {PAIR_NOTE}"),
        _lung_rads_of(repeat=True)),
    Template("follow_up_repeat", "medical_reasoning", "choice", (
        "What follow-up does Lung-RADS v2022 recommend after this annual screening CT, "
        f"compared with the prior scan? {PAIR_NOTE}",
        f"Which management is recommended for this follow-up screening CT? {PAIR_NOTE}"),
        _follow_up_of(repeat=True)),
    Template("growth", "visual_reasoning", "yes_no", (
        "Has {ref} grown since the prior scan (mean diameter increased by more than "
        f"1.5 mm)? {PAIR_NOTE}",
        "Compared with the prior scan, has the mean diameter of {ref} increased by more "
        f"than 1.5 mm? {PAIR_NOTE}"),
        _growth),
    Template("growth_mm", "measurement", "numeric", (
        "By how many millimetres has the mean diameter of {ref} changed since the prior "
        f"scan (negative if it shrank)? {PAIR_NOTE}",
        f"What is the change in mean diameter of {{ref}} since the prior scan, in mm? "
        f"{PAIR_NOTE}"),
        _growth_mm, unit="mm", tolerance=Tolerance(1.0, 0.0)),
    Template("new_nodule", "visual_reasoning", "yes_no", (
        f"Is {{ref}} new since the prior scan? {PAIR_NOTE}",
        f"Was {{ref}} absent from the prior scan? {PAIR_NOTE}"),
        _new_nodule),
    Template("suspicious", "medical_reasoning", "yes_no", (
        "Is {ref} suspicious for malignancy (Lung-RADS 4A or higher)?",
        "By size and attenuation, is {ref} suspicious (Lung-RADS 4)?"),
        _per_nodule(_suspicious)),
)
TEMPLATES: Final = MappingProxyType({t.template_id: t for t in CATALOGUE})
