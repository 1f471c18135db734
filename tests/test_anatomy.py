import math

import pytest

from lesiontrials import anatomy
from lesiontrials.anatomy import Lobe, Side, Zone


def test_label_dictionary_has_the_ids_we_rely_on():
    expected = {
        23: "lung tumor", 28: "left lung upper lobe", 29: "left lung lower lobe",
        30: "right lung upper lobe", 31: "right lung middle lobe", 32: "right lung lower lobe",
        132: "airway", 200: "body", 6: "aorta", 11: "esophagus", 57: "trachea", 115: "heart",
        119: "pulmonary vein", 121: "spinal cord", 122: "sternum", 125: "superior vena cava",
        33: "vertebrae L5", 56: "vertebrae C1", 63: "left rib 1", 74: "left rib 12",
        75: "right rib 1", 86: "right rib 12",
    }
    for label_id, name in expected.items():
        assert anatomy.LABEL_NAMES[label_id] == name
    assert len([i for i in anatomy.LABEL_NAMES if 1 <= i <= 132]) == 132
    assert max(anatomy.LABEL_NAMES) <= 255  # MAISI ControlNet bit-encodes labels in 8 bits
    assert all(anatomy.LABEL_IDS[n] == i for i, n in anatomy.LABEL_NAMES.items())


@pytest.mark.parametrize(
    ("alias", "lobe"),
    [("RUL", Lobe.RUL), ("rml", Lobe.RML), ("right lower", Lobe.RLL), ("Left Upper Lobe", Lobe.LUL),
     ("left_lung_lower_lobe", Lobe.LLL), ("lingula", Lobe.LUL), (30, Lobe.RUL),
     ("right lung upper lobe", Lobe.RUL), ("upper right", Lobe.RUL)],
)
def test_lobe_aliases(alias, lobe):
    assert anatomy.parse_lobe(alias) is lobe


def test_unknown_lobe_lists_accepted_names():
    with pytest.raises(ValueError, match="right_lung_upper_lobe"):
        anatomy.parse_lobe("left middle")


def test_lobe_sides_and_ids():
    assert {lobe.side for lobe in Lobe if lobe.value.startswith("right")} == {Side.RIGHT}
    assert Lobe.LLL.label_id == 29 and Lobe.RML.label_id == 31
    assert anatomy.parse_side("R") is Side.RIGHT
    assert anatomy.parse_zone("upper") is Zone.UPPER


@pytest.mark.parametrize(("pct", "zone"), [(0, Zone.LOWER), (33.3, Zone.LOWER),
                                           (33.34, Zone.MIDDLE), (66.7, Zone.UPPER),
                                           (100, Zone.UPPER)])
def test_zone_thirds(pct, zone):
    assert anatomy.zone_from_cc_pct(pct) is zone


@pytest.mark.parametrize(("d", "profile_bin", "task_bin"), [
    (0.0, "<5", "<5"), (4.999, "<5", "<5"), (5.0, "5-10", "5-10"), (9.99, "5-10", "5-10"),
    (10.0, "10-15", "10-20"), (15.0, "15-20", "10-20"), (20.0, "20-30", ">=20"),
    (30.0, ">=30", ">=20"), (120.0, ">=30", ">=20"),
])
def test_size_bins_are_half_open(d, profile_bin, task_bin):
    assert anatomy.profile_size_bin(d) == profile_bin
    assert anatomy.task_size_bin(d) == task_bin


def test_size_bin_rejects_nonsense():
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            anatomy.task_size_bin(bad)


@pytest.mark.parametrize(("d", "texture", "solid", "category"), [
    (None, "solid", None, "1"), (5.9, "solid", None, "2"), (6.0, "solid", None, "3"),
    (7.99, "solid", None, "3"), (8.0, "solid", None, "4A"), (14.9, "solid", None, "4A"),
    (15.0, "solid", None, "4B"), (29.0, "ground_glass", None, "2"),
    (30.0, "ground_glass", None, "3"), (5.0, "part_solid", None, "2"),
    (10.0, "part_solid", 4.0, "3"), (10.0, "part_solid", 7.0, "4A"),
    (12.0, "part_solid", 9.0, "4B"),
])
def test_lung_rads(d, texture, solid, category):
    assert anatomy.lung_rads(d, texture=texture, solid_component_mm=solid) == category


def test_lidc_texture_mapping():
    assert anatomy.texture_from_lidc(1) is anatomy.Texture.GROUND_GLASS
    assert anatomy.texture_from_lidc(3) is anatomy.Texture.PART_SOLID
    assert anatomy.texture_from_lidc(5) is anatomy.Texture.SOLID
