"""Spec validation: every field checked, errors name the field and what to do."""

from __future__ import annotations

import pytest

from lesiontrials.errors import InputError
from lesiontrials.trials import load_spec, parse_spec, plan_spec, spec_json_schema


def _spec(**fields):
    return parse_spec({"name": "t", "n_cases": 10, **fields})


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"prevalence": 1.5}, "prevalence", "less than or equal to 1"),
    ({"prevalence": -0.1}, "prevalence", "greater than or equal to 0"),
    ({"n_cases": 0}, "n_cases", "greater than or equal to 1"),
    ({"template": "PLCO"}, "template", "unknown template"),
    ({"lobes": {"left middle": 1}}, "lobes", "unknown lobe"),
    ({"size": {"bucket_weights": {"3-4": 1}}}, "size.bucket_weights", "unknown size buckets"),
    ({"scaling": {"bounds": [0.0, 1.5]}}, "scaling.bounds", "never scaled to nothing"),
    ({"placement": {"mode": "prescribed"}}, "spec", "needs lobes"),
    ({"placement": {"mode": "native"}}, "spec", "digital-twin"),
    ({"stratify_by": ["size_bin"], "size": {"bucket_weights": {"<5": 1}}}, "spec", "conflicts"),
    ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
])
def test_invalid_fields_name_the_field(fields, field, message):
    with pytest.raises(InputError) as caught:
        _spec(**fields)
    text = str(caught.value)
    assert f"column {field!r}" in text and message in text and "Fix:" in text


def test_yaml_spec_with_interpolation_and_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAL_SEED", "42")
    path = tmp_path / "spec.yaml"
    path.write_text("name: my_trial\nseed: ${TRIAL_SEED}\nn_cases: 20\ntemplate: nlst\n"
                    "lobes: {RUL: 2, LLL: 1}\nzones: [upper]\n")
    spec = load_spec(path)
    assert spec.seed == 42 and spec.template == "NLST"
    assert spec.lobes == {"right_lung_upper_lobe": 2.0, "left_lung_lower_lobe": 1.0}
    assert spec.zones == ["upper_zone"]
    schema = spec_json_schema()
    assert "prevalence" in schema["properties"] and "n_cases" in schema["required"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"donors": {"include": ["NOPE"]}}, "unknown donor dataset 'NOPE'"),
    ({"hosts": {"include": ["LUNA25"]}, "demographics": {"age": {"min": 120}}},
     "no eligible host"),
    ({"size": {"bucket_weights": {">=30": 1.0}, "diameter_mm": {"max": 20}}},
     "size bucket >=30 mm"),
    ({"prevalence": 1.0, "donors": {"include": ["LUNA16"]}}, "malignant donor(s) needed"),
])
def test_impossible_specs_are_refused_with_the_constraint_to_relax(plan_ctx, fields, message):
    with pytest.raises(InputError, match="Fix") as caught:
        plan_spec(plan_ctx, _spec(**fields))
    assert message in str(caught.value)


def test_design_names_accepted_by_the_spec_are_the_planned_designs():
    from lesiontrials.errors import InputError
    from lesiontrials.trials.plan import DESIGNS
    from lesiontrials.trials.spec import DESIGN_NAMES, parse_spec

    assert {name for name, _ in DESIGNS.values()} | {"custom"} == DESIGN_NAMES
    with pytest.raises(InputError, match="unknown design 'moonshot_design'"):
        parse_spec({"name": "t", "n_cases": 3, "design": "moonshot_design"})


def test_plan_schema_describes_every_field_of_every_block():
    from lesiontrials.trials.spec import spec_json_schema

    schema = spec_json_schema()
    blocks = {"TrialSpec": schema, **schema.get("$defs", {})}
    undocumented = [f"{block}.{name}" for block, body in blocks.items()
                    for name, prop in body.get("properties", {}).items()
                    if len(prop.get("description", "")) < 15]
    assert not undocumented, undocumented
    assert len(schema["properties"]) >= 24


def test_malignant_fraction_is_the_plain_name_of_prevalence():
    from lesiontrials.errors import InputError
    from lesiontrials.trials.spec import parse_spec

    spec = parse_spec({"name": "x", "n_cases": 10, "malignant_fraction": 0.25})
    assert spec.prevalence == 0.25
    assert "MALIGNANT FRACTION" in spec.model_json_schema()["properties"]["prevalence"][
        "description"]
    with pytest.raises(InputError, match="not both"):
        parse_spec({"name": "x", "n_cases": 10, "malignant_fraction": 0.2, "prevalence": 0.2})
