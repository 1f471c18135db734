"""Lung-RADS v2022 category and recommended management, from realised truth.

Size is the mean diameter rounded to one decimal place (v2022 measurement rule). Rules
(:func:`lesiontrials.anatomy.lung_rads`): solid 2 (<6 mm) · 3 (6 to <8) · 4A (8 to <15) ·
4B (≥15); part-solid 2 (<6 mm total) · 3 (solid component <6) · 4A (solid 6 to <8) ·
4B (solid ≥8); ground glass 2 (<30 mm) · 3 (≥30); benign calcification → 1. A case's
category is its highest nodule category; a case without nodules is category 1.

On a repeat scan (longitudinal screening) the v2022 rows for new and growing nodules
apply (:func:`follow_up_category`). Growth: mean diameter increase > 1.5 mm
(:data:`GROWTH_MM`; the part-solid rows use the solid component's increase).
Solid — new: 2 (<4 mm) · 3 (4 to <6) · 4A (6 to <8) · 4B (≥8); growing: 4A (<8) · 4B (≥8).
Part-solid (≥6 mm) — new or growing solid component: 4A (<4 mm) · 4B (≥4); new <6 mm
total: 3. Ground glass — new: 2 (<30 mm) · 3 (≥30); growing or stable: 2 (v2022: "<30 mm
… growing; ≥30 mm unchanged or slowly growing"). Not growing (stable or shrinking): the
size category, re-classified upward when the nodule crossed a size threshold, else the
v2022 stepped management applied at this scan — a prior category 3 becomes 2, 4A becomes
3; a stable 4B (its category depends on the diagnostic work-up) is :data:`NOT_MODELLED`
and not asked. A part-solid nodule whose total diameter grew but whose solid component
did not keeps its size category (no stepping down).
"""

from __future__ import annotations

from collections.abc import Sequence

from lesiontrials.anatomy import Texture, lung_rads
from lesiontrials.scoring.questions.truth import NoduleTruth

CATEGORIES = ("1", "2", "3", "4A", "4B")
#: Recommended management per category (v2022 baseline).
FOLLOW_UP = {
    "1": "12-month screening LDCT",
    "2": "12-month screening LDCT",
    "3": "6-month LDCT",
    "4A": "3-month LDCT; PET/CT may be considered",
    "4B": "diagnostic chest CT, PET/CT and/or tissue sampling",
}
#: Short options for the follow-up question (distinct per management).
FOLLOW_UP_OPTIONS = ("12-month LDCT", "6-month LDCT", "3-month LDCT", "PET/CT or tissue sampling")
_FOLLOW_UP_OPTION = {"1": "12-month LDCT", "2": "12-month LDCT", "3": "6-month LDCT",
                     "4A": "3-month LDCT", "4B": "PET/CT or tissue sampling"}


#: Lung-RADS v2022 growth: an increase in mean diameter of more than this (mm) in 12 months
GROWTH_MM = 1.5
#: a category these rules do not model (a stable 4B): the question is not asked
NOT_MODELLED = "not modelled"


def _size_category(diameter_mm: float, nodule: NoduleTruth, *, benign_calcification: bool
                   ) -> str:
    """The baseline (size) category of ``nodule`` at ``diameter_mm``."""
    solid = None if nodule.solid_fraction is None else diameter_mm * nodule.solid_fraction
    return lung_rads(round(diameter_mm, 1), texture=nodule.attenuation or "solid",
                     solid_component_mm=None if solid is None else round(solid, 1),
                     benign_calcification=benign_calcification)


def nodule_category(nodule: NoduleTruth) -> str | None:
    """Category of one nodule (baseline rules, or :func:`follow_up_category` on a repeat
    scan); ``None`` when its attenuation or calcification is unknown."""
    if nodule.attenuation is None or nodule.benign_calcification is None:
        return None
    if nodule.benign_calcification:
        return "1"
    if nodule.status == "baseline":
        return _size_category(nodule.diameter_mm, nodule, benign_calcification=False)
    return follow_up_category(nodule)


def follow_up_category(nodule: NoduleTruth) -> str:
    """The v2022 category of a non-calcified nodule on a repeat scan (module docstring)."""
    d = round(nodule.diameter_mm, 1)
    texture = nodule.attenuation
    solid = nodule.solid_component_mm or 0.0
    if nodule.status == "new":
        if texture is Texture.GROUND_GLASS:
            return "2" if d < 30.0 else "3"
        if texture is Texture.PART_SOLID:
            if d < 6.0:
                return "3"
            return "4A" if round(solid, 1) < 4.0 else "4B"
        return "2" if d < 4.0 else "3" if d < 6.0 else "4A" if d < 8.0 else "4B"
    change = nodule.diameter_change_mm or 0.0
    if texture is Texture.SOLID and change > GROWTH_MM:
        return "4A" if d < 8.0 else "4B"
    if (texture is Texture.PART_SOLID and d >= 6.0 and nodule.solid_fraction is not None
            and change * nodule.solid_fraction > GROWTH_MM):
        return "4A" if round(solid, 1) < 4.0 else "4B"
    return _stable_category(nodule)


def _stable_category(nodule: NoduleTruth) -> str:
    now = _size_category(nodule.diameter_mm, nodule, benign_calcification=False)
    before = _size_category(float(nodule.prior_diameter_mm or nodule.diameter_mm), nodule,
                            benign_calcification=False)
    if nodule.attenuation is Texture.GROUND_GLASS:
        return now if CATEGORIES.index(now) > CATEGORIES.index(before) else "2"
    if CATEGORIES.index(now) > CATEGORIES.index(before):
        return now  # crossed a size threshold: re-classified by size
    if (nodule.diameter_change_mm or 0.0) > GROWTH_MM:
        return now  # grew, but not in a way a growth row names (e.g. a part-solid's GGN part)
    return {"3": "2", "4A": "3", "4B": NOT_MODELLED}.get(before, now)


def case_category(nodules: Sequence[NoduleTruth]) -> str | None:
    """Highest category over the nodules (1 when none); ``None`` if any is unknown,
    :data:`NOT_MODELLED` if any is not modelled."""
    categories = [nodule_category(n) for n in nodules]
    if any(c is None for c in categories):
        return None
    if NOT_MODELLED in categories:
        return NOT_MODELLED
    return max((c for c in categories if c is not None), key=CATEGORIES.index, default="1")


def follow_up_option(category: str) -> str:
    """The :data:`FOLLOW_UP_OPTIONS` entry for a category."""
    return _FOLLOW_UP_OPTION[category]
