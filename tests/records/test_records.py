"""Stage records: round trip, unknown fields and old formats refused with the fix."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.io import read_record, read_rendered_case, write_record
from lesiontrials.paths import CaseFiles, Workspace
from lesiontrials.records import InsertRecord, RenderRecord
from lesiontrials.records.plan import PlanRecord
from lesiontrials.testing import sphere_mask
from lesiontrials.testing_records import insert_record, inserted_nodule, render_record

AFFINE = np.diag([0.8, 0.8, 2.0, 1.0])


def _insert() -> InsertRecord:
    nodule = sphere_mask((40, 40, 20), (20.0, 18.0, 9.0), 3.0, (0.8, 0.8, 2.0))
    entry = inserted_nodule(0, nodule, AFFINE, lobe="left_lung_lower_lobe", donor_uid="D/1",
                            label=1, characteristics={"texture": 5.0})
    return insert_record(trial="t", case_uid="t-00000", seed=2**62 + 1, nodules=[entry])


def _plan() -> PlanRecord:
    return PlanRecord(schema_version=1, trial="t", design="bootstrap_confidence",
                      design_number=7, size="demo", seed=0, spec={"name": "t"},
                      params={"replicates": 4}, feasibility=[], cohorts=[], notes=[],
                      audit={})


@pytest.mark.parametrize("make", [_insert, lambda: render_record(
    trial="t", case_uid="t-00000", descriptions={0: "6 mm solid nodule"}), _plan])
def test_round_trip_keeps_the_record_and_the_bytes(tmp_path, make):
    record = make()
    path = tmp_path / "record.json"
    write_record(record, path)
    again = read_record(path, type(record))
    assert again == record
    first = path.read_bytes()
    write_record(again, path)
    assert path.read_bytes() == first


def test_unknown_numbers_are_null_and_read_back_as_none(tmp_path):
    record = _insert()
    nodule = record.nodules[0].model_copy(update={"diameter_error_mm": math.nan})
    record = InsertRecord.model_validate(
        {**record.model_dump(), "nodules": [nodule.model_dump()]})
    assert record.nodules[0].diameter_error_mm is None
    write_record(record, tmp_path / "insert.json")
    assert '"diameter_error_mm": null' in (tmp_path / "insert.json").read_text()
    assert read_record(tmp_path / "insert.json", InsertRecord) == record


def test_nan_in_a_required_number_is_refused_at_write():
    data = _insert().model_dump()
    data["nodules"][0]["realised"]["volume_mm3"] = math.nan
    with pytest.raises(ValueError, match="volume_mm3"):
        InsertRecord.model_validate(data)


def _write_raw(path, data) -> None:
    path.write_text(json.dumps(data))


def test_a_misspelt_field_is_refused_naming_it_and_the_valid_fields(tmp_path):
    data = _insert().to_json_dict()
    data["case_uidd"] = data.pop("case_uid")
    _write_raw(tmp_path / "insert.json", data)
    with pytest.raises(InputError) as caught:
        read_record(tmp_path / "insert.json", InsertRecord)
    message = str(caught.value)
    assert "insert.json" in message and "case_uidd" in message
    assert "valid fields: " in message and "case_uid," in message
    assert "re-run `lesiontrials insert`" in message


def test_a_nested_unknown_field_is_named_by_its_path(tmp_path):
    data = _insert().to_json_dict()
    data["nodules"][0]["realised"]["lobee"] = "x"
    _write_raw(tmp_path / "insert.json", data)
    with pytest.raises(InputError, match=r"nodules\.0\.realised\.lobee"):
        read_record(tmp_path / "insert.json", InsertRecord)


def test_an_old_or_incomplete_record_is_refused_with_the_stage_to_rerun(tmp_path):
    data = render_record(trial="t", case_uid="t-0").to_json_dict()
    _write_raw(tmp_path / "render.json", {**data, "schema_version": 2})
    with pytest.raises(InputError, match=r"schema_version 2 .*re-run `lesiontrials render`"):
        read_record(tmp_path / "render.json", RenderRecord)
    old_insert = _insert().to_json_dict()
    del old_insert["nodules"][0]["planned"]["donor_point_mm"]  # written before it existed
    _write_raw(tmp_path / "insert.json", old_insert)
    with pytest.raises(InputError, match=r"missing field 'nodules\.0\.planned\.donor_point_mm'"):
        read_record(tmp_path / "insert.json", InsertRecord)
    _write_raw(tmp_path / "insert.json", [1, 2])
    with pytest.raises(InputError, match="expected a JSON object"):
        read_record(tmp_path / "insert.json", InsertRecord)
    with pytest.raises(MissingPathError, match="run `lesiontrials plan` first"):
        read_record(tmp_path / "plan.json", PlanRecord)


def test_a_plan_json_without_a_version_is_read_as_version_0(tmp_path):
    data = _plan().to_json_dict()
    del data["schema_version"]
    data["params"] = {}
    _write_raw(tmp_path / "plan.json", data)
    assert read_record(tmp_path / "plan.json", PlanRecord).schema_version == 0


def test_case_files_name_every_file_of_a_case(tmp_path):
    files = Workspace(tmp_path).case_files("t", "t-00000")
    assert files.folder == tmp_path / "cases" / "t" / "t-00000"
    assert [p.name for p in (files.insert_json, files.labels, files.nodule_mask(2),
                             files.render_json, files.ct, files.qc)] == [
        "insert.json", "labels.nii.gz", "nodule_2.nii.gz", "render.json", "ct.nii.gz",
        "qc.png"]


def test_read_rendered_case_says_why_a_case_is_not_usable(tmp_path):
    files = CaseFiles(tmp_path / "case")
    assert read_rendered_case(files) == "not inserted"
    failed = _insert().model_copy(update={"status": "failed", "nodules": []})
    write_record(failed, files.insert_json)
    assert read_rendered_case(files) == "insertion failed"
    write_record(_insert(), files.insert_json)
    assert read_rendered_case(files) == "not rendered"
    files.ct.write_bytes(b"ct")
    write_record(render_record(trial="t", case_uid="t-00000"), files.render_json)
    inserted, rendered = read_rendered_case(files)  # type: ignore[misc]
    assert inserted.case_uid == rendered.case_uid == "t-00000"
