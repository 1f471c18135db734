"""Metrics, bootstrap CIs, paired tests, tables and the report."""

from lesiontrials.analysis.bootstrap import (
    Interval,
    accuracy_interval,
    bootstrap_metric,
    paired_difference,
)
from lesiontrials.analysis.metrics import confusion, metrics_from_counts, summarise
from lesiontrials.analysis.report import Analysis, analyze, write_report
from lesiontrials.analysis.significance import (
    McNemar,
    holm,
    mcnemar,
    spearman_cells_interval,
    spearman_interval,
    spearman_rho,
)

__all__ = [
    "Analysis",
    "Interval",
    "McNemar",
    "accuracy_interval",
    "analyze",
    "bootstrap_metric",
    "confusion",
    "holm",
    "mcnemar",
    "metrics_from_counts",
    "paired_difference",
    "spearman_cells_interval",
    "spearman_interval",
    "spearman_rho",
    "summarise",
    "write_report",
]
