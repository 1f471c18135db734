"""Which units each answer's uncertainty is resampled over, by design.

Slices of one case are not independent answers, and some designs reuse more than the
case: the bootstrap design repeats a base case in several replicates, the digital twins
place several nodules of one patient back into that patient, the crossed design places
every donor into several hosts. An interval that resamples slices as if independent is
too narrow. The unit of a row:

* ordinary designs and the real set: its ``case_uid``;
* ``bootstrap_confidence``: the base case it was resampled from (``source_case_uid``),
  else its own case;
* ``digital_twin_isolation`` / ``digital_twin_complete``: the patient (``host_ct_id``:
  donor and host are the same scan);
* ``screening_simulation``: the host CT (``host_ct_id``) — its rounds are repeat scans of
  one patient (same host, same donors; docs/trials.md), so a patient's scans move
  together;
* ``digital_twin_cross``: two crossed factors, donor × host (pigeonhole bootstrap), so
  its rows are analysed apart from the others (:func:`units_for` refuses to mix them).

Without a ``case_uid`` column every slice is its own unit (independent answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

CROSSED_DESIGNS: Final = ("digital_twin_cross",)
TWIN_DESIGNS: Final = ("digital_twin_isolation", "digital_twin_complete")
# repeat scans of one patient share the host CT (insert mode ``repeat``)
SERIES_DESIGNS: Final = ("screening_simulation",)
BOOTSTRAP_DESIGNS: Final = ("bootstrap_confidence",)
UNIT_RULES: Final = ("case_uid for ordinary designs and real scans; the base case for the "
                     "bootstrap design; the patient for digital twins and for the screening "
                     "design's repeat scans; donor × host (pigeonhole) for the crossed design")


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[column].fillna("").astype(str)


def _strings(frame: pd.DataFrame, column: str) -> np.ndarray:
    """:func:`_text` as an object array of ``str`` (missing values ""), without pandas'
    per-call overhead: :func:`units_for` runs once per table cell, thousands per report."""
    if column not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    values = frame[column].to_numpy(dtype=object)
    out = values.astype(str).astype(object)
    out[pd.isna(values)] = ""
    return out


def is_crossed(frame: pd.DataFrame) -> pd.Series:
    """Rows of a crossed donor × host design (boolean Series)."""
    return _text(frame, "design").isin(CROSSED_DESIGNS)


def case_unit(frame: pd.DataFrame) -> pd.Series:
    """The one-factor resampling unit of each row of a non-crossed design (see the module
    docstring); ids are prefixed by the set so units never collide across sets."""
    if "case_uid" not in frame.columns:
        return "slice:" + frame["slice_uid"].astype(str)
    return pd.Series(_case_units(frame), index=frame.index, dtype=str)


def _case_units(frame: pd.DataFrame) -> np.ndarray:
    design = _strings(frame, "design")
    unit = _strings(frame, "case_uid")
    base = _strings(frame, "source_case_uid")
    unit = np.where(np.isin(design, BOOTSTRAP_DESIGNS) & (base != ""), base, unit)
    host = _strings(frame, "host_ct_id")
    by_patient = np.isin(design, TWIN_DESIGNS + SERIES_DESIGNS) & (host != "")
    unit = np.where(by_patient, "patient:" + host, unit)
    return _strings(frame, "set") + "/" + unit


def units_for(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The ``units`` mapping of :func:`~lesiontrials.analysis.bootstrap.accuracy_interval`
    for ``rows``: ``{"case": ...}`` or, for the crossed design, ``{"donor": ..., "host":
    ...}`` (a nodule-free slice's donor is its case). Mixed rows are refused."""
    return RowUnits.of(rows).take(np.arange(len(rows)))


@dataclass(frozen=True)
class RowUnits:
    """Every row's units under both rules, computed once for a whole table, so that the
    many cells of a report take theirs by position (:meth:`take`) instead of re-deriving
    strings per cell (that was a third of the analysis stage at 512²)."""

    crossed: np.ndarray  # (rows,) bool: the row belongs to a crossed design
    case: np.ndarray  # (rows,) the one-factor unit (meaningful where not crossed)
    donor: np.ndarray  # (rows,) donor, else "case:" + case_uid (crossed rows)
    host: np.ndarray  # (rows,) host CT id (crossed rows)

    @classmethod
    def of(cls, frame: pd.DataFrame) -> RowUnits:
        """The units of every row of ``frame``."""
        crossed = np.isin(_strings(frame, "design"), CROSSED_DESIGNS)
        case = _case_units(frame) if "case_uid" in frame.columns \
            else case_unit(frame).to_numpy()
        donor = _strings(frame, "donor_uid")
        donor = np.where(donor != "", donor, "case:" + _strings(frame, "case_uid"))
        return cls(crossed, case, donor, _strings(frame, "host_ct_id"))

    def take(self, positions: np.ndarray) -> dict[str, np.ndarray]:
        """:func:`units_for` of the rows at ``positions`` (the same arrays)."""
        crossed = self.crossed[positions]
        if crossed.all() and len(positions):
            return {"donor": self.donor[positions], "host": self.host[positions]}
        if crossed.any():
            raise ValueError("rows mix the crossed design with other designs; analyse them "
                             "apart")
        return {"case": self.case[positions]}
