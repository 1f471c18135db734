"""Every shipped example spec (examples/specs/*.yaml) loads, plans and explains itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from lesiontrials.trials import load_spec, plan_spec
from lesiontrials.trials.explain import explain_plan

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "specs").glob("*.yaml"))


def test_the_common_studies_ship_as_examples():
    names = {p.stem for p in EXAMPLES}
    assert {"prevalence_sweep", "small_ground_glass", "lobe_study", "nlst_like",
            "twin_cross"} <= names
    for path in EXAMPLES:  # commented: each says what it does and how to run it
        assert path.read_text().startswith("#") and "--explain" in path.read_text()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_plans_and_explains(plan_ctx, path):
    spec = load_spec(path)
    plan = plan_spec(plan_ctx, spec)
    assert plan.name == spec.name and len(plan.manifest) >= 1
    lines = explain_plan(spec, plan)
    text = "\n".join(lines)
    assert f"Trial {spec.name!r}" in text and "Strata (" in text
    warnings = sum(len(c.get("warnings", [])) for c in plan.info["feasibility"])
    assert text.count("    warning: ") == warnings  # every warning printed in full
    assert f"{warnings} warning(s)" in text
