"""The synthetic calibration fold: what fitted baselines and the council may learn from.

Synthetic slices are split into a *calibration* fold and a *held-out* fold by their
resampling unit, so that no lesion (donor) or case contributes to both: the unit of a
slice through a lesion is its ``donor_uid`` (the same donor placed in several hosts or
trials stays in one fold), the unit of a nodule-free slice is its ``case_uid``. A unit's
fold is a pure function of ``(seed, unit id)`` (a SHA-256 draw), so it does not change when
sets, cases or models are added, and the runner (fitting the majority prior before
anything is scored), the split and the analysis all agree without sharing state.

Real slices are never in the calibration fold, nor are synthetic lesions placed into a
real scan (a host dataset that the real set also comes from): nothing fitted ever sees a
label of real anatomy.
Reported numbers use the held-out fold (and every real slice); the calibration fold is
recorded in the frozen split (:mod:`lesiontrials.scoring.splits`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from lesiontrials.io import uid_hash
from lesiontrials.seeding import seed_words

#: the default seed of the calibration/held-out partition (recorded wherever it is used)
CALIBRATION_SEED: Final = 0
UNIT_RULE: Final = "donor_uid (slices through a lesion), else case_uid (nodule-free slices)"


def partition_unit(donor_uid: object, case_uid: object) -> str:
    """The unit a slice is partitioned by: its donor when it has one, else its case."""
    donor = "" if donor_uid is None or pd.isna(donor_uid) else str(donor_uid)
    return f"donor:{donor}" if donor else f"case:{case_uid}"


def in_calibration(unit: str, *, seed: int = CALIBRATION_SEED) -> bool:
    """Whether ``unit`` belongs to the calibration fold (a fair coin per unit and seed)."""
    return seed_words(seed, "calibration-fold", unit)[0] % 2 == 0


@dataclass(frozen=True)
class CalibrationFold:
    """The calibration fold of some synthetic slices: sorted uids, seed and unit rule."""

    uids: tuple[str, ...]
    seed: int
    units: int  # number of units in the fold
    units_total: int  # number of synthetic units seen

    def record(self) -> dict[str, Any]:
        """Provenance for split files and model cards (the uids themselves are listed by
        the split only)."""

        return {"seed": self.seed, "unit": UNIT_RULE, "slices": len(self.uids),
                "units": self.units, "units_total": self.units_total,
                "sha256": uid_hash(self.uids)}


@dataclass(frozen=True)
class PriorFit:
    """What a model that fits a prior is given: truth label counts per task (calibration
    fold only; counts, not lists, so every work unit carries a few numbers) and the record
    of where they came from (kept in the model's identity)."""

    truth: dict[str, dict[str, int]]
    calibration: dict[str, Any]


def calibration_fold(items: pd.DataFrame, *, seed: int = CALIBRATION_SEED) -> CalibrationFold:
    """The calibration fold of the synthetic rows of ``items`` (columns ``slice_uid``,
    ``source``, ``donor_uid``, ``case_uid``, optionally ``host_dataset``; one or more rows
    per slice). Pass every set at once: synthetic rows whose host dataset also has real
    slices (lesions rendered into real CT) are left out of the fold."""
    missing = [c for c in ("slice_uid", "source", "donor_uid", "case_uid")
               if c not in items.columns]
    if missing:
        raise ValueError(f"items lack the columns {missing} needed for the calibration fold")
    synthetic = items[items["source"] == "synthetic"].drop_duplicates("slice_uid")
    if "host_dataset" in items.columns:
        real_hosts = set(items.loc[items["source"] == "real", "host_dataset"].dropna())
        synthetic = synthetic[~synthetic["host_dataset"].isin(real_hosts)]
    units = [partition_unit(d, c) for d, c in zip(synthetic["donor_uid"],
                                                  synthetic["case_uid"], strict=True)]
    chosen = {u for u in set(units) if in_calibration(u, seed=seed)}
    picked = np.array([u in chosen for u in units], dtype=bool)
    uids = tuple(sorted(str(u) for u in synthetic["slice_uid"].to_numpy()[picked]))
    return CalibrationFold(uids=uids, seed=seed, units=len(chosen), units_total=len(set(units)))


def held_out(uids: Iterable[str], fold: CalibrationFold) -> list[str]:
    """``uids`` without the calibration fold, sorted."""
    excluded = set(fold.uids)
    return sorted(u for u in uids if u not in excluded)
