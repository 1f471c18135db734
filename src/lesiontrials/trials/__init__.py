"""Trial planning: specs, the shared sampler, the 13 designs (+ targeted), manifests."""

from lesiontrials.trials.catalogue import hosts_from_index, load_host_catalogue
from lesiontrials.trials.manifest import MANIFEST_COLUMNS, validate_manifest
from lesiontrials.trials.plan import (
    DESIGNS,
    TrialPlan,
    plan_design,
    plan_spec,
    resolve_design,
    write_plan,
)
from lesiontrials.trials.pools import PlanContext
from lesiontrials.trials.spec import TrialSpec, load_spec, parse_spec, spec_json_schema
from lesiontrials.trials.templates import TEMPLATES, get_template

__all__ = [
    "DESIGNS",
    "MANIFEST_COLUMNS",
    "TEMPLATES",
    "PlanContext",
    "TrialPlan",
    "TrialSpec",
    "get_template",
    "hosts_from_index",
    "load_host_catalogue",
    "load_spec",
    "parse_spec",
    "plan_design",
    "plan_spec",
    "resolve_design",
    "spec_json_schema",
    "validate_manifest",
    "write_plan",
]
