"""Repeat scans (longitudinal screening): anchor each nodule on the prior scan's record.

A repeat case's nodules (placement ``repeat``) are re-inserted with their centroid on the
world-mm centroid the *prior* case realised, and the prior's realised diameter and volume
travel with the rows (so they enter the case's input digest and its growth record).
The prior case must be inserted first: :func:`lesiontrials.insert.trial.insert_trial`
inserts the rounds in order. A prior that failed or is missing makes the repeat case
fail with that reason (``prior_failed``), never a fresh placement.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lesiontrials.errors import InputError
from lesiontrials.insert.spec import Row
from lesiontrials.io import parse_record, read_json
from lesiontrials.paths import CaseFiles
from lesiontrials.records.insert import InsertRecord

REPEAT = "repeat"


def read_prior(case_dir: Path) -> tuple[InsertRecord | None, str]:
    """The prior case's record when it is done, else ``(None, why)``."""
    path = CaseFiles(case_dir).insert_json
    if not path.is_file():
        return None, f"the prior scan {case_dir.name} has no insert.json"
    try:
        record = parse_record(read_json(path), InsertRecord, where=path)
    except InputError as exc:
        return None, f"the prior scan's record is unreadable ({exc})"
    if not record.done:
        return None, f"the prior scan {record.case_uid} failed ({record.reason_code})"
    return record, ""


def anchor_rows(rows: Sequence[Row], prior: InsertRecord | None, problem: str
                ) -> tuple[Row, ...]:
    """``rows`` with each ``repeat`` nodule's target and prior size from ``prior``."""
    by_index = {n.nodule_index: n for n in prior.nodules} if prior is not None else {}
    out = []
    for row in rows:
        row = dict(row)
        if str(row.get("placement")) == REPEAT:
            nodule = by_index.get(int(row["nodule_index"]))
            if nodule is None:
                row["prior_problem"] = problem or (
                    f"the prior scan has no nodule {row['nodule_index']}")
            else:
                x, y, z = nodule.realised.centroid_mm
                row.update(target_x_mm=x, target_y_mm=y, target_z_mm=z,
                           prior_diameter_mm=nodule.realised.equivalent_diameter_mm,
                           prior_volume_mm3=nodule.realised.volume_mm3)
        out.append(row)
    return tuple(out)
