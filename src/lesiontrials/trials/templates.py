"""Published screening-trial templates (docs/trials.md): population and nodule mix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lesiontrials import anatomy


@dataclass(frozen=True)
class TrialTemplate:
    """Eligibility and nodule mix of a screening trial.

    ``size_weights`` are over :data:`anatomy.PROFILE_SIZE_BINS`; where the trial reports
    one ">20 mm" share it is split evenly between 20-30 and >=30.
    """

    name: str
    age_range: tuple[float, float]
    male_fraction: float
    pack_years_min: float
    malignancy_rate: float
    size_weights: tuple[float, float, float, float, float, float]
    age_mean: float | None = None
    age_sd: float | None = None

    def size_weight_map(self) -> dict[str, float]:
        return dict(zip(anatomy.PROFILE_SIZE_BINS, self.size_weights, strict=True))


TEMPLATES: Final[dict[str, TrialTemplate]] = {
    t.name: t for t in (
        TrialTemplate("NLST", (55, 74), 0.59, 30, 0.04, (0.42, 0.38, 0.11, 0.05, 0.03, 0.01),
                      age_mean=61.4, age_sd=5.0),
        TrialTemplate("NELSON", (50, 75), 0.84, 15, 0.022, (0.55, 0.30, 0.09, 0.04, 0.01, 0.01)),
        TrialTemplate("UKLS", (50, 75), 0.52, 20, 0.017, (0.48, 0.35, 0.10, 0.04, 0.015, 0.015)),
        TrialTemplate("DANTE", (60, 75), 1.0, 20, 0.028, (0.40, 0.37, 0.13, 0.06, 0.02, 0.02)),
        TrialTemplate("MILD", (49, 75), 0.66, 20, 0.012, (0.52, 0.33, 0.09, 0.04, 0.01, 0.01)),
    )
}


def get_template(name: str) -> TrialTemplate:
    key = name.strip().upper()
    if key not in TEMPLATES:
        raise ValueError(f"unknown template {name!r}; use one of {sorted(TEMPLATES)}")
    return TEMPLATES[key]
