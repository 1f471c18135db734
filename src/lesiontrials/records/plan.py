"""``plan.json``: a planned trial (written by ``lesiontrials plan``).

It holds what is needed to plan the trial again — the design (number and name), size,
seed and the validated design parameters (:mod:`.design_params`), or the user's spec —
and what the plan achieved (feasibility per stratum, the sampler's audit per cohort, the
manifest audit, notes). ``lesiontrials.trials.plan.plan_from_record`` re-plans from it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from lesiontrials.records.base import StageRecord
from lesiontrials.records.design_params import PARAMS_BY_DESIGN, DesignParams, design_params

PLAN_SCHEMA_VERSION = 1
"""Version 1 added ``schema_version`` and the validated design ``params``; files without
a version (0) are read, but their ``params`` may be empty although the design had some."""


class PlanRecord(StageRecord):
    """``trials/{trial}/plan.json``. ``design_number`` is set when a named design planned
    the trial (then ``size`` and ``params`` reproduce it), ``None`` for a user's spec
    (then ``spec`` reproduces it). ``cross_design``: the donor × host design of mode 13."""

    SCHEMA_VERSION: ClassVar[int] = PLAN_SCHEMA_VERSION
    READS: ClassVar[tuple[int, ...]] = (0, PLAN_SCHEMA_VERSION)
    STAGE: ClassVar[str] = "plan"

    trial: str
    design: str
    design_number: int | None
    size: str | None
    seed: int
    spec: dict[str, Any]
    params: dict[str, Any]
    feasibility: list[dict[str, Any]]
    cohorts: list[dict[str, Any]]
    notes: list[str]
    audit: dict[str, Any]
    cross_design: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _params_fit_the_design(self) -> PlanRecord:
        if self.design_number is not None and self.design in PARAMS_BY_DESIGN:
            design_params(self.design, self.params)  # an unknown parameter is refused
        return self

    def design_params(self) -> DesignParams | None:
        """The typed design parameters (``None`` for a trial planned from a user's spec)."""
        if self.design_number is None or self.design not in PARAMS_BY_DESIGN:
            return None
        return design_params(self.design, self.params)
