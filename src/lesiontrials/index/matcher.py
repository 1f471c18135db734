"""Donor matching: nodules closest to a target placement on the reinsertion features.

Numeric features are standardised by their spread over the whole index (robust:
IQR / 1.349), weighted, and combined with penalties for a different lobe, side or
zone. Only the features the target sets take part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.index.quality import percent_valid
from lesiontrials.index.query import NoduleIndex

NUMERIC_FEATURES: dict[str, str] = {
    "diameter_mm": "reinsertion_nodule_diam_mm",
    "lobe_cc_pct": "reinsertion_lobe_cc_pct",
    "lobe_ml_pct": "reinsertion_lobe_ml_pct",
    "lobe_ap_pct": "reinsertion_lobe_ap_pct",
    "lung_cc_pct": "reinsertion_lung_cc_pct",
    "lung_ml_pct": "reinsertion_lung_ml_pct",
    "lung_ap_pct": "reinsertion_lung_ap_pct",
    "pleural_distance_mm": "reinsertion_pleural_dist_mm",
    "airway_distance_mm": "reinsertion_airway_dist_mm",
}
DEFAULT_WEIGHTS: dict[str, float] = {
    "diameter_mm": 3.0, "pleural_distance_mm": 1.5, "airway_distance_mm": 0.5,
    "lobe_cc_pct": 1.0, "lobe_ml_pct": 0.5, "lobe_ap_pct": 0.5,
    "lung_cc_pct": 0.5, "lung_ml_pct": 0.25, "lung_ap_pct": 0.25,
    "lobe": 4.0, "side": 2.0, "zone": 1.0,
}


@dataclass(frozen=True)
class PlacementTarget:
    """Where (and how big) a donor should be; unset fields are ignored."""

    lobe: str | None = None
    side: str | None = None
    zone: str | None = None
    diameter_mm: float | None = None
    lobe_cc_pct: float | None = None
    lobe_ml_pct: float | None = None
    lobe_ap_pct: float | None = None
    lung_cc_pct: float | None = None
    lung_ml_pct: float | None = None
    lung_ap_pct: float | None = None
    pleural_distance_mm: float | None = None
    airway_distance_mm: float | None = None

    @classmethod
    def from_row(cls, row: pd.Series) -> PlacementTarget:
        """The placement of an indexed nodule (for 'donors similar to this one')."""
        values = {name: float(row[column]) for name, column in NUMERIC_FEATURES.items()
                  if pd.notna(row[column]) and (not name.endswith("_pct")
                                                or percent_valid(np.array([row[column]]))[0])}
        return cls(lobe=row["reinsertion_lobe"] or None, side=row["reinsertion_lung_side"] or None,
                   zone=row["reinsertion_lung_zone"] or None, **values)


def _robust_scale(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return 1.0
    q1, q3 = np.percentile(finite, [25, 75])
    scale = (q3 - q1) / 1.349
    return float(scale) if scale > 1e-9 else float(max(finite.std(), 1.0))


def match_donors(
    index: NoduleIndex,
    target: PlacementTarget,
    *,
    k: int = 10,
    candidates: np.ndarray | None = None,
    weights: dict[str, float] | None = None,
) -> pd.DataFrame:
    """The ``k`` nearest nodules to ``target`` with a ``match_distance`` column, nearest
    first (ties broken by ``nodule_uid``). ``candidates`` is an optional boolean row mask."""
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    keep = index.all_rows.copy() if candidates is None else np.asarray(candidates, bool).copy()
    total = np.zeros(len(index), dtype=float)
    for name, column in NUMERIC_FEATURES.items():
        wanted = getattr(target, name)
        if wanted is None or w.get(name, 0.0) == 0.0:
            continue
        values = index.array(column).astype(float)
        if name.endswith("_pct"):  # out-of-range percents (quality flag) count as missing
            values = np.where(percent_valid(values), values, np.nan)
        scale = _robust_scale(values)
        diff = (values - wanted) / scale
        total += w[name] * np.where(np.isfinite(diff), diff**2, 25.0)  # missing: 5 spreads
    categorical = {
        "lobe": ("reinsertion_lobe", target.lobe and anatomy.parse_lobe(target.lobe).value),
        "side": ("reinsertion_lung_side", target.side and anatomy.parse_side(target.side).value),
        "zone": ("reinsertion_lung_zone", target.zone and anatomy.parse_zone(target.zone).value),
    }
    for name, (column, wanted) in categorical.items():
        if wanted:
            total += w[name] * (index.array(column) != wanted)
    distance = np.sqrt(total)
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        return index.table.iloc[[]].assign(match_distance=[])
    uids = index.array("nodule_uid")[rows]
    order = np.lexsort((uids, distance[rows]))[:k]
    chosen = rows[order]
    return index.table.iloc[chosen].assign(match_distance=distance[chosen])
