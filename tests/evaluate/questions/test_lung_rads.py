"""Lung-RADS v2022 baseline rules table and follow-up, by hand."""

from __future__ import annotations

import pytest

from lesiontrials.anatomy import Texture
from lesiontrials.lesion_text.descriptors import Calcification
from lesiontrials.scoring.questions.lungrads import (
    FOLLOW_UP,
    case_category,
    follow_up_option,
    nodule_category,
)
from lesiontrials.scoring.questions.truth import NoduleTruth


def nodule(d: float, texture: Texture | None = Texture.SOLID, solid_fraction: float = 1.0,
           calcification: Calcification | None = Calcification.NONE, index: int = 0
           ) -> NoduleTruth:
    return NoduleTruth(index=index, lobe="right_lung_upper_lobe", side="right",
                       zone="upper_zone", diameter_mm=d, max_diameter_mm=d * 1.2,
                       volume_mm3=3.14159 / 6 * d ** 3, pleural_distance_mm=4.0,
                       centroid_mm=(0.0, 0.0, 10.0 * index), attenuation=texture,
                       solid_fraction=None if texture is None else solid_fraction,
                       calcification=calcification)


@pytest.mark.parametrize(("d", "texture", "solid_fraction", "expected"), [
    (5.9, Texture.SOLID, 1.0, "2"),
    (5.96, Texture.SOLID, 1.0, "3"),  # rounds to 6.0 mm (v2022: one decimal)
    (6.0, Texture.SOLID, 1.0, "3"),
    (7.9, Texture.SOLID, 1.0, "3"),
    (8.0, Texture.SOLID, 1.0, "4A"),
    (14.9, Texture.SOLID, 1.0, "4A"),
    (15.0, Texture.SOLID, 1.0, "4B"),
    (29.9, Texture.GROUND_GLASS, 0.0, "2"),
    (30.0, Texture.GROUND_GLASS, 0.0, "3"),
    (5.0, Texture.PART_SOLID, 0.5, "2"),
    (10.0, Texture.PART_SOLID, 0.5, "3"),  # solid 5 mm
    (10.0, Texture.PART_SOLID, 0.7, "4A"),  # solid 7 mm
    (10.0, Texture.PART_SOLID, 0.8, "4B"),  # solid 8 mm
])
def test_rules_table(d: float, texture: Texture, solid_fraction: float, expected: str) -> None:
    assert nodule_category(nodule(d, texture, solid_fraction)) == expected


def test_benign_calcification_is_1_but_eccentric_is_not() -> None:
    assert nodule_category(nodule(20.0, calcification=Calcification.POPCORN)) == "1"
    assert nodule_category(nodule(20.0, calcification=Calcification.ECCENTRIC)) == "4B"


def test_unknown_attenuation_cannot_be_categorised() -> None:
    assert nodule_category(nodule(10.0, texture=None)) is None
    assert case_category([nodule(10.0, texture=None), nodule(4.0, index=1)]) is None


def test_case_takes_the_highest_and_empty_is_1() -> None:
    assert case_category([nodule(4.0), nodule(9.0, index=1), nodule(6.5, index=2)]) == "4A"
    assert case_category([]) == "1"


def test_follow_up_per_category() -> None:
    assert [follow_up_option(c) for c in ("1", "2", "3", "4A", "4B")] == [
        "12-month LDCT", "12-month LDCT", "6-month LDCT", "3-month LDCT",
        "PET/CT or tissue sampling"]
    assert set(FOLLOW_UP) == {"1", "2", "3", "4A", "4B"}
