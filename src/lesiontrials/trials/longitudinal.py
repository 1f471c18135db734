"""Repeat scans across screening rounds: decide who is scanned again and how nodules grow.

Decide only (the planner): round 0 is sampled as any cohort; each case of round r > 0 is a
*repeat scan* of the round r-1 case with the same position in its round — same host,
same donor nodules, placement ``repeat`` (insertion puts each nodule's centroid on the
prior scan's realised world-mm centroid, :mod:`lesiontrials.insert.trial`) — with every
nodule's diameter multiplied by its growth over the screening interval. A nodule-free
patient stays nodule-free, except that a new nodule appears in a share ``incidence`` of
them per round (sampled like any case, on that patient's host).

Growth model (volume doubling time, VDT, drawn once per nodule and kept across rounds;
diameter factor over an interval of ``t`` days = 2^(t / (3·VDT)), volume ∝ diameter³):

* malignant (label 1): stable with probability 0.10, else VDT log-uniform in
  :data:`MALIGNANT_VDT_DAYS` by attenuation — solid 100-400 d, part-solid 300-800 d,
  ground glass 500-1200 d (the ranges reported for screen-detected cancers: solid cancers
  double in months, subsolid ones over years);
* benign or unknown label: stable with probability 0.70, shrinking with probability 0.15
  (volume *halving* time log-uniform 200-800 d, resolving inflammation), else slow growth
  (VDT log-uniform 400-1000 d).

A grown diameter is kept within [:data:`MIN_DIAMETER_MM`, max(:data:`MAX_DIAMETER_MM`,
prior)] (a nodule that would exceed 30 mm, a mass, stops at 30 mm; one that would fall
below 3 mm stops there); such a nodule has ``growth_limited`` true. The truth of growth is
always what insertion *realised* (prior and current masks measured), never this plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from lesiontrials.anatomy import Texture, texture_from_lidc
from lesiontrials.seeding import rng_for
from lesiontrials.trials.rows import case_seed
from lesiontrials.trials.spec import TrialSpec

DAYS_PER_MONTH: Final = 365.25 / 12
#: malignant VDT ranges (days, log-uniform) by attenuation; unknown attenuation: solid
MALIGNANT_VDT_DAYS: Final = {Texture.SOLID: (100.0, 400.0),
                             Texture.PART_SOLID: (300.0, 800.0),
                             Texture.GROUND_GLASS: (500.0, 1200.0)}
MALIGNANT_STABLE: Final = 0.10
BENIGN_STABLE: Final = 0.70
BENIGN_SHRINKING: Final = 0.15
BENIGN_HALVING_DAYS: Final = (200.0, 800.0)
BENIGN_GROWTH_VDT_DAYS: Final = (400.0, 1000.0)
MAX_DIAMETER_MM: Final = 30.0
MIN_DIAMETER_MM: Final = 3.0

#: the placement mode of a repeat scan's nodule (centre from the prior scan's record)
REPEAT_PLACEMENT: Final = "repeat"


@dataclass(frozen=True)
class Growth:
    """A nodule's growth: ``model`` (e.g. ``malignant_solid``, ``benign_stable``) and its
    signed volume doubling time in days (negative: halving time; NaN: stable)."""

    model: str
    vdt_days: float

    def diameter_factor(self, interval_days: float) -> float:
        """Diameter multiplier over ``interval_days`` (1.0 when stable)."""
        if not math.isfinite(self.vdt_days):
            return 1.0
        return float(2.0 ** (interval_days / (3.0 * self.vdt_days)))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]))))


def draw_growth(label: int | None, texture_score: float | None, rng: np.random.Generator
                ) -> Growth:
    """One nodule's growth from its label and LIDC texture score (module docstring)."""
    u = float(rng.random())
    if label == 1:
        if u < MALIGNANT_STABLE:
            return Growth("malignant_stable", math.nan)
        texture = (texture_from_lidc(texture_score) if texture_score is not None
                   and math.isfinite(texture_score) else Texture.SOLID)
        return Growth(f"malignant_{texture.value}",
                      _log_uniform(rng, MALIGNANT_VDT_DAYS[texture]))
    if u < BENIGN_STABLE:
        return Growth("benign_stable", math.nan)
    if u < BENIGN_STABLE + BENIGN_SHRINKING:
        return Growth("benign_shrinking", -_log_uniform(rng, BENIGN_HALVING_DAYS))
    return Growth("benign_growing", _log_uniform(rng, BENIGN_GROWTH_VDT_DAYS))


