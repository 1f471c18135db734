"""One typed parameter model per trial design (``plan --design``, a spec's ``params``).

Every model refuses unknown fields, so a misspelt parameter is an error listing the valid
ones instead of a silently ignored value, and the validated parameters are what
``plan.json`` records: re-planning from the record gives the same plan.

Shared by every design: ``name`` (the trial's name; default the design's), ``n_cases`` /
``n_per_stratum`` (cases per stratum; default by size, demo or paper) and ``spec``
(fields of the trial spec to override, e.g. ``{"size": {"diameter_mm": {"max": 20}}}``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lesiontrials.errors import InputError


class DesignParams(BaseModel):
    """Parameters every design accepts."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str | None = Field(None, description="trial name (default: the design's name)")
    n_cases: int | None = Field(None, ge=1, description="cases per stratum")
    n_per_stratum: int | None = Field(None, ge=1, description="cases per stratum (wins "
                                      "over n_cases)")
    spec: dict[str, Any] = Field(default_factory=dict,
                                 description="trial-spec fields that override the design's")

    def cases(self, size: str, *, demo: int, paper: int) -> int:
        """Cases per stratum: ``n_per_stratum``, else ``n_cases``, else the size default."""
        for value in (self.n_per_stratum, self.n_cases):
            if value is not None:
                return value
        return demo if size == "demo" else paper


class ControlledPrevalence(DesignParams):
    prevalence: float = Field(0.05, ge=0.0, le=1.0, description="share of malignant cases")


class SizeDetectionCurve(DesignParams):
    pass


class LocationSensitivity(DesignParams):
    diameter_mm: tuple[float, float] = Field((6.0, 15.0), description="donor diameter range "
                                             "(min, max) in mm")


class DemographicStrat(DesignParams):
    age_bands: list[tuple[float, float]] = Field(
        default_factory=lambda: [(55.0, 65.0), (65.0, 75.0)],
        description="half-open age bands [low, high) in years, crossed with sex")


class Counterfactual(DesignParams):
    values: list[float] = Field(default_factory=lambda: [0.01, 0.05, 0.10, 0.20],
                                min_length=1, description="prevalence values swept")


class CrossDataset(DesignParams):
    donor_datasets: list[str] | None = Field(None, description="donor datasets compared "
                                             "(default: every donor dataset of the index)")


class BootstrapConfidence(DesignParams):
    replicates: int | None = Field(None, ge=1, description="bootstrap replicates (default: 3 "
                                   "demo, 20 paper)")


class AlgorithmComparison(DesignParams):
    nodule_free_fraction: float = Field(0.2, ge=0.0, le=1.0,
                                        description="share of nodule-free cases")


class ScreeningSimulation(DesignParams):
    """Screening rounds. ``longitudinal`` (default): every case of round r > 0 is a repeat
    scan of a round r-1 patient (same host, same donor nodules at the same world-mm
    centre, grown by the documented growth model of ``trials/longitudinal.py``); new
    nodules appear in a share ``incidence`` of the nodule-free patients. Off: the rounds
    are independent cohorts with prevalence 0.04 x 0.7^r."""

    rounds: int = Field(3, ge=1, description="screening rounds")
    longitudinal: bool = Field(True, description="rounds > 0 are repeat scans of the "
                               "previous round's patients (growth truth); false: "
                               "independent cohorts, prevalence 0.04 x 0.7^r")
    interval_months: float = Field(12.0, gt=0.0, le=60.0, description="screening interval "
                                   "between rounds (months)")
    nodule_free_fraction: float = Field(0.4, ge=0.0, lt=1.0, description="longitudinal: "
                                        "share of round-0 patients without a nodule")
    incidence: float = Field(0.1, ge=0.0, le=1.0, description="longitudinal: share of "
                             "nodule-free patients in whom a new nodule appears per round")
    prevalence: float | None = Field(None, ge=0.0, le=1.0, description="longitudinal: "
                                     "share of malignant round-0 nodules (default 0.04; "
                                     "0.4 at demo size, so its few nodules include growing "
                                     "cancers)")


class MultiNodule(DesignParams):
    companion_strategy: str = Field("random", description="how companions are chosen "
                                    "for the multi-nodule stratum")


class TwinIsolation(DesignParams):
    n_scans: int | None = Field(None, ge=1, description="host scans (default: 5 demo, all "
                                "paper)")
    n_donors: int | None = Field(None, ge=1, description="alias of n_scans")


class TwinComplete(TwinIsolation):
    pass


class TwinCross(DesignParams):
    pairing: Literal["one_to_one", "one_to_many", "whole_patient"] = "one_to_many"
    n_donors: int | None = Field(None, ge=1, description="donors (default by size)")
    hosts_per_donor: int | None = Field(None, ge=1, description="hosts each donor is "
                                        "inserted into (default by size)")
    donors_per_host: int | None = Field(None, ge=1, description="donors each host receives "
                                        "(default by size)")
    host_constrained_fraction: float = Field(0.5, ge=0.0, le=1.0, description="share of "
                                             "pairs whose primary goes in its host's lobe")


class Targeted(DesignParams):
    failure_uids: list[str] | None = Field(None, description="nodule_uid values of the "
                                           "failures to stress-test (default: the two "
                                           "smallest located malignant nodules)")


#: design name → its parameter model
PARAMS_BY_DESIGN: dict[str, type[DesignParams]] = {
    "controlled_prevalence": ControlledPrevalence,
    "size_detection_curve": SizeDetectionCurve,
    "location_sensitivity": LocationSensitivity,
    "demographic_strat": DemographicStrat,
    "counterfactual": Counterfactual,
    "cross_dataset": CrossDataset,
    "bootstrap_confidence": BootstrapConfidence,
    "algorithm_comparison": AlgorithmComparison,
    "screening_simulation": ScreeningSimulation,
    "multi_nodule": MultiNodule,
    "digital_twin_isolation": TwinIsolation,
    "digital_twin_complete": TwinComplete,
    "digital_twin_cross": TwinCross,
    "targeted": Targeted,
}


def design_params(design: str, params: DesignParams | dict[str, Any] | None) -> DesignParams:
    """``params`` validated by ``design``'s model; an unknown or invalid field is an
    :class:`InputError` naming it and listing the design's valid fields."""
    model = PARAMS_BY_DESIGN[design]
    if isinstance(params, model):
        return params
    data = params.model_dump(exclude_unset=True) if isinstance(params, DesignParams) else params
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "params"
        if first["type"] == "extra_forbidden":
            problem = f"unknown parameter {field!r}"
        else:
            problem = f"{field} = {first.get('input')!r}: {first['msg'][:1].lower()}" \
                      f"{first['msg'][1:]}"
        raise InputError(f"design {design}: {problem}", column=f"params.{field}",
                         fix=f"valid parameters of {design}: "
                             f"{', '.join(sorted(model.model_fields))}") from exc
