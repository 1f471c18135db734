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

    min: float | None = Field(None, description="lower end, inclusive (null: open)")
    max: float | None = Field(None, description="upper end, inclusive (null: open)")

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

    include: list[str] = Field(default_factory=list, description=(
        "dataset names to draw from (as in the nodule index, e.g. LIDC-IDRI); empty = all"))
    exclude: list[str] = Field(default_factory=list, description=(
        "dataset names never drawn from (applied after include); default none"))


class SizeSpec(_Model):
    """Target size distribution: bucket weights over the six profile bins, or log-normal."""

    bucket_weights: dict[str, float] | None = Field(None, description=(
        "relative weights over the diameter bins <5, 5-10, 10-15, 15-20, 20-30, >=30 mm, e.g. "
        "{\"5-10\": 2, \"10-15\": 1}; null = the template's mix, else the donors' own sizes"))
    lognormal_median_mm: float | None = Field(None, gt=0, description=(
        "instead of bins: log-normal diameters with this median (mm), e.g. 8"))
    lognormal_sigma: float = Field(0.5, gt=0, description=(
        "log-normal spread (sigma of ln diameter; default 0.5)"))
    diameter_mm: Range = Field(Range(), description=(
        "hard limits on the nodule diameter (mm, equivalent-sphere), e.g. {min: 4, max: 10}; "
        "default none"))

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

    name: str = Field(description="stratum label used in the manifest and audit, e.g. F60-69")
    sex: list[Literal["M", "F"]] = Field(default_factory=list, description=(
        "host sexes in the stratum (M, F); empty = both"))
    age: Range = Field(Range(), description="host age band (years), e.g. {min: 60, max: 69}")


class Demographics(_Model):
    """Host selection by demographics; ``strata`` split the cohort equally across them."""

    age: Range = Field(Range(), description="host age range (years), e.g. {min: 55, max: 74}")
    sex: list[Literal["M", "F"]] = Field(default_factory=list, description=(
        "host sexes allowed (M, F); empty = both"))
    male_fraction: float | None = Field(None, ge=0, le=1, description=(
        "fraction of hosts drawn male (0-1); null = the template's, else as available"))
    smoking_status: list[str] = Field(default_factory=list, description=(
        "host smoking statuses allowed (as in the host metadata, e.g. current, former); "
        "empty = any"))
    pack_years: Range = Field(Range(), description="host pack-years range, e.g. {min: 30}")
    strata: list[Stratum] = Field(default_factory=list, description=(
        "host strata; the cohort is split equally across them; empty = no strata"))


class Placement(_Model):
    """Where nodules go. ``prescribed`` uses ``TrialSpec.lobes`` and the percent ranges."""

    mode: Literal["native", "profile_faithful", "prescribed", "random"] = Field(
        "profile_faithful", description=(
            "profile_faithful (default): a position like the donor's own (lobe, depth); "
            "prescribed: in TrialSpec.lobes within the percent ranges; random: anywhere in "
            "the lungs; native: the donor's own position (digital-twin designs only)"))
    lobe_cc_pct: Range = Field(Range(min=0, max=100), description=(
        "prescribed: position along the lobe's cranio-caudal extent (percent, 0 = top)"))
    lobe_ml_pct: Range = Field(Range(min=0, max=100), description=(
        "prescribed: position along the lobe's medio-lateral extent (percent, 0 = medial)"))
    lobe_ap_pct: Range = Field(Range(min=0, max=100), description=(
        "prescribed: position along the lobe's antero-posterior extent (percent, 0 = "
        "anterior)"))
    min_pleural_mm: float = Field(0.0, ge=0, description=(
        "least distance from the nodule surface to the pleura (mm; default 0)"))


class Scaling(_Model):
    """Donor rescaling: ``none``, ``to_target_size`` (hit a drawn diameter) or ``jitter``."""

    mode: Literal["none", "to_target_size", "jitter"] = Field("none", description=(
        "none (default): donors keep their size; to_target_size: each donor is rescaled to a "
        "diameter drawn from `size`; jitter: a random factor 1 ± jitter"))
    bounds: tuple[float, float] = Field((0.67, 1.5), description=(
        "least and greatest scale factor (0 < low <= 1 <= high <= 5; default [0.67, 1.5]); "
        "donors that need more are not eligible"))
    jitter: float = Field(0.1, ge=0, le=0.5, description=(
        "jitter mode: relative size jitter (0-0.5; default 0.1 = ±10 %)"))

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

    strategy: Literal["none", "native", "random"] = Field("none", description=(
        "none (default): one nodule per case; native: the donor scan's other nodules; "
        "random: other donors from the pool"))
    count: Range = Field(Range(min=1, max=2), description=(
        "companions per multi-nodule case (default 1-2)"))
    min_gap_mm: float = Field(5.0, ge=0, description=(
        "least surface-to-surface gap between nodules of one case (mm; default 5)"))


StratifyKey = Literal["size_bin", "lobe", "label", "dataset"]


