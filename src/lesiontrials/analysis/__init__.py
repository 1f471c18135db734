"""Metrics, bootstrap CIs, paired tests, tables and the report."""

from lesiontrials.analysis.bootstrap import Interval, bootstrap_metric, paired_difference
from lesiontrials.analysis.metrics import confusion, metrics_from_counts, summarise
from lesiontrials.analysis.report import Analysis, analyze, write_report
from lesiontrials.analysis.significance import McNemar, mcnemar, spearman

__all__ = [
    "Analysis",
    "Interval",
    "McNemar",
    "analyze",
    "bootstrap_metric",
    "confusion",
    "mcnemar",
    "metrics_from_counts",
    "paired_difference",
    "spearman",
    "summarise",
    "write_report",
]
