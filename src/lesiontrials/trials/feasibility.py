"""Before sampling: per stratum, how many donors and hosts are eligible versus needed.

Impossible specs are refused with every problem listed and the constraint to relax.
"""

from __future__ import annotations

from typing import Any

from lesiontrials.errors import InputError
from lesiontrials.trials.pools import PlanContext, donor_pool, host_pool, size_bins
from lesiontrials.trials.sampler import Cohort, _size_weights, usable_size_weights
from lesiontrials.trials.templates import get_template


def _needed_per_label(cohort: Cohort) -> dict[str, int]:
    spec = cohort.spec
    n_nodule = cohort.n_cases - round(cohort.n_cases * spec.nodule_free_fraction)
    prevalence = spec.prevalence
    if prevalence is None and spec.template:
        prevalence = get_template(spec.template).malignancy_rate
    if prevalence is None:
        return {"any": n_nodule}
    malignant = round(n_nodule * prevalence)
    if spec.prevalence_mode == "binomial" and prevalence > 0:
        malignant = max(malignant, 1)  # a binomial draw may need at least one
    return {"malignant": malignant, "benign": n_nodule - malignant}


def cohort_feasibility(ctx: PlanContext, cohort: Cohort) -> tuple[dict[str, Any], list[str]]:
    """Counts for one cohort and the problems that make it impossible."""
    warnings: list[str] = []
    donors = donor_pool(ctx, cohort.spec, warnings)
    hosts = host_pool(ctx, cohort.spec, warnings)
    if cohort.donor_mask is not None:
        donors &= cohort.donor_mask
    if cohort.host_mask is not None:
        hosts &= cohort.host_mask
    labels = ctx.index.array("label")
    available = {"any": int(donors.sum()), "malignant": int((donors & (labels == 1)).sum()),
                 "benign": int((donors & (labels == 0)).sum())}
    needed = _needed_per_label(cohort)
    problems = []
    for label, count in needed.items():
        if count > 0 and available[label] == 0:
            problems.append(f"stratum '{cohort.stratum}': {count} {label} donor(s) needed, none "
                            "eligible — relax donor datasets, diameter range, location "
                            "constraints, the size stated in appearance (with scaling.bounds) "
                            "or the prevalence")
    if int(hosts.sum()) == 0:
        problems.append(f"stratum '{cohort.stratum}': no eligible host — relax demographics "
                        "(age, sex, smoking, pack-years) or the host datasets")
    weights = _size_weights(cohort.spec)
    per_bin = {}
    if weights:
        bins = size_bins(ctx.index.array("nodule_mean_diam_mm"))
        n_nodule = sum(needed.values())
        per_bin = {b: int((donors & (bins == b)).sum()) for b in weights}
        try:
            usable_size_weights(weights, n_nodule, donors, bins, warnings,
                                context=f"stratum '{cohort.stratum}'")
        except InputError as exc:
            problems.append(f"stratum '{cohort.stratum}': {exc.problem} — {exc.fix}")
    record = {"stratum": cohort.stratum, "cases": cohort.n_cases, "needed": needed,
              "eligible_donors": available, "eligible_hosts": int(hosts.sum()),
              "eligible_donors_per_size_bin": per_bin,
              "donor_reuse_expected": any(needed[k] > available[k] for k in needed),
              "warnings": sorted(set(warnings))}
    return record, problems


def check_feasibility(ctx: PlanContext, cohorts: list[Cohort]) -> list[dict[str, Any]]:
    """Feasibility records for every cohort; raises with all problems when impossible."""
    if not cohorts:
        raise InputError("the plan has no cohort", fix="check the design parameters")
    records, problems = [], []
    for cohort in cohorts:
        record, issues = cohort_feasibility(ctx, cohort)
        records.append(record)
        problems += issues
    if problems:
        raise InputError("the spec cannot be honoured by the available pool:\n  - "
                         + "\n  - ".join(problems), fix="relax the constraints named above")
    return records
