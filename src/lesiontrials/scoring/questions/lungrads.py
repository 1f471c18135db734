"""Lung-RADS v2022 baseline category and recommended management, from realised truth.

Size is the mean diameter rounded to one decimal place (v2022 measurement rule). Rules
(:func:`lesiontrials.anatomy.lung_rads`): solid 2 (<6 mm) · 3 (6 to <8) · 4A (8 to <15) ·
4B (≥15); part-solid 2 (<6 mm total) · 3 (solid component <6) · 4A (solid 6 to <8) ·
4B (solid ≥8); ground glass 2 (<30 mm) · 3 (≥30); benign calcification → 1. A case's
category is its highest nodule category; a case without nodules is category 1.
"""

from __future__ import annotations

from collections.abc import Sequence

from lesiontrials.anatomy import lung_rads
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


def nodule_category(nodule: NoduleTruth) -> str | None:
    """Category of one nodule; ``None`` when its attenuation or calcification is unknown."""
    if nodule.attenuation is None or nodule.benign_calcification is None:
        return None
    solid = nodule.solid_component_mm
    return lung_rads(round(nodule.diameter_mm, 1), texture=nodule.attenuation,
                     solid_component_mm=None if solid is None else round(solid, 1),
                     benign_calcification=nodule.benign_calcification)


def case_category(nodules: Sequence[NoduleTruth]) -> str | None:
    """Highest category over the nodules (1 when none); ``None`` if any is unknown."""
    categories = [nodule_category(n) for n in nodules]
    if any(c is None for c in categories):
        return None
    return max((c for c in categories if c is not None), key=CATEGORIES.index, default="1")


def follow_up_option(category: str) -> str:
    """The :data:`FOLLOW_UP_OPTIONS` entry for a category."""
    return _FOLLOW_UP_OPTION[category]
