"""``TrialSpec``: the cohort a user declares, validated, serialisable, with a JSON schema.

Every field does what it says. Fields that cannot be checked without the nodule index
(unknown datasets, empty pools) are checked by the feasibility step before sampling.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lesiontrials import anatomy
from lesiontrials.errors import ConfigError, InputError
from lesiontrials.trials.templates import get_template


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Model):
    """Closed interval; ``None`` ends are open."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self

    @property
    def is_set(self) -> bool:
        return self.min is not None or self.max is not None

    def low(self, default: float = -math.inf) -> float:
        return default if self.min is None else float(self.min)

    def high(self, default: float = math.inf) -> float:
        return default if self.max is None else float(self.max)


class DatasetFilter(_Model):
    """Datasets to draw from: ``include`` (empty = all) minus ``exclude``."""

    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)


class SizeSpec(_Model):
    """Target size distribution: bucket weights over the six profile bins, or log-normal."""

    bucket_weights: dict[str, float] | None = None
    lognormal_median_mm: float | None = Field(None, gt=0)
    lognormal_sigma: float = Field(0.5, gt=0)
    diameter_mm: Range = Range()

    @field_validator("bucket_weights")
    @classmethod
    def _known_bins(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        unknown = sorted(set(value) - set(anatomy.PROFILE_SIZE_BINS))
        if unknown:
            raise ValueError(
                f"unknown size buckets {unknown}; use {list(anatomy.PROFILE_SIZE_BINS)}")
        if any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("bucket weights must be >= 0 with a positive sum")
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> SizeSpec:
        if self.bucket_weights is not None and self.lognormal_median_mm is not None:
            raise ValueError("give either bucket_weights or lognormal_median_mm, not both")
        return self


class Stratum(_Model):
    """A host stratum (demographic design): sex and age band."""

    name: str
    sex: list[Literal["M", "F"]] = Field(default_factory=list)
    age: Range = Range()


class Demographics(_Model):
    """Host selection by demographics; ``strata`` split the cohort equally across them."""

    age: Range = Range()
    sex: list[Literal["M", "F"]] = Field(default_factory=list)
    male_fraction: float | None = Field(None, ge=0, le=1)
    smoking_status: list[str] = Field(default_factory=list)
    pack_years: Range = Range()
    strata: list[Stratum] = Field(default_factory=list)


class Placement(_Model):
    """Where nodules go. ``prescribed`` uses ``TrialSpec.lobes`` and the percent ranges."""

    mode: Literal["native", "profile_faithful", "prescribed", "random"] = "profile_faithful"
    lobe_cc_pct: Range = Range(min=0, max=100)
    lobe_ml_pct: Range = Range(min=0, max=100)
    lobe_ap_pct: Range = Range(min=0, max=100)
    min_pleural_mm: float = Field(0.0, ge=0)


class Scaling(_Model):
    """Donor rescaling: ``none``, ``to_target_size`` (hit a drawn diameter) or ``jitter``."""

    mode: Literal["none", "to_target_size", "jitter"] = "none"
    bounds: tuple[float, float] = (0.67, 1.5)
    jitter: float = Field(0.1, ge=0, le=0.5)

    @field_validator("bounds")
    @classmethod
    def _sane(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not (0 < low <= 1.0 <= high <= 5.0):
            raise ValueError("scaling bounds must satisfy 0 < low <= 1 <= high <= 5 "
                             "(a nodule is never scaled to nothing)")
        return value


class Companions(_Model):
    """Companion nodules of multi-nodule cases."""

    strategy: Literal["none", "native", "random"] = "none"
    count: Range = Range(min=1, max=2)
    min_gap_mm: float = Field(5.0, ge=0)


StratifyKey = Literal["size_bin", "lobe", "label", "dataset"]


class TrialSpec(_Model):
    """A declared cohort. YAML/JSON in (:func:`load_spec`), JSON schema out."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    design: str = "custom"
    seed: int = Field(0, ge=0)
    n_cases: int = Field(ge=1, le=1_000_000)
    template: str | None = None
    donors: DatasetFilter = DatasetFilter()
    donor_uids: list[str] = Field(default_factory=list, description=(
        "draw donors only from these nodule_uid values (e.g. a selection exported by the "
        "web app); empty = no list"))
    hosts: DatasetFilter = DatasetFilter()
    allow_same_patient: bool = False
    prevalence: float | None = Field(None, ge=0, le=1)
    prevalence_mode: Literal["exact", "binomial"] = "exact"
    nodule_free_fraction: float = Field(0.0, ge=0, lt=1)
    size: SizeSpec = SizeSpec()
    lobes: dict[str, float] | None = None
    zones: list[str] = Field(default_factory=list)
    sides: list[str] = Field(default_factory=list)
    position: Literal["central", "peripheral"] | None = None
    pleural_distance_mm: Range = Range()
    demographics: Demographics = Demographics()
    companions: Companions = Companions()
    placement: Placement = Placement()
    scaling: Scaling = Scaling()
    stratify_by: list[StratifyKey] = Field(default_factory=list)
    appearance: str = ""
    params: dict[str, Any] = Field(default_factory=dict, description="design parameters")

    @field_validator("design")
    @classmethod
    def _design(cls, value: str) -> str:
        if value not in DESIGN_NAMES:  # a typo must not be planned silently as 'custom'
            raise ValueError(f"unknown design {value!r}: use 'custom' or one of "
                             f"{sorted(DESIGN_NAMES - {'custom'})}")
        return value

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return None if value is None else get_template(value).name

    @field_validator("lobes")
    @classmethod
    def _lobes(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        out = {anatomy.parse_lobe(k).value: float(w) for k, w in value.items()}
        if any(w < 0 for w in out.values()) or sum(out.values()) <= 0:
            raise ValueError("lobe weights must be >= 0 with a positive sum")
        return out

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: list[str]) -> list[str]:
        return [anatomy.parse_zone(z).value for z in value]

    @field_validator("sides")
    @classmethod
    def _sides(cls, value: list[str]) -> list[str]:
        return [anatomy.parse_side(s).value for s in value]

    @model_validator(mode="after")
    def _consistent(self) -> TrialSpec:
        if "size_bin" in self.stratify_by and self.size.bucket_weights is not None:
            raise ValueError("stratify_by size_bin conflicts with size.bucket_weights: "
                             "drop one of them")
        if self.placement.mode == "prescribed" and not self.lobes:
            raise ValueError("placement.mode 'prescribed' needs lobes (the lobes to place in)")
        if self.stated_diameter_mm is not None:
            _check_stated_size(self)
        if self.placement.mode == "native" and self.design not in NATIVE_DESIGNS:
            raise ValueError("placement.mode 'native' is for the digital-twin designs "
                             f"{sorted(NATIVE_DESIGNS)}")
        return self

    @property
    def stated_diameter_mm(self) -> float | None:
        """The size stated in ``appearance`` ("6 mm ground-glass nodule"), if any.

        A stated size is a geometry request: every nodule is planned at exactly that
        diameter (donors that cannot reach it within ``scaling.bounds`` are not eligible)."""
        from lesiontrials.describe.parse import stated_diameter_mm

        return stated_diameter_mm(self.appearance)


def _check_stated_size(spec: TrialSpec) -> None:
    stated = f"appearance states {spec.stated_diameter_mm:g} mm"
    size = spec.size
    if size.bucket_weights is not None or size.lognormal_median_mm is not None \
            or size.diameter_mm.is_set or "size_bin" in spec.stratify_by:
        raise ValueError(f"{stated} and the size block sets a size too: give the size in one "
                         "place (remove it from appearance or from size/stratify_by)")
    if spec.scaling.mode == "jitter":
        raise ValueError(f"{stated}, which scales every donor to that size; scaling.mode "
                         "'jitter' contradicts it (use 'none' or 'to_target_size')")


NATIVE_DESIGNS = frozenset({"digital_twin_isolation", "digital_twin_complete"})
#: Every value ``design`` may take: ``custom`` (the spec's own fields) and the 14 named
#: designs (``trials.plan.DESIGNS`` holds their functions; a test keeps the two equal).
DESIGN_NAMES = frozenset({
    "custom", "controlled_prevalence", "size_detection_curve", "location_sensitivity",
    "demographic_strat", "counterfactual", "cross_dataset", "bootstrap_confidence",
    "algorithm_comparison", "screening_simulation", "multi_nodule", "digital_twin_isolation",
    "digital_twin_complete", "digital_twin_cross", "targeted",
})


def spec_json_schema() -> dict[str, Any]:
    return TrialSpec.model_json_schema()


def load_spec(path: str | Path) -> TrialSpec:
    """Read a YAML or JSON spec (``${VAR}`` interpolation); errors name the field."""
    from lesiontrials.settings import load_yaml

    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a spec is a mapping of fields")
    return parse_spec(data, source=str(path))


def parse_spec(data: dict[str, Any], *, source: str = "spec") -> TrialSpec:
    from pydantic import ValidationError

    try:
        return TrialSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "spec"
        raise InputError(first["msg"], path=source, column=field,
                         fix="see `lesiontrials plan --schema` for the fields and their ranges"
                         ) from exc
