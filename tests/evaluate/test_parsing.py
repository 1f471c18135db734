"""The free-text answer parsers: a table of phrases and the statuses they must give."""

from __future__ import annotations

import pytest

from lesiontrials.scoring.parsing import AMBIGUOUS, OK, UNPARSED, Parsed, parse_answer

#: (task, text, expected option or status)
TABLE = [
    ("presence", "present", "present"),
    ("presence", "Absent", "absent"),
    ("presence", "Yes", "present"),
    ("presence", "No.", "absent"),
    ("presence", "No nodule is present.", "absent"),
    ("presence", "There is no nodule in this slice.", "absent"),
    ("presence", "I cannot rule out a nodule.", "present"),
    ("presence", "A nodule cannot be excluded.", "present"),
    ("presence", "The nodule is not absent.", "present"),
    ("presence", "No, there is no nodule.", "absent"),
    ("presence", "Yes, there is a 6 mm nodule in the right upper lobe.", "present"),
    ("presence", "Nodule not seen.", "absent"),
    ("presence", "I don't see any nodule.", "absent"),
    ("presence", "The lungs are clear.", "absent"),
    ("presence", "Negative for nodules.", "absent"),
    ("presence", "Not negative.", "present"),
    ("presence", "Present or absent?", "ambiguous"),
    ("presence", "The image shows a small nodule.", "present"),
    ("presence", "It is unclear.", "unparsed"),
    ("presence", "", "unparsed"),
    ("presence", "Yes. However, it is not clearly visible.", "present"),
    ("presence", "There is a nodule. There is no nodule.", "ambiguous"),
    ("presence", "No evidence of a pulmonary nodule", "absent"),
    ("presence", "Without any nodules", "absent"),
    ("presence", "There is no pleural effusion; a nodule is present.", "present"),
    ("presence", "Answer: absent", "absent"),
    ("presence", "**Present**", "present"),
    ("presence", "Can't rule out a small lesion", "present"),
    ("presence", "There isn't a nodule", "absent"),
    ("lobe", "right upper lobe", "right_lung_upper_lobe"),
    ("lobe", "RUL", "right_lung_upper_lobe"),
    ("lobe", "The nodule is in the left lower lobe.", "left_lung_lower_lobe"),
    ("lobe", "upper lobe of the left lung", "left_lung_upper_lobe"),
    ("lobe", "Right middle lobe (RML)", "right_lung_middle_lobe"),
    ("lobe", "lingula", "left_lung_upper_lobe"),
    ("lobe", "It is not in the right upper lobe but in the right lower lobe",
     "right_lung_lower_lobe"),
    ("lobe", "right lung, upper lobe", "right_lung_upper_lobe"),
    ("lobe", "right_lung_lower_lobe", "right_lung_lower_lobe"),
    ("lobe", "right upper or right lower lobe", "ambiguous"),
    ("lobe", "right lung", "unparsed"),
    ("lobe", "Left middle lobe", "unparsed"),
    ("lobe", "the middle lobe", "right_lung_middle_lobe"),
    ("lobe", "LLL", "left_lung_lower_lobe"),
    ("lobe", "Rt. lower lobe", "right_lung_lower_lobe"),
    ("size", "<5", "<5"),
    ("size", "5-10", "5-10"),
    ("size", "10-20", "10-20"),
    ("size", ">=20", ">=20"),
    ("size", "≥ 20 mm", ">=20"),
    ("size", "about 7 mm", "5-10"),
    ("size", "1.2 cm", "10-20"),
    ("size", "12mm", "10-20"),
    ("size", "between 1 and 2 cm", "10-20"),
    ("size", "less than 5 millimeters", "<5"),
    ("size", "more than 2 cm", ">=20"),
    ("size", "8 x 6 mm", "5-10"),
    ("size", "8x6mm", "5-10"),
    ("size", "8-12 mm", "ambiguous"),
    ("size", "less than 10 mm", "ambiguous"),
    ("size", "approximately 15", "10-20"),
    ("size", "three millimetres", "<5"),
    ("size", "5 to 10 mm", "5-10"),
    ("size", "20 mm or larger", ">=20"),
    ("size", "smaller than 5 mm", "<5"),
    ("size", "no idea", "unparsed"),
    ("size", "10 mm", "10-20"),
    ("size", "2.5 cm", ">=20"),
    ("size", "4.9 mm", "<5"),
    ("size", "5–10 mm", "5-10"),
]


@pytest.mark.parametrize(("task", "text", "expected"), TABLE)
def test_parser_table(task, text, expected):
    parsed = parse_answer(text, task=task)
    if expected in (AMBIGUOUS, UNPARSED):
        assert parsed == Parsed("", expected)
    else:
        assert parsed == Parsed(expected, OK)


def test_the_table_covers_every_task_and_status():
    assert len(TABLE) >= 30
    assert {t for t, _, _ in TABLE} == {"presence", "lobe", "size"}
    assert {AMBIGUOUS, UNPARSED} <= {e for _, _, e in TABLE}


def test_none_and_unknown_task():
    assert parse_answer(None, task="presence").status == UNPARSED
    with pytest.raises(ValueError, match="task"):
        parse_answer("yes", task="colour")
