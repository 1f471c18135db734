"""Each template's answer against hand-computed truth; uids, options, splits, no leaks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lesiontrials.anatomy import Texture
from lesiontrials.errors import InputError
from lesiontrials.scoring.questions.bank import build_bank, items_for_case
from lesiontrials.scoring.questions.templates import CANNOT, CATALOGUE, TEMPLATES
from lesiontrials.scoring.questions.truth import CaseTruth, case_from_insert


def _nodule(index: int, *, lobe: str, side: str, zone: str, d: float, z: float,
            pleural: float, ratings: dict[str, float] | None) -> dict[str, Any]:
    return {"nodule_index": index, "donor_characteristics": ratings or {}, "realised": {
        "lobe": lobe, "side": side, "zone": zone, "equivalent_diameter_mm": d,
        "max_axis_diameter_mm": d + 2.0, "volume_mm3": 4.18879 * (d / 2) ** 3,
        "pleural_distance_mm": pleural, "centroid_mm": [10.0, -20.0, z]}}


SOLID = {"texture": 5.0, "calcification": 6.0}
PART_SOLID = {"texture": 3.0, "calcification": 6.0}


def _record(uid: str, nodules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"case_uid": uid, "status": "done", "nodules": nodules}


ONE = case_from_insert(_record("t-1", [_nodule(
    0, lobe="left_lung_lower_lobe", side="left", zone="lower_zone", d=9.04, z=-80.0,
    pleural=1.0, ratings=SOLID)]))
TWO = case_from_insert(_record("t-2", [
    _nodule(0, lobe="right_lung_upper_lobe", side="right", zone="upper_zone", d=12.0,
            z=40.0, pleural=9.0, ratings=PART_SOLID),
    _nodule(1, lobe="left_lung_lower_lobe", side="left", zone="lower_zone", d=5.0, z=-60.0,
            pleural=0.0, ratings=SOLID)]))
EMPTY = case_from_insert(_record("t-0", []))
UNRATED = case_from_insert(_record("t-u", [_nodule(
    0, lobe="right_lung_middle_lobe", side="right", zone="middle_zone", d=7.0, z=0.0,
    pleural=3.0, ratings=None)]))


def answers(case: CaseTruth) -> dict[str, Any]:
    return {i.template_id: i.answer for i in items_for_case(case) if i.paraphrase == 0}


def test_one_solid_nodule_by_hand() -> None:
    a = answers(ONE)
    assert a["presence"] == "yes" and a["count"] == 1.0
    assert (a["side"], a["lobe"], a["zone"]) == ("left", "left lower lobe", "lower zone")
    assert a["attenuation"] == "solid" and a["calcification"] == "no"
    assert a["mean_diameter"] == 9.0 and a["longest_diameter"] == 11.0
    assert a["volume"] == pytest.approx(round(4.18879 * 4.52 ** 3, 1))
    assert a["pleural_distance"] == 1.0 and a["juxtapleural"] == "yes"
    assert a["lung_rads"] == "4A" and a["follow_up"] == "3-month LDCT"
    assert a["suspicious"] == "yes"
    assert not {"larger", "more_superior", "same_lobe"} & set(a)  # need two nodules


def test_two_nodules_by_hand() -> None:
    a = answers(TWO)
    assert a["count"] == 2.0
    assert a["larger"] == "the nodule in the right upper lobe"
    assert a["more_superior"] == "the nodule in the right upper lobe"
    assert a["same_lobe"] == "no"
    # largest is part-solid 12 mm with a 0.45 × 12 = 5.4 mm core → 3; the 5 mm solid → 2
    assert a["attenuation"] == "part-solid" and a["lung_rads"] == "3"
    assert a["follow_up"] == "6-month LDCT" and a["suspicious"] == "no"
    assert a["juxtapleural"] == "no"  # 9 mm from the pleura
    assert a["lobe"] == "right upper lobe"


def test_no_nodule_and_cannot_be_determined() -> None:
    empty = answers(EMPTY)
    assert empty == {"presence": "no", "count": 0.0, "lung_rads": "1",
                     "follow_up": "12-month LDCT"}
    unrated = answers(UNRATED)
    assert unrated["attenuation"] == CANNOT and unrated["calcification"] == CANNOT
    assert unrated["lung_rads"] == CANNOT and unrated["suspicious"] == CANNOT
    assert unrated["lobe"] == "right middle lobe"


def test_too_close_to_call_is_not_asked() -> None:
    record = _record("t-close", [
        _nodule(0, lobe="right_lung_upper_lobe", side="right", zone="upper_zone", d=8.0,
                z=10.0, pleural=3.0, ratings=SOLID),
        _nodule(1, lobe="left_lung_upper_lobe", side="left", zone="upper_zone", d=8.5,
                z=12.0, pleural=3.5, ratings=SOLID)])
    a = answers(case_from_insert(record))
    assert not {"larger", "more_superior", "lobe", "mean_diameter", "juxtapleural"} & set(a)
    assert a["same_lobe"] == "no"


def test_uids_options_paraphrases_and_splits() -> None:
    bank = build_bank([TWO, ONE, EMPTY], seed=3)
    assert bank == build_bank([EMPTY, ONE, TWO], seed=3)  # order-free, deterministic
    uids = [i.uid for i in bank]
    assert len(set(uids)) == len(uids)
    assert "t-2/lobe/p1" in uids
    for item in bank:
        template = TEMPLATES[item.template_id]
        assert item.question == template.paraphrases[item.paraphrase].format(
            ref="the largest nodule", a="the nodule in the right upper lobe",
            b="the nodule in the left lower lobe")
        if item.answer_type == "choice":
            assert item.answer in item.options
        assert item.split == next(i.split for i in bank if i.case_uid == item.case_uid)
    lobes = {i.options for i in bank if i.template_id == "lobe"}
    assert len(lobes) > 1  # shuffled per item, not one fixed order
    other = build_bank([TWO, ONE, EMPTY], seed=4)
    assert [i.uid for i in other] == uids


def test_question_text_never_encodes_the_answer() -> None:
    # A cheating reader that answers from the question text alone: per-nodule questions
    # must read the same whether the scan has one nodule or several.
    for case in (ONE, TWO, UNRATED):
        for item in items_for_case(case):
            if item.answer_type != "choice" and isinstance(item.answer, str):
                assert item.answer not in item.question.lower().split()
    one = {i.uid.split("/", 1)[1]: i.question for i in items_for_case(ONE)}
    two = {i.uid.split("/", 1)[1]: i.question for i in items_for_case(TWO)}
    for key in one.keys() & two.keys():
        assert one[key] == two[key], key


def test_every_template_has_paraphrases_and_a_known_type() -> None:
    for template in CATALOGUE:
        assert len(template.paraphrases) >= 2
        assert template.answer_type in {"yes_no", "choice", "numeric"}
        assert template.category in {"recognition", "measurement", "visual_reasoning",
                                     "medical_reasoning"}


def test_bad_truth_is_an_error_naming_the_field() -> None:
    record = _record("t-bad", [copy.deepcopy(_nodule(
        0, lobe="right_lung_upper_lobe", side="right", zone="upper_zone", d=8.0, z=0.0,
        pleural=1.0, ratings=SOLID))])
    del record["nodules"][0]["realised"]["equivalent_diameter_mm"]
    with pytest.raises(InputError) as err:
        case_from_insert(record, where="cases/x/insert.json")
    assert err.value.column == "equivalent_diameter_mm"
    with pytest.raises(InputError, match="not 'done'"):
        case_from_insert({**record, "status": "failed"})


def test_attenuation_from_ratings() -> None:
    assert ONE.nodules[0].attenuation is Texture.SOLID
    assert TWO.nodules[0].attenuation is Texture.PART_SOLID


def test_always_the_same_letter_does_not_pay() -> None:
    # a cheating reader that always answers "A" (or any fixed position) must sit near chance
    cases = []
    lobes = ["right_lung_upper_lobe", "right_lung_middle_lobe", "right_lung_lower_lobe",
             "left_lung_upper_lobe", "left_lung_lower_lobe"]
    for c in range(200):
        lobe = lobes[c % 5]
        cases.append(case_from_insert(_record(f"r-{c:03d}", [_nodule(
            0, lobe=lobe, side=lobe.split("_")[0], zone="upper_zone", d=5.0 + c % 20,
            z=0.0, pleural=1.0, ratings=SOLID)])))
    items = [i for i in build_bank(cases, seed=0) if i.template_id == "lobe"]
    positions = [i.options.index(str(i.answer)) for i in items]
    shares = [positions.count(k) / len(positions) for k in range(5)]
    assert max(shares) < 0.3  # chance is 0.2
