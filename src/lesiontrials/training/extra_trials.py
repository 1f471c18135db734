"""The two extra trials of the improve loop: one aimed at failures, one not, same size.

* the *targeted* trial is the ``targeted`` design fed the failed donor nodules: per
  failure, donors similar to it (size, lobe, appearance features of the nodule index),
  placed where it was;
* the *untargeted* trial draws the same number of cases from the whole donor pool with
  the default placement, so a gain of targeted over untargeted is the effect of aiming,
  not of more data.

Both draw only from *new hosts* — no host CT of the probe (where the failures were), the
evaluation or the real sets, so every evaluation item stays evaluable by all three models
(the trained adapter refuses real scans of its training hosts) and no evaluation host is
learned — and never use a donor nodule that appears in the evaluation sets (its look would
otherwise be learned and then tested). Hosts of the training sets may be reused: the
original model already learned them.
Planning is pure: context + targets in, :class:`~lesiontrials.trials.plan.TrialPlan` out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

import numpy as np

from lesiontrials.errors import InputError
from lesiontrials.records.design_params import Targeted
from lesiontrials.training.failures import FailureTarget
from lesiontrials.trials import PlanContext
from lesiontrials.trials.designs import targeted
from lesiontrials.trials.plan import TrialPlan, plan_cohorts
from lesiontrials.trials.sampler import Cohort
from lesiontrials.trials.spec import parse_spec


def new_host_mask(ctx: PlanContext, *, excluded: Collection[str]) -> np.ndarray:
    """Host rows whose ``{host_dataset}/{host_ct_id}`` is not in ``excluded``; an error
    naming the fix when none is left."""
    keys = np.array([f"{d}/{c}" for d, c in zip(ctx.host_array("host_dataset"),
                                               ctx.host_array("host_ct_id"), strict=True)])
    mask = ~np.isin(keys, sorted(excluded))
    if not mask.any():
        raise InputError(f"every one of the {len(keys)} host CTs is already used by the "
                         "probe, evaluation or real sets: no new host is left for the "
                         "extra trials", fix="use a data root with more hosts (e.g. a larger "
                                             "world), or fewer sets")
    return mask


def allowed_donor_mask(ctx: PlanContext, *, excluded_uids: Collection[str]) -> np.ndarray:
    """Index rows whose nodule is not one of ``excluded_uids`` (the evaluation donors)."""
    return ~np.isin(ctx.index.array("nodule_uid").astype(str), sorted(excluded_uids))


def plan_extra_trials(ctx: PlanContext, targets: Sequence[FailureTarget], *, name: str,
                      n_cases: int, seed: int, excluded_hosts: Collection[str],
                      excluded_donors: Collection[str]) -> tuple[TrialPlan, TrialPlan]:
    """(targeted, untargeted) plans named ``{name}-targeted`` / ``{name}-untargeted``.

    ``n_cases`` is split evenly over the targets (``n_cases // len(targets)`` each, at
    least one); the untargeted trial gets exactly the targeted trial's number of cases."""
    if not targets:
        raise InputError("the model made no failure on the probe sets: there is nothing to "
                         "aim at", fix="probe on harder sets, or skip the targeted loop")
    per_target = max(1, n_cases // len(targets))
    hosts = new_host_mask(ctx, excluded=excluded_hosts)
    donors = allowed_donor_mask(ctx, excluded_uids=excluded_donors)
    params = Targeted(name=f"{name}-targeted", n_per_stratum=per_target,
                      failure_uids=[t.donor_uid for t in targets])
    design = targeted(ctx, "demo", seed, params)
    cohorts = []
    for cohort in design.cohorts:
        mask = donors if cohort.donor_mask is None else cohort.donor_mask & donors
        if not mask.any():
            raise InputError(f"{cohort.stratum}: every similar donor is an evaluation donor",
                             fix="evaluate on other sets, or aim at other failures")
        cohorts.append(replace(cohort, donor_mask=mask, host_mask=hosts))
    aimed = plan_cohorts(ctx, design.base, cohorts, params=params, notes=[
        *design.notes, f"aimed at {len(targets)} failed nodule(s), {per_target} case(s) each; "
        "new hosts only; evaluation donors excluded"])
    n_total = int(aimed.manifest["case_uid"].nunique())
    spec = parse_spec({"name": f"{name}-untargeted", "design": "custom", "seed": seed,
                       "n_cases": n_total}, source="improve: untargeted control")
    plain = plan_cohorts(ctx, spec, [Cohort("untargeted", spec, n_total, donor_mask=donors,
                                            host_mask=hosts)],
                         notes=[f"untargeted control: {n_total} cases (as many as the "
                                "targeted trial) from the whole donor pool; new hosts only; "
                                "evaluation donors excluded"])
    return aimed, plain
