"""Read a trial's inserted cases from the workspace and write its question bank."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from pathlib import Path

from lesiontrials.errors import MissingPathError
from lesiontrials.io import read_json, write_json
from lesiontrials.paths import INSERT_JSON, Workspace
from lesiontrials.scoring.questions.bank import QuestionItem, build_bank
from lesiontrials.scoring.questions.truth import CaseTruth, case_from_insert

BANK_VERSION = 1


def trial_cases(workspace: Workspace, trial: str) -> tuple[list[CaseTruth], list[str]]:
    """Truth of the trial's inserted cases, and the uids of cases that did not insert."""
    folder = workspace.cases_dir(trial)
    paths = sorted(folder.glob(f"*/{INSERT_JSON}"))
    if not paths:
        raise MissingPathError(f"no {INSERT_JSON} under the trial's cases", path=folder,
                               fix=f"run `lesiontrials insert {trial}` first")
    cases, skipped = [], []
    for path in paths:
        record = read_json(path)
        if record.get("status") != "done":
            skipped.append(str(record.get("case_uid", path.parent.name)))
            continue
        cases.append(case_from_insert(record, where=str(path)))
    if any(c.prior_case_uid for c in cases):  # a longitudinal trial: every case is in a series
        prior = {c.case_uid: c.prior_case_uid for c in cases if c.prior_case_uid}
        cases = [dataclasses.replace(c, in_series=True, series_uid=_root(c.case_uid, prior))
                 for c in cases]
    return cases, skipped


def _root(uid: str, prior: dict[str, str]) -> str:
    """The first case of ``uid``'s series (following prior scans; a failed prior ends it
    there, as its record is not read: the chain stops at the earliest known case)."""
    seen = {uid}
    while uid in prior:
        uid = prior[uid]
        if uid in seen:
            raise ValueError(f"prior scans form a cycle at {uid}")
        seen.add(uid)
    return uid


def write_question_bank(workspace: Workspace, trial: str, *, seed: int,
                        dev_fraction: float = 0.2) -> tuple[Path, list[QuestionItem]]:
    """Build the bank of ``trial`` and write ``questions/{trial}.json`` (atomic, sorted)."""
    cases, skipped = trial_cases(workspace, trial)
    items = build_bank(cases, seed=seed, dev_fraction=dev_fraction)
    path = workspace.questions_file(trial)
    write_json({"version": BANK_VERSION, "trial": trial, "seed": seed,
                "dev_fraction": dev_fraction, "n_cases": len(cases),
                "cases_not_inserted": skipped,
                "items": [asdict(i) for i in items]}, path)
    return path, items
