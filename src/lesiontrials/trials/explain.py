"""``plan --explain``: what a spec will do, in plain lines.

The fields the user set, the template's values that fill the others, the expected counts
(cases with and without a nodule, malignant nodules), every stratum with its eligible
donors and hosts, and every warning and note in full. Reads a finished
:class:`~lesiontrials.trials.plan.TrialPlan`; computes nothing new.
"""

from __future__ import annotations

from typing import Any

from lesiontrials.trials.plan import TrialPlan
from lesiontrials.trials.spec import TrialSpec
from lesiontrials.trials.templates import get_template


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) or "(none)"
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value) or "(none)"
    if isinstance(value, float):
        return f"{value:g}"
    return "(none)" if value is None else str(value)


def _template_lines(spec: TrialSpec) -> list[str]:
    if not spec.template:
        return ["Template: none (unset fields keep their defaults; see `plan --schema`)."]
    template = get_template(spec.template)
    low, high = template.age_range
    lines = [f"Template {template.name} fills the fields you did not set:",
             f"  host age {low}-{high} years, male fraction {template.male_fraction:g}, "
             f"pack-years >= {template.pack_years_min}",
             f"  malignant fraction {template.malignancy_rate:g} (used unless prevalence / "
             "malignant_fraction is set)",
             f"  size mix {_value(template.size_weight_map())} (used unless size is set)"]
    return lines


def _expected_lines(spec: TrialSpec, info: dict[str, Any]) -> list[str]:
    """Expected counts over every stratum (from the feasibility step's needs)."""
    records, audit = info["feasibility"], info["audit"]
    cases = sum(int(r["cases"]) for r in records)
    nodule_cases = sum(sum(int(v) for v in r["needed"].values()) for r in records)
    malignant = sum(int(r["needed"].get("malignant", 0)) for r in records)
    lines = [f"Expected: {cases} cases = {nodule_cases} with a nodule + "
             f"{cases - nodule_cases} nodule-free (nodule_free_fraction "
             f"{spec.nodule_free_fraction:g})."]
    if any("malignant" in r["needed"] for r in records) and nodule_cases:
        lines.append(f"  {malignant} malignant of the {nodule_cases} nodule cases (malignant "
                     f"fraction {malignant / nodule_cases:.3g}, {spec.prevalence_mode}); "
                     "prevalence is this malignant fraction, not the fraction of cases with "
                     "a nodule.")
    achieved = audit.get("prevalence_achieved")
    lines.append(f"Planned: {audit['cases']} cases, {audit['nodules']} nodules "
                 f"({audit['companions']} companions), {audit['nodule_free_cases']} "
                 f"nodule-free; malignant fraction achieved "
                 f"{'–' if achieved is None else f'{achieved:g}'}; "
                 f"{audit['donors_distinct']} distinct donors ({audit['donors_reused']} "
                 f"reuses), {audit['hosts_distinct']} distinct hosts.")
    if audit.get("size_bins_planned"):
        lines.append(f"  size bins planned: {_value(audit['size_bins_planned'])}")
    return lines


def explain_plan(spec: TrialSpec, plan: TrialPlan) -> list[str]:
    """Lines saying what ``spec`` (planned as ``plan``) will do; warnings in full."""
    info = plan.info
    chosen = spec.model_dump(mode="json", exclude_unset=True)
    lines = [f"Trial {spec.name!r} (design {spec.design}, seed {spec.seed}): n_cases "
             f"{spec.n_cases} ({'per stratum of the design' if spec.params else 'in all'}).",
             "Fields you set: " + "; ".join(f"{k} = {_value(v)}" for k, v in chosen.items()),
             *_template_lines(spec), *_expected_lines(spec, info),
             f"Strata ({len(info['feasibility'])}):"]
    warnings = 0
    for record in info["feasibility"]:
        lines.append(f"  {record['stratum']}: {record['cases']} cases; needs "
                     f"{_value(record['needed'])}; eligible donors "
                     f"{_value(record['eligible_donors'])}, eligible hosts "
                     f"{record['eligible_hosts']}"
                     + ("; donors will be reused" if record.get("donor_reuse_expected")
                        else ""))
        for warning in record.get("warnings", []):
            lines.append(f"    warning: {warning}")
            warnings += 1
    lines += [f"Note: {note}" for note in info.get("notes", [])]
    lines.append(f"{warnings} warning(s), {len(info.get('notes', []))} note(s).")
    return lines
