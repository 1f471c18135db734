"""Design parameters are typed: a typo is refused, and plan.json records them so that a
plan can be reproduced from its own record."""

from __future__ import annotations

import pandas as pd
import pytest

from lesiontrials.errors import InputError
from lesiontrials.io import read_record
from lesiontrials.paths import Workspace
from lesiontrials.records.design_params import PARAMS_BY_DESIGN
from lesiontrials.records.plan import PlanRecord
from lesiontrials.trials.plan import DESIGNS, plan_design, plan_from_record, plan_spec, write_plan
from lesiontrials.trials.spec import TrialSpec


def _replanned(plan_ctx, plan, tmp_path):
    workspace = Workspace(tmp_path)
    write_plan(plan, workspace)
    record = read_record(workspace.plan_json(plan.name), PlanRecord)
    return record, plan_from_record(plan_ctx, record)


def test_every_design_has_a_parameter_model():
    assert set(PARAMS_BY_DESIGN) == {name for name, _ in DESIGNS.values()}


def test_bootstrap_replicates_are_recorded_and_reproduce_the_plan(plan_ctx, tmp_path):
    plan = plan_design(plan_ctx, 7, size="demo", seed=3, params={"replicates": 4})
    record, again = _replanned(plan_ctx, plan, tmp_path)
    assert record.params["replicates"] == 4  # was {} before the typed record
    assert plan.manifest["replicate"].max() == 4
    pd.testing.assert_frame_equal(plan.manifest, again.manifest)
    assert again.info == plan.info


def test_targeted_failure_uids_are_recorded_and_reproduce_the_plan(plan_ctx, tmp_path):
    table = plan_ctx.index.table
    failure = str(table[table.lobe_name != ""].iloc[3]["nodule_uid"])
    plan = plan_design(plan_ctx, "targeted", size="demo", params={"failure_uids": [failure]})
    record, again = _replanned(plan_ctx, plan, tmp_path)
    assert record.params["failure_uids"] == [failure]
    pd.testing.assert_frame_equal(plan.manifest, again.manifest)


@pytest.mark.parametrize("design,params", [
    (5, {"values": [0.1, 0.3], "n_cases": 4}),
    (13, {"hosts_per_donor": 4}),
    (11, {"n_scans": 2}),
])
def test_other_designs_reproduce_from_their_record(plan_ctx, tmp_path, design, params):
    plan = plan_design(plan_ctx, design, size="demo", seed=1, params=params)
    record, again = _replanned(plan_ctx, plan, tmp_path)
    assert all(record.params[k] == v for k, v in params.items())
    pd.testing.assert_frame_equal(plan.manifest, again.manifest)


def test_a_user_spec_reproduces_from_its_record(plan_ctx, tmp_path):
    spec = TrialSpec.model_validate({"name": "mine", "n_cases": 6, "seed": 5,
                                     "prevalence": 0.5})
    plan = plan_spec(plan_ctx, spec)
    record, again = _replanned(plan_ctx, plan, tmp_path)
    assert record.design_number is None and record.params == {}
    pd.testing.assert_frame_equal(plan.manifest, again.manifest)


def test_a_misspelt_parameter_is_refused_with_the_valid_list(plan_ctx):
    with pytest.raises(InputError, match="unknown parameter 'replicate'") as caught:
        plan_design(plan_ctx, 7, params={"replicate": 4})
    assert "replicates" in str(caught.value) and caught.value.column == "params.replicate"
    with pytest.raises(InputError, match="failure_uid"):
        plan_design(plan_ctx, "targeted", params={"failure_uid": ["x"]})
    with pytest.raises(InputError, match="rounds = 0"):
        plan_design(plan_ctx, 9, params={"rounds": 0})


def test_a_spec_with_design_params_is_checked_too(plan_ctx):
    spec = TrialSpec.model_validate({"name": "b", "design": "bootstrap_confidence",
                                     "n_cases": 4, "params": {"replicatse": 2}})
    with pytest.raises(InputError, match="unknown parameter 'replicatse'"):
        plan_spec(plan_ctx, spec)


def test_a_plan_record_with_an_unknown_parameter_is_refused(plan_ctx, tmp_path):
    plan = plan_design(plan_ctx, 7, size="demo", params={"replicates": 2})
    workspace = Workspace(tmp_path)
    write_plan(plan, workspace)
    path = workspace.plan_json(plan.name)
    path.write_text(path.read_text().replace('"replicates"', '"replicatez"'))
    with pytest.raises(InputError, match="replicatez"):
        read_record(path, PlanRecord)
