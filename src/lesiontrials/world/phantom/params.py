"""Host parameters (who the phantom is) and named voxel grids (how it is sampled).

Sizes follow adult reference equations: predicted total lung capacity from the ECSC
1993 equations (Quanjer et al.), scaled to a CT breath-hold volume; subcutaneous fat
grows with BMI. All lengths are millimetres, volumes millilitres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SEXES = ("M", "F")
#: Fraction of the predicted total lung capacity reached at a CT breath-hold.
CT_INSPIRATION_FRACTION = 0.88
#: Total lung volume range the generator keeps hosts within (ml).
LUNG_VOLUME_RANGE_ML = (4000.0, 7000.0)
#: Reference lobe fractions of total lung volume (sum 1).
REFERENCE_LOBE_FRACTIONS = {
    "right_lung_upper_lobe": 0.20,
    "right_lung_middle_lobe": 0.09,
    "right_lung_lower_lobe": 0.26,
    "left_lung_upper_lobe": 0.24,
    "left_lung_lower_lobe": 0.21,
}


@dataclass(frozen=True)
class PhantomParams:
    """Who the host is. ``shape_seed`` drives every random shape detail.

    Args:
        sex: ``"M"`` or ``"F"``.
        age_years: age in years (18-100).
        height_cm: standing height in cm (130-215).
        bmi: body-mass index in kg/m² (14-60).
        shape_seed: non-negative integer seed of the shape variation.
    """

    sex: str
    age_years: float
    height_cm: float
    bmi: float
    shape_seed: int

    def __post_init__(self) -> None:
        if self.sex not in SEXES:
            raise ValueError(f"sex must be one of {SEXES}, got {self.sex!r}")
        _check_range("age_years", self.age_years, 18.0, 100.0)
        _check_range("height_cm", self.height_cm, 130.0, 215.0)
        _check_range("bmi", self.bmi, 14.0, 60.0)
        if int(self.shape_seed) != self.shape_seed or self.shape_seed < 0:
            raise ValueError(f"shape_seed must be a non-negative integer, got {self.shape_seed}")


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")


def sample_phantom_params(
    rng: np.random.Generator,
    *,
    sex: str | None = None,
    age_range: tuple[float, float] = (55.0, 75.0),
    male_fraction: float = 0.5,
) -> PhantomParams:
    """Draw one adult host: sex, age (uniform in ``age_range``), height and BMI.

    Heights are normal (men 175.5 ± 7.0 cm, women 162.0 ± 6.5 cm, losing 0.1 cm a year
    after 50); BMI is log-normal (median 27.5 kg/m², log-sd 0.16) clipped to 17-45.

    >>> p = sample_phantom_params(np.random.default_rng(0), sex="F")
    >>> p.sex
    'F'
    """
    low, high = float(age_range[0]), float(age_range[1])
    if not 18.0 <= low <= high <= 100.0:
        raise ValueError(f"age_range must satisfy 18 <= low <= high <= 100, got {age_range}")
    if sex is None:
        sex = "M" if rng.random() < male_fraction else "F"
    elif sex not in SEXES:
        raise ValueError(f"sex must be one of {SEXES} or None, got {sex!r}")
    age = float(rng.uniform(low, high))
    mean_cm, sd_cm = (175.5, 7.0) if sex == "M" else (162.0, 6.5)
    height = mean_cm - 0.1 * max(0.0, age - 50.0) + sd_cm * float(rng.standard_normal())
    height = float(np.clip(height, 145.0 if sex == "M" else 138.0, 200.0))
    bmi = float(np.clip(27.5 * math.exp(0.16 * float(rng.standard_normal())), 17.0, 45.0))
    seed = int(rng.integers(0, 2**31 - 1))
    return PhantomParams(sex=sex, age_years=round(age, 1), height_cm=round(height, 1),
                         bmi=round(bmi, 1), shape_seed=seed)


def predicted_tlc_ml(params: PhantomParams) -> float:
    """Predicted total lung capacity (ml), ECSC 1993 reference equations."""
    height_m = params.height_cm / 100.0
    litres = 7.99 * height_m - 7.08 if params.sex == "M" else 6.60 * height_m - 5.79
    return 1000.0 * litres


def target_lung_volume_ml(params: PhantomParams, *, variation: float = 1.0) -> float:
    """Total lung volume on a breath-hold CT (ml), kept inside :data:`LUNG_VOLUME_RANGE_ML`.

    Obesity lowers it by 0.8 % per BMI unit above 25; ``variation`` is the host's own
    multiplicative deviation from the prediction.
    """
    volume = predicted_tlc_ml(params) * CT_INSPIRATION_FRACTION * variation
    volume *= 1.0 - 0.008 * max(0.0, params.bmi - 25.0)
    low, high = LUNG_VOLUME_RANGE_ML
    return float(np.clip(volume, low + 100.0, high - 150.0))


def lung_height_mm(params: PhantomParams) -> float:
    """Lung height from the apex to the lowest base (mm, inspiration): 15 % of standing
    height."""
    return 0.150 * 10.0 * params.height_cm


def fat_thickness_mm(params: PhantomParams) -> float:
    """Anterior subcutaneous fat thickness over the chest (mm), from BMI and sex."""
    thickness = 4.0 + 1.9 * (params.bmi - 18.0)
    if params.sex == "F":
        thickness *= 1.3
    return float(np.clip(thickness, 3.0, 60.0))


@dataclass(frozen=True)
class PhantomGrid:
    """A named voxel grid: array shape ``(x, y, z)`` and voxel size in mm."""

    name: str
    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]

    @property
    def extent_mm(self) -> tuple[float, float, float]:
        """Field of view along each axis (mm)."""
        return tuple(n * s for n, s in zip(self.shape, self.spacing_mm, strict=True))  # type: ignore[return-value]


PHANTOM_GRIDS: dict[str, PhantomGrid] = {
    # 384 × 384 × 320 mm field of view for both: same anatomy, different sampling.
    # "full" samples it like a screening CT (0.75 mm pixels, 1 mm slices; the phantom
    # sources reconstruct 1.25 mm slices on it, see world/sources.py; its cases keep 40 mm
    # axial slabs): the demo world's default since session 8 (benchmarks/RESULTS.md,
    # "Session 8 — speed8"). "coarse" (a 5 mm nodule is ~2 voxels) is what the test
    # fixtures use (`--grid coarse` builds it).
    "full": PhantomGrid("full", (512, 512, 320), (0.75, 0.75, 1.0)),
    "coarse": PhantomGrid("coarse", (128, 128, 80), (3.0, 3.0, 4.0)),
}
#: The grid each world size is built on unless another is named.
DEFAULT_GRID_FOR_SIZE = {"demo": "full", "full": "full"}


def phantom_grid(name: str) -> PhantomGrid:
    """The named grid: ``"full"`` (512×512×320, 0.75×0.75×1 mm, screening-like) or
    ``"coarse"`` (128×128×80, 3×3×4 mm); both cover 384×384×320 mm."""
    try:
        return PHANTOM_GRIDS[name]
    except KeyError:
        known = sorted(PHANTOM_GRIDS)
        raise ValueError(f"unknown phantom grid {name!r}; use one of {known}") from None
