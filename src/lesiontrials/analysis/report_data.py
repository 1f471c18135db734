"""The tables one analysis produced (:class:`Analysis`) and the split they report on.

Kept apart from :mod:`~lesiontrials.analysis.report` (which computes them with
:func:`~lesiontrials.analysis.report.analyze` and writes the report) so the report's
section writers (:mod:`~lesiontrials.analysis.report_summary`) can take an
:class:`Analysis` without importing the module that calls them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: the analysis's outputs (summary.json, transfer.json, council.json) record it as
#: ``analysis_version``, as every other stage records its own: bump it when a reported
#: number's definition or an output's layout changes, so a report says which analysis made it
#: (2: a share's test against zero reads the estimate less its parametric-bootstrap bias,
#: recorded as ``*_share_bias``)
ANALYSIS_VERSION = 2


@dataclass(frozen=True)
class ReportingSplit:
    """The slices every reported number uses: a frozen split (``frozen``) or, in library
    use without one, the slices every model × condition answered (``frozen`` false)."""

    name: str
    sha256: str
    n: int
    frozen: bool
    path: str = ""
    calibration: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """One line for the CLI and the report."""
        what = f"frozen split {self.name!r}" if self.frozen else "derived split (not frozen)"
        return f"{what}: N = {self.n} slices, SHA-256 {self.sha256}"


@dataclass
class Analysis:
    """What :func:`~lesiontrials.analysis.report.analyze` computed: per-cell accuracy
    tables, breakdowns and transfer, plus sections other parts of the analysis added."""

    cells: pd.DataFrame
    confusion: pd.DataFrame
    vs_plain: pd.DataFrame
    breakdowns: dict[str, pd.DataFrame]
    transfer_table: pd.DataFrame
    transfer: dict[str, dict[str, Any]]  # per task: Spearman ρ with CI
    reporting_n: dict[str, int]
    split: ReportingSplit
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    crossed_cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    baselines: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)  # extra (title, markdown)
    figures: dict[str, bytes] = field(default_factory=dict)  # extra figures by name
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # extra tables by name

    def add_section(self, title: str, markdown: str, *, figures: dict[str, bytes] | None = None,
                    tables: dict[str, pd.DataFrame] | None = None) -> None:
        """Append a report section; its figures (``![..](figures/NAME.png)`` in the
        markdown) and tables (written to ``tables/NAME.csv|parquet``) come with it."""
        self.sections.append((title, markdown))
        self.figures.update(figures or {})
        self.tables.update(tables or {})