class TrialSpec(_Model):
    """A declared cohort. YAML/JSON in (:func:`load_spec`), JSON schema out."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", description=(
        "the trial's name: its folder (trials/NAME), evaluation set and report section, "
        "e.g. ggo_small (letters, digits, _ . -)"))
    design: str = Field("custom", description=(
        "the design this cohort belongs to (custom for your own trial; the built-in designs "
        "set it themselves); the report names the trial by `name`, not by design"))
    seed: int = Field(0, ge=0, description=(
        "random seed (>= 0; default 0): same spec and seed give the same cohort"))
    n_cases: int = Field(ge=1, le=1_000_000, description=(
        "number of cases (host CTs with inserted nodules, plus nodule-free cases), e.g. 200"))
    template: str | None = Field(None, description=(
        "screening-trial template filling unset fields: NLST, NELSON, UKLS, DANTE or MILD "
        "(age range, male fraction, pack-years, malignant fraction, size mix); default none"))
    donors: DatasetFilter = Field(DatasetFilter(), description=(
        "nodule-index datasets the donor nodules come from; default all"))
    donor_uids: list[str] = Field(default_factory=list, description=(
        "draw donors only from these nodule_uid values (e.g. a selection exported by the "
        "web app); empty = no list"))
    hosts: DatasetFilter = Field(DatasetFilter(), description=(
        "datasets the host anatomies (CTs receiving the nodules) come from; default all"))
    allow_same_patient: bool = Field(False, description=(
        "allow a donor into a host scan of its own patient (default false; twin designs "
        "only)"))
    prevalence: float | None = Field(None, ge=0, le=1, description=(
        "MALIGNANT FRACTION (0-1) among the cases that get a nodule, by the donors' "
        "malignancy label; it is not the fraction of cases with a nodule (that is "
        "1 - nodule_free_fraction). Alias: malignant_fraction. null = the template's rate, "
        "else as the donor pool gives. Example: 0.3"))
    prevalence_mode: Literal["exact", "binomial"] = Field("exact", description=(
        "exact (default): round(prevalence × nodule cases) malignant; binomial: each case "
        "malignant with that probability"))
    nodule_free_fraction: float = Field(0.0, ge=0, lt=1, description=(
        "fraction of cases with no nodule at all (0 <= f < 1; default 0), e.g. 0.5 for a "
        "presence task with balanced answers"))
    size: SizeSpec = Field(SizeSpec(), description=(
        "target nodule sizes: bin weights or log-normal, and hard diameter limits (mm)"))
    lobes: dict[str, float] | None = Field(None, description=(
        "relative weights per lobe (right_lung_upper_lobe, right_lung_middle_lobe, "
        "right_lung_lower_lobe, left_lung_upper_lobe, left_lung_lower_lobe; short forms such "
        "as RUL accepted), e.g. {RUL: 1, LUL: 1}; null = the donors' own lobes"))
    zones: list[str] = Field(default_factory=list, description=(
        "lung zones allowed (upper_zone, middle_zone, lower_zone); empty = any"))
    sides: list[str] = Field(default_factory=list, description=(
        "lung sides allowed (right, left); empty = both"))
    position: Literal["central", "peripheral"] | None = Field(None, description=(
        "central or peripheral placement within the lung; null = either"))
    pleural_distance_mm: Range = Field(Range(), description=(
        "nodule distance from the pleura (mm), e.g. {max: 5} for juxtapleural nodules"))
    demographics: Demographics = Field(Demographics(), description=(
        "host selection by age, sex, smoking and strata"))
    companions: Companions = Field(Companions(), description=(
        "extra nodules in multi-nodule cases; default none"))
    placement: Placement = Field(Placement(), description=(
        "where the nodules are placed in the host lungs"))
    scaling: Scaling = Field(Scaling(), description="whether and how donors are rescaled")
    stratify_by: list[StratifyKey] = Field(default_factory=list, description=(
        "balance the cohort equally over these keys (size_bin, lobe, label, dataset); "
        "empty = none"))
    appearance: str = Field("", description=(
        "free-text nodule description selecting donors by appearance, e.g. \"6 mm "
        "ground-glass nodule\"; a stated size fixes every nodule's diameter; empty = any"))
    params: dict[str, Any] = Field(default_factory=dict, description=(
        "design parameters of the built-in designs (e.g. the values a sweep runs over); "
        "empty for a custom trial"))

    @model_validator(mode="before")
    @classmethod
    def _malignant_fraction_alias(cls, data: Any) -> Any:
        """``malignant_fraction`` is accepted as the plain name of ``prevalence``."""
        if isinstance(data, dict) and "malignant_fraction" in data:
            if "prevalence" in data:
                raise ValueError("give malignant_fraction or prevalence (the same field), "
                                 "not both")
            data = {("prevalence" if k == "malignant_fraction" else k): v
                    for k, v in data.items()}
        return data

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
        from lesiontrials.lesion_text.parse import stated_diameter_mm

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
