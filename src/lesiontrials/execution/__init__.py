"""Run per-case work in-process or on a local process pool; outputs never depend on which.

Per-case functions are plain, picklable functions of one item; each seeds itself from its
uid and writes its outputs atomically, so any executor gives byte-identical results and
an interrupted run resumes by skipping finished items.
"""

from lesiontrials.execution.local import CaseOutcome, run_cases

__all__ = ["CaseOutcome", "run_cases"]
