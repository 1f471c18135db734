"""Nodule profiles: the release's 53 columns computed from a label map and masks."""

from lesiontrials.profiles.profiler import profile_nodules, profile_scan_files
from lesiontrials.profiles.schema import PROFILE_COLUMNS, REINSERTION_COLUMNS

__all__ = ["PROFILE_COLUMNS", "REINSERTION_COLUMNS", "profile_nodules", "profile_scan_files"]
