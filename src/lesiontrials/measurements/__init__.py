"""Nodule profiles: the release's 53 columns computed from a label map and masks."""

from lesiontrials.measurements.profiler import profile_nodules, profile_scan_files
from lesiontrials.measurements.schema import PROFILE_COLUMNS, REINSERTION_COLUMNS

__all__ = ["PROFILE_COLUMNS", "REINSERTION_COLUMNS", "profile_nodules", "profile_scan_files"]
