"""Growth questions and the Lung-RADS v2022 rows for new and growing nodules, by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from lesiontrials.anatomy import Texture
from lesiontrials.lesion_text.descriptors import Calcification
from lesiontrials.scoring.questions.adapters import Asked, TaskAnswerer
from lesiontrials.scoring.questions.bank import items_for_case
from lesiontrials.scoring.questions.lungrads import NOT_MODELLED, nodule_category
from lesiontrials.scoring.questions.reader import RulesReader
from lesiontrials.scoring.questions.templates import CANNOT, NO, PAIR_TEMPLATES, TEMPLATES, YES
from lesiontrials.scoring.questions.truth import CaseTruth, NoduleTruth
from lesiontrials.scoring.questions.views import pair_view_rows, side_by_side

YEAR = 365.25


def nodule(d: float, *, prior: float | None = None, status: str | None = None,
           texture: Texture = Texture.SOLID, solid_fraction: float = 1.0) -> NoduleTruth:
    status = status or ("repeat" if prior is not None else "baseline")
    return NoduleTruth(index=0, lobe="right_lung_upper_lobe", side="right", zone="upper_zone",
                       diameter_mm=d, max_diameter_mm=d * 1.2, volume_mm3=0.5236 * d ** 3,
                       pleural_distance_mm=8.0, centroid_mm=(0.0, 0.0, 0.0),
                       attenuation=texture, solid_fraction=solid_fraction,
                       calcification=Calcification.NONE, status=status,
                       prior_diameter_mm=prior)


def case(n: NoduleTruth | None, *, prior: bool = True, in_series: bool = True,
         interval: float = YEAR, uid: str = "s-00010") -> CaseTruth:
    return CaseTruth(uid, () if n is None else (n,),
                     prior_case_uid="s-00005" if prior else None,
                     interval_days=interval if prior else None, in_series=in_series)


def answer(template: str, c: CaseTruth) -> object:
    found = TEMPLATES[template].derive(c)
    return None if found is None else found.value


@pytest.mark.parametrize(("c", "grown", "change", "new", "category"), [
    (case(nodule(8.4, prior=6.0)), YES, 2.4, NO, "4B"),           # grown solid, now >= 8
    (case(nodule(7.3, prior=7.0)), NO, 0.3, NO, "2"),             # stable 3 -> stepped 2
    (case(nodule(6.4, prior=8.0)), NO, -1.6, NO, "3"),            # shrunk 4A -> stepped 3
    (case(nodule(7.7, prior=6.0)), None, 1.7, NO, "4A"),          # 1.7 mm: too close to call
    (case(nodule(5.0, status="new")), None, None, YES, "3"),      # new 4-6 mm solid
    (case(nodule(8.0), prior=False), CANNOT, None, CANNOT, None),  # round 0: no prior scan
    (case(nodule(8.4), in_series=False, prior=False), None, None, None, None),
    (case(nodule(9.0, prior=6.0), interval=2 * YEAR), None, 3.0, NO, "4B"),  # > 12 months
])
def test_growth_templates_against_hand_computed_truth(c, grown, change, new, category):
    assert answer("growth", c) == grown
    got = answer("growth_mm", c)
    assert (got is None and change is None) or got == pytest.approx(change)
    assert answer("new_nodule", c) == new
    assert answer("lung_rads_repeat", c) == category
    if c.prior_case_uid is not None:
        assert answer("lung_rads", c) is None  # the baseline wording is not asked
    elif c.nodules:
        assert answer("lung_rads", c) == "4A" and answer("lung_rads_repeat", c) is None


@pytest.mark.parametrize(("n", "expected"), [
    # solid, new: 2 (<4) · 3 (4 to <6) · 4A (6 to <8) · 4B (>=8)
    (nodule(3.9, status="new"), "2"), (nodule(4.0, status="new"), "3"),
    (nodule(6.0, status="new"), "4A"), (nodule(8.0, status="new"), "4B"),
    # solid, growing (> 1.5 mm): 4A (<8) · 4B (>=8), whatever the size category
    (nodule(5.0, prior=3.4), "4A"), (nodule(7.9, prior=6.0), "4A"),
    (nodule(8.0, prior=6.0), "4B"),
    # not growing but across a size threshold: re-classified by size
    (nodule(6.5, prior=5.8), "3"),
    # stable: stepped management (3 -> 2, 4A -> 3), a stable 4B is not modelled
    (nodule(10.5, prior=10.0), "3"), (nodule(16.0, prior=16.0), NOT_MODELLED),
    (nodule(5.0, prior=4.8), "2"),
    # part-solid (solid fraction 0.45): new <6 mm total -> 3; new/growing solid part 4A <4, 4B >=4
    (nodule(5.9, status="new", texture=Texture.PART_SOLID, solid_fraction=0.45), "3"),
    (nodule(8.0, status="new", texture=Texture.PART_SOLID, solid_fraction=0.45), "4A"),
    (nodule(10.0, status="new", texture=Texture.PART_SOLID, solid_fraction=0.45), "4B"),
    (nodule(12.0, prior=8.0, texture=Texture.PART_SOLID, solid_fraction=0.45), "4B"),
    (nodule(8.0, prior=6.0, texture=Texture.PART_SOLID, solid_fraction=0.45), "3"),  # solid +0.9
    # ground glass: new 2 (<30) · 3 (>=30); growing 2; reaching 30 mm: 3
    (nodule(29.0, status="new", texture=Texture.GROUND_GLASS, solid_fraction=0.0), "2"),
    (nodule(30.0, status="new", texture=Texture.GROUND_GLASS, solid_fraction=0.0), "3"),
    (nodule(14.0, prior=10.0, texture=Texture.GROUND_GLASS, solid_fraction=0.0), "2"),
    (nodule(31.0, prior=28.0, texture=Texture.GROUND_GLASS, solid_fraction=0.0), "3"),
])
def test_lung_rads_growth_rows(n: NoduleTruth, expected: str) -> None:
    assert nodule_category(n) == expected


def test_a_not_modelled_category_is_not_asked_and_benign_calcification_stays_1() -> None:
    stable_4b = case(nodule(16.0, prior=16.0))
    assert answer("lung_rads_repeat", stable_4b) is None
    assert answer("follow_up_repeat", stable_4b) is None
    calcified = dataclasses.replace(nodule(9.0, prior=6.0), calcification=Calcification.POPCORN)
    assert nodule_category(calcified) == "1"


def test_grown_and_not_grown_items_read_the_same() -> None:
    """No leak: what a model is asked is identical for grown, stable and shrunk nodules."""
    asked = []
    for d in (9.0, 6.2, 4.0):
        items = items_for_case(case(nodule(d, prior=6.0), uid="s-00010"))
        asked.append({i.uid: (i.question, i.options, i.prompt(), i.unit) for i in items
                      if i.template_id in ("growth", "growth_mm")})
    assert asked[0] == asked[1] == asked[2] and len(asked[0]) == 4
    answers = [TEMPLATES["growth"].derive(case(nodule(d, prior=6.0))) for d in (9.0, 4.0)]
    assert [a.value for a in answers if a] == [YES, NO]


def test_adapters_without_two_images_cannot_answer_growth() -> None:
    for template in PAIR_TEMPLATES:
        assert not TaskAnswerer.__new__(TaskAnswerer).can_answer(template)
        assert not RulesReader().can_answer(template)
        asked = Asked("u", "c", template, "yes_no", "q", (), "", "q")
        assert RulesReader().answer(asked, []) is None


def _row(uid: str, z: int, kind: str = "positive", nodule_index: int = 0) -> dict:
    return {"case_uid": uid, "condition": "plain", "kind": kind, "z_index": z,
            "nodule_index": nodule_index, "slice_uid": f"{uid}/z{z}"}


def test_pair_views_use_the_prior_slice_at_the_same_level() -> None:
    items = pd.DataFrame([_row("s-00010", 12), _row("s-00005", 11), _row("s-00005", 12),
                          _row("s-00011", 20), _row("s-00006", 7, "negative", -1),
                          _row("s-00000", 30)])
    cases = [case(nodule(8.0, prior=6.0), uid="s-00010"),
             dataclasses.replace(case(nodule(5.0, status="new"), uid="s-00011"),
                                 prior_case_uid="s-00006"),
             case(nodule(8.0), prior=False, uid="s-00000"),
             case(nodule(8.0), prior=False, in_series=False, uid="s-00099")]
    pairs = pair_view_rows(cases, items)
    assert pairs["s-00010"][1]["slice_uid"] == "s-00005/z12"
    assert "s-00011" not in pairs  # the prior (nodule-free) has no slice at that level
    assert pairs["s-00000"][1] is None and "s-00099" not in pairs
    image = np.full((4, 3), 200, dtype=np.uint8)
    blank = side_by_side(image, None)
    assert blank.shape == (4, 6) and (blank[:, 3:] == 0).all() and (blank[:, :3] == 200).all()


def test_a_patients_repeat_scans_form_one_series_and_share_its_split(tmp_path) -> None:
    from lesiontrials.io import write_json
    from lesiontrials.paths import Workspace
    from lesiontrials.scoring.questions.bank import build_bank
    from lesiontrials.scoring.questions.workspace import trial_cases

    ws = Workspace(tmp_path)
    realised = {"lobe": "right_lung_lower_lobe", "side": "right", "zone": "lower_zone",
                "equivalent_diameter_mm": 8.0, "max_axis_diameter_mm": 9.0,
                "volume_mm3": 268.0, "pleural_distance_mm": 8.0, "centroid_mm": [0, 0, 0]}
    for k in range(12):  # 4 patients x 3 rounds: case k's prior is case k - 4
        growth = None if k < 4 else {"status": "repeat", "prior_diameter_mm": 8.0}
        nodule = {"nodule_index": 0, "donor_characteristics": {"texture": 5,
                  "calcification": 6}, "realised": realised, "growth": growth}
        record = {"case_uid": f"s-{k:05d}", "status": "done", "nodules": [nodule]}
        if k >= 4:
            record["prior"] = {"case_uid": f"s-{k - 4:05d}", "interval_days": YEAR}
        write_json(record, ws.case_dir("s", f"s-{k:05d}") / "insert.json")
    cases, _ = trial_cases(ws, "s")
    assert all(c.in_series for c in cases)
    assert [c.series_uid for c in cases] == [f"s-{k % 4:05d}" for k in range(12)]
    bank = build_bank(cases, seed=3, dev_fraction=0.5)
    split_of: dict[str, set[str]] = {}
    for item in bank:
        split_of.setdefault(item.series_uid, set()).add(item.split)
    assert len(split_of) == 4 and all(len(s) == 1 for s in split_of.values())
    assert {i.template_id for i in bank if i.case_uid == "s-00000"} >= {"growth", "new_nodule"}
    stable = [i for i in bank if i.template_id == "growth" and i.case_uid == "s-00008"]
    assert stable and all(i.answer == NO for i in stable)


def test_whether_a_pair_view_exists_never_tells_a_new_nodule_apart() -> None:
    """A new nodule's prior has no slice at its level, so its case has no pair view; a model
    answering "no" to whatever it is shown would then score 100 % on ``new_nodule``. Image
    answerers are never shown the templates whose view depends on the answer."""
    from lesiontrials.scoring.questions.ask import view_of
    from lesiontrials.scoring.questions.bank import QuestionItem
    from lesiontrials.slicing.contract import Item

    items = pd.DataFrame([_row("s-00010", 12), _row("s-00005", 12),
                          _row("s-00011", 20), _row("s-00006", 7, "negative", -1)])
    cases = [case(nodule(8.0, prior=6.0), uid="s-00010"),
             dataclasses.replace(case(nodule(5.0, status="new"), uid="s-00011"),
                                 prior_case_uid="s-00006")]
    view = Item(slice_uid="v", task="", condition="plain", profile="lung", question="",
                options=(), image=np.zeros((4, 4), dtype=np.uint8))
    pairs = {uid: view for uid in pair_view_rows(cases, items)}
    views = {c.case_uid: view for c in cases}
    assert set(pairs) == {"s-00010"}  # the grown nodule has a pair view, the new one not

    def shown(template: str, uid: str) -> Item | None:
        item = QuestionItem(uid=f"{uid}/{template}", case_uid=uid, template_id=template,
                            category="", answer_type="yes_no", paraphrase=0, question="q",
                            options=("yes", "no"), answer="no", unit="", split="scored")
        return view_of(item, views=views, pairs=pairs)

    for template in ("new_nodule", "lung_rads_repeat", "follow_up_repeat"):
        assert shown(template, "s-00010") is None and shown(template, "s-00011") is None
    assert shown("growth", "s-00010") is view and shown("growth", "s-00011") is None
    assert shown("presence", "s-00011") is view
    blank = view_of(QuestionItem("u", "s-00011", "new_nodule", "", "yes_no", 0, "q",
                                 ("yes", "no"), "yes", "", "scored"), views=None, pairs=None)
    assert blank is not None  # the prior, which looks at no image, is still asked