def grown_diameter(prior_mm: float, factor: float) -> tuple[float, bool]:
    """(diameter after growth, whether the limits of the module docstring applied)."""
    wanted = prior_mm * factor
    high = max(MAX_DIAMETER_MM, prior_mm)
    low = min(MIN_DIAMETER_MM, prior_mm)
    kept = min(max(wanted, low), high)
    return kept, not math.isclose(kept, wanted)


#: sample one new nodule on the given host row: (spec, host row, rng key) → manifest rows
NewNodule = Callable[[TrialSpec, int, str], pd.DataFrame]


def follow_up_rounds(round0: pd.DataFrame, spec: TrialSpec, *, rounds: int,
                     interval_months: float, incidence: float, host_row: Callable[[str], int],
                     new_nodule: NewNodule) -> tuple[pd.DataFrame, list[str]]:
    """Round 0's manifest rows followed by ``rounds - 1`` rounds of repeat scans.

    ``host_row`` maps a host ct id to its row in the host catalogue; ``new_nodule`` samples
    the rows of one incident nodule case on that host (the planner's sampler)."""
    interval = interval_months * DAYS_PER_MONTH
    n = int(round0["case_uid"].nunique())
    frames, prior = [round0], round0
    new_count, limited = 0, 0
    for r in range(1, rounds):
        cases = []
        for position, (prior_uid, rows) in enumerate(
                prior.groupby("case_uid", sort=False)):
            index = r * n + position
            uid = f"{spec.name}-{index:05d}"
            if bool(rows["nodule_free"].iloc[0]):
                appears = rng_for(spec.seed, spec.name, "incidence", uid).random() < incidence
                if appears:
                    host = host_row(str(rows["host_ct_id"].iloc[0]))
                    rows = _new_nodule_rows(new_nodule(spec, host, f"incidence {uid}"))
                    new_count += 1
                else:
                    rows = rows.copy()
            else:
                rows = _grown_rows(rows, spec, uid=uid, interval_days=interval)
                limited += int(rows["growth_limited"].sum())
            rows = rows.assign(case_uid=uid, case_index=index, seed=case_seed(spec.seed, uid),
                               stratum=f"round {r}", prior_case_uid=str(prior_uid),
                               interval_days=interval)
            rows["round"] = r
            cases.append(rows)
        prior = pd.concat(cases, ignore_index=True)
        frames.append(prior)
    notes = [f"longitudinal: rounds 1-{rounds - 1} are repeat scans of the previous round's "
             f"patients every {interval_months:g} months (growth model: "
             "trials/longitudinal.py); "
             f"{new_count} new nodule(s) appeared (incidence {incidence:g} per nodule-free "
             f"patient and round); {limited} grown nodule(s) held at the 3-30 mm limits"]
    return pd.concat(frames, ignore_index=True), notes


def _new_nodule_rows(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.copy()
    out["growth_model"] = "new"
    return out


def _grown_rows(rows: pd.DataFrame, spec: TrialSpec, *, uid: str, interval_days: float
                ) -> pd.DataFrame:
    """The prior case's nodule rows, each grown over the interval and placed ``repeat``."""
    out = rows.copy()
    for i in range(len(out)):
        row = out.iloc[i]
        model, vdt = str(row["growth_model"]), float(row["vdt_days"])
        if model in ("", "new"):  # first repeat of this nodule: draw its growth once
            label = None if pd.isna(row["label"]) else int(row["label"])
            texture = row.get("donor_texture")
            rng = rng_for(spec.seed, spec.name, "growth", uid, int(row["nodule_index"]))
            growth = draw_growth(label, None if pd.isna(texture) else float(texture), rng)
            model, vdt = growth.model, growth.vdt_days
        factor = Growth(model, vdt).diameter_factor(interval_days)
        planned, was_limited = grown_diameter(float(row["planned_diameter_mm"]), factor)
        position = out.index[i]
        out.loc[position, "growth_model"] = model
        out.loc[position, "vdt_days"] = vdt
        out.loc[position, "growth_factor"] = planned / float(row["planned_diameter_mm"])
        out.loc[position, "growth_limited"] = was_limited
        out.loc[position, "planned_diameter_mm"] = planned
        out.loc[position, "scale"] = planned / float(row["donor_diameter_mm"])
    out["placement"] = REPEAT_PLACEMENT
    for axis in ("x", "y", "z"):
        out[f"target_{axis}_mm"] = np.nan  # the prior scan's realised centre, at insertion
    return out
