"""Insertion: transplant donor nodules into host anatomy, with realised ground truth.

Decide (:mod:`.placement`: lobe + percent position → a position that fits), do
(:mod:`.transplant`: resample, test, paste — crop-local), measure (:mod:`.truth`, with
the profiler's definitions), and run cases resumably (:mod:`.case`, :mod:`.trial`).

>>> from lesiontrials.insert import InsertConfig
>>> InsertConfig().min_inside_fraction
0.95
"""

from lesiontrials.insert.arrange import Adjustment, Placed, arrange_case
from lesiontrials.insert.case import (
    InsertJob,
    finished_record,
    inputs_digest,
    insert_case,
    mask_file,
)
from lesiontrials.insert.config import INSERT_SCHEMA_VERSION, InsertConfig, InsertionError
from lesiontrials.insert.placement import FitRule, find_fit, lobe_target
from lesiontrials.insert.spec import PLACEMENTS, CaseSpec, NoduleSpec, parse_case
from lesiontrials.insert.transplant import resample_donor
from lesiontrials.insert.trial import (
    SUMMARY_FILE,
    case_jobs,
    insert_trial,
    list_trials,
    load_manifest,
    summary_table,
)
from lesiontrials.insert.truth import realised_truth
from lesiontrials.paths import INSERT_JSON, LABELS_FILE

__all__ = [
    "INSERT_JSON",
    "INSERT_SCHEMA_VERSION",
    "LABELS_FILE",
    "PLACEMENTS",
    "SUMMARY_FILE",
    "Adjustment",
    "CaseSpec",
    "FitRule",
    "InsertConfig",
    "InsertJob",
    "InsertionError",
    "NoduleSpec",
    "Placed",
    "arrange_case",
    "case_jobs",
    "find_fit",
    "finished_record",
    "inputs_digest",
    "insert_case",
    "insert_trial",
    "list_trials",
    "load_manifest",
    "lobe_target",
    "mask_file",
    "parse_case",
    "realised_truth",
    "resample_donor",
    "summary_table",
]
