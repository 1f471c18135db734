"""What to insert: one case's manifest rows parsed into small typed records."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.anatomy import LIDC_CHARACTERISTICS
from lesiontrials.errors import InputError

PLACEMENTS: Final = ("native", "profile_faithful", "prescribed", "random", "repeat")
"""``repeat``: a repeat scan's nodule, its centroid on the prior scan's realised centre
(``target_*_mm``, filled from the prior case's record by :mod:`.repeat`)."""
CHARACTERISTICS = LIDC_CHARACTERISTICS

Row = dict[str, Any]


def plain_value(value: Any) -> Any:
    """A manifest cell as a plain Python value (``pd.NA``/``None`` → ``None``)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def plain_rows(frame: pd.DataFrame) -> tuple[Row, ...]:
    """The rows of one case as plain dicts, ordered by ``nodule_index``."""
    ordered = frame.sort_values("nodule_index", kind="stable")
    return tuple({str(k): plain_value(v) for k, v in row.items()}
                 for row in ordered.to_dict("records"))


def _float(row: Mapping[str, Any], column: str) -> float:
    value = row.get(column)
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class NoduleSpec:
    """One planned nodule. Percent positions follow ``anatomy``: cc 0 = inferior,
    ml 0 = patient-left, ap 0 = posterior; NaN = free (drawn from the case's generator)."""

    nodule_index: int
    primary: bool
    donor_uid: str
    donor_dataset: str
    donor_mask_path: str
    placement: str
    target_lobe: anatomy.Lobe | None
    cc_pct: float
    ml_pct: float
    ap_pct: float
    target_mm: tuple[float, float, float]
    min_pleural_mm: float
    min_gap_mm: float
    planned_diameter_mm: float
    donor_diameter_mm: float
    scale: float
    label: int | None = None
    appearance: str = ""
    #: "scan": the mask file holds every nodule of the donor scan (see lesiontrials.donors)
    donor_mask_scope: str = "nodule"
    donor_point_mm: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    pct_fallback: str = ""
    pct_fallback_rule: str = ""  # "donor_scan" | "drawn" once insertion decided (fallback.py)
    donor_seg_path: str = ""  # the donor scan's label map ('' = none)
    #: a world phantom's native: the fine mask of the library donor it was sampled from
    donor_source_mask_path: str = ""
    #: zones (any of) and central/peripheral position the centroid must realise ('' = any)
    target_zones: tuple[str, ...] = ()
    target_position: str = ""
    characteristics: dict[str, float | None] = field(default_factory=dict)
    #: longitudinal screening (manifest growth columns; prior_* from the prior's record)
    growth_model: str = ""
    vdt_days: float = math.nan
    growth_factor: float = math.nan
    growth_limited: bool = False
    prior_diameter_mm: float = math.nan
    prior_volume_mm3: float = math.nan
    #: why the prior scan cannot anchor this nodule ('' = it can)
    prior_problem: str = ""

    @property
    def has_target_mm(self) -> bool:
        return all(math.isfinite(v) for v in self.target_mm)


@dataclass(frozen=True)
class CaseSpec:
    """One case: its host and the nodules to insert (empty for a nodule-free case)."""

    trial: str
    case_uid: str
    case_index: int
    seed: int
    host_dataset: str
    host_ct_id: str
    host_seg_path: str
    host_ct_path: str
    nodules: tuple[NoduleSpec, ...]
    #: the host scan's own nodules its raw CT shows (uid, mask_path, mask_scope, point_mm)
    host_natives: tuple[dict[str, Any], ...] = ()
    prior_case_uid: str = ""  # repeat scan: the previous round's case ('' = none)
    interval_days: float = math.nan

    @property
    def nodule_free(self) -> bool:
        return not self.nodules


def parse_case(rows: Sequence[Row], *, source: str = "manifest") -> CaseSpec:
    """Parse one case's rows (plain dicts, one per nodule) into a :class:`CaseSpec`."""
    if not rows:
        raise InputError("a case needs at least one manifest row", path=source)
    first = rows[0]
    nodule_free = any(bool(r["nodule_free"]) for r in rows)
    nodules = () if nodule_free else tuple(_parse_nodule(r, source) for r in rows)
    for row in rows[1:]:
        if row["host_seg_path"] != first["host_seg_path"]:
            raise InputError(f"case {first['case_uid']}: rows name different hosts",
                             path=source, column="host_seg_path", fix="re-plan the trial")
    return CaseSpec(
        trial=str(first["trial"]), case_uid=str(first["case_uid"]),
        case_index=int(first["case_index"]), seed=int(first["seed"]),
        host_dataset=str(first["host_dataset"]), host_ct_id=str(first["host_ct_id"]),
        host_seg_path=str(first["host_seg_path"]), host_ct_path=str(first["host_ct_path"] or ""),
        nodules=nodules, host_natives=host_natives(first, source),
        prior_case_uid=str(first.get("prior_case_uid") or ""),
        interval_days=_float(first, "interval_days"),
    )


def host_natives(row: Row, source: str) -> tuple[dict[str, Any], ...]:
    """The ``host_natives`` JSON of a manifest row ('' or missing = none)."""
    text = str(row.get("host_natives") or "").strip()
    if not text:
        return ()
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"host_natives is not JSON ({exc})", path=source,
                         column="host_natives", fix="re-plan the trial") from exc
    if not isinstance(items, list) or not all(
            isinstance(i, dict) and {"uid", "mask_path", "mask_scope", "point_mm"} <= set(i)
            for i in items):
        raise InputError("host_natives must list {uid, mask_path, mask_scope, point_mm}",
                         path=source, column="host_natives", fix="re-plan the trial")
    return tuple(items)


def _parse_nodule(row: Row, source: str) -> NoduleSpec:
    where = f"{source} (case {row['case_uid']}, nodule {row['nodule_index']})"
    placement = str(row["placement"]).strip().lower()
    if placement not in PLACEMENTS:
        raise InputError(f"unknown placement {row['placement']!r}", path=where,
                         column="placement", fix=f"use one of {PLACEMENTS}")
    lobe_text = str(row["target_lobe"] or "").strip()
    try:
        lobe = anatomy.parse_lobe(lobe_text) if lobe_text else None
    except ValueError as exc:
        raise InputError(str(exc), path=where, column="target_lobe") from exc
    if not row["donor_mask_path"]:
        raise InputError("the donor mask path is empty", path=where, column="donor_mask_path",
                         fix="re-plan the trial with donors that have masks")
    label = row.get("label")
    return NoduleSpec(
        nodule_index=int(row["nodule_index"]), primary=bool(row["primary"]),
        donor_uid=str(row["donor_uid"]), donor_dataset=str(row["donor_dataset"]),
        donor_mask_path=str(row["donor_mask_path"]), placement=placement, target_lobe=lobe,
        cc_pct=_float(row, "target_lobe_cc_pct"), ml_pct=_float(row, "target_lobe_ml_pct"),
        ap_pct=_float(row, "target_lobe_ap_pct"),
        target_mm=(_float(row, "target_x_mm"), _float(row, "target_y_mm"),
                   _float(row, "target_z_mm")),
        min_pleural_mm=_float(row, "min_pleural_mm"),
        min_gap_mm=_float(row, "min_gap_mm"),
        planned_diameter_mm=_float(row, "planned_diameter_mm"),
        donor_diameter_mm=_float(row, "donor_diameter_mm"),
        scale=_float(row, "scale"),
        label=None if label is None else int(label),
        appearance=str(row.get("appearance") or ""),
        donor_mask_scope=str(row.get("donor_mask_scope") or "nodule"),
        donor_point_mm=(_float(row, "donor_x_mm"), _float(row, "donor_y_mm"),
                        _float(row, "donor_z_mm")),
        pct_fallback=str(row.get("target_pct_fallback") or ""),
        donor_seg_path=str(row.get("donor_seg_path") or ""),
        donor_source_mask_path=str(row.get("donor_source_mask_path") or ""),
        target_zones=tuple(z for z in str(row.get("target_zones") or "").split(",") if z),
        target_position=str(row.get("target_position") or ""),
        characteristics={name: _score(row.get(f"donor_{name}")) for name in CHARACTERISTICS},
        growth_model=str(row.get("growth_model") or ""),
        vdt_days=_float(row, "vdt_days"), growth_factor=_float(row, "growth_factor"),
        growth_limited=bool(row.get("growth_limited") or False),
        prior_diameter_mm=_float(row, "prior_diameter_mm"),
        prior_volume_mm3=_float(row, "prior_volume_mm3"),
        prior_problem=str(row.get("prior_problem") or ""),
    )


def _score(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
