"""Insert every case of a trial on a process pool, then summarise what was realised.

Writes ``cases/{trial}/insert_summary.json`` (counts by status and failure reason,
planned vs realised size, lobe agreement, adjustments). With an export directory, also
``meta/{trial}_insertions.csv`` there (one row per inserted nodule).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table

from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.execution import CaseOutcome, forks_workers, run_cases
from lesiontrials.insert.case import InsertJob, insert_case, remember_host_boxes
from lesiontrials.insert.config import INSERT_SCHEMA_VERSION, InsertConfig
from lesiontrials.insert.repeat import anchor_rows, read_prior
from lesiontrials.insert.spec import plain_rows
from lesiontrials.io import read_parquet, write_content_json, write_csv
from lesiontrials.io.decoded import DecodedCache
from lesiontrials.paths import DataRoot, Workspace
from lesiontrials.trials.manifest import validate_manifest

MANIFEST_FILE = "manifest.parquet"
SUMMARY_FILE = "insert_summary.json"


def list_trials(workspace: Workspace) -> list[str]:
    """Names of the planned trials (those with a manifest), sorted."""
    trials_root = workspace.root / "trials"
    if not trials_root.is_dir():
        return []
    return sorted(p.parent.name for p in trials_root.glob(f"*/{MANIFEST_FILE}"))


def load_manifest(workspace: Workspace, trial: str) -> pd.DataFrame:
    """The trial's validated manifest."""
    path = workspace.trial_dir(trial) / MANIFEST_FILE
    if not path.is_file():
        raise MissingPathError(f"no manifest for trial {trial!r}", path=path,
                               fix="plan the trial first with `lesiontrials plan`")
    manifest = validate_manifest(read_parquet(path), source=str(path))
    other = sorted(set(manifest["trial"]) - {trial})
    if other:
        raise InputError(f"manifest rows belong to other trials {other}", path=path,
                         column="trial", fix="re-plan the trial")
    return manifest


def case_jobs(manifest: pd.DataFrame, *, trial: str, workspace: Workspace, data_root: Path,
              config: InsertConfig, export_dir: Path | None = None,
              source: str = "manifest", decoded_cache: DecodedCache | None = None
              ) -> list[InsertJob]:
    """One job per case, in case order."""
    ordered = manifest.sort_values(["case_index", "case_uid", "nodule_index"], kind="stable")
    return [InsertJob(rows=plain_rows(rows), data_root=Path(data_root),
                    case_dir=workspace.case_dir(trial, str(uid)), config=config,
                    export_dir=export_dir, source=source, decoded_cache=decoded_cache)
            for uid, rows in ordered.groupby("case_uid", sort=False)]


def insert_trial(trial: str, *, workspace: Workspace, data_root: Path, workers: int = 1,
                 config: InsertConfig | None = None, export_dir: Path | None = None,
                 show_progress: bool = True, decoded_cache: DecodedCache | None = None
                 ) -> dict[str, Any]:
    """Insert (or resume) every case of ``trial``; write and return the summary
    (``decoded_cache``: decode each shared input file once, :mod:`lesiontrials.io.decoded`)."""
    config = config or InsertConfig()
    manifest = load_manifest(workspace, trial)
    source = str(workspace.trial_dir(trial) / MANIFEST_FILE)
    jobs = case_jobs(manifest, trial=trial, workspace=workspace, data_root=data_root,
                     config=config, export_dir=export_dir, source=source,
                     decoded_cache=decoded_cache)
    if forks_workers(workers=workers):
        remember_host_boxes(jobs)
    outcomes = _run_rounds(jobs, manifest, workspace=workspace, trial=trial, workers=workers,
                           show_progress=show_progress)
    summary = summarise(trial, outcomes, config)
    write_content_json(summary, workspace.cases_dir(trial) / SUMMARY_FILE)
    if export_dir is not None:
        write_csv(truth_table(outcomes), DataRoot(export_dir).meta_csv(trial, "insertions"))
    return summary


def _run_rounds(jobs: list[InsertJob], manifest: pd.DataFrame, *, workspace: Workspace,
                trial: str, workers: int, show_progress: bool) -> list[CaseOutcome]:
    """Insert the cases; a trial with repeat scans round by round, each repeat case
    anchored on its prior case's record (:mod:`.repeat`). Outcomes in job order."""
    if not (manifest["prior_case_uid"] != "").any():
        return run_cases(insert_case, jobs, keys=[job.case_uid for job in jobs],
                         workers=workers, description=f"insert {trial}",
                         show_progress=show_progress)
    round_of = dict(zip(manifest["case_uid"], manifest["round"], strict=False))
    done: dict[str, CaseOutcome] = {}
    for r in sorted({int(round_of[j.case_uid]) for j in jobs}):
        wave = [_with_prior(j, workspace, trial) for j in jobs
                if int(round_of[j.case_uid]) == r]
        outcomes = run_cases(insert_case, wave, keys=[job.case_uid for job in wave],
                             workers=workers, description=f"insert {trial} (round {r})",
                             show_progress=show_progress)
        done.update({o.key: o for o in outcomes})
    return [done[job.case_uid] for job in jobs]


def _with_prior(job: InsertJob, workspace: Workspace, trial: str) -> InsertJob:
    prior_uid = str(job.rows[0].get("prior_case_uid") or "")
    if not prior_uid:
        return job
    prior, problem = read_prior(workspace.case_dir(trial, prior_uid))
    return dataclasses.replace(job, rows=anchor_rows(job.rows, prior, problem))


def truth_table(outcomes: list[CaseOutcome]) -> pd.DataFrame:
    """One row per inserted nodule of the finished cases (planned vs realised)."""
    rows = []
    for outcome in outcomes:
        brief = outcome.result or {}
        if brief.get("status") != "done":
            continue
        for nodule in brief["nodules"]:
            rows.append({"case_uid": brief["case_uid"],
                         **{k: v for k, v in nodule.items() if k != "adjustments"},
                         "adjustments": ",".join(nodule["adjustments"])})
    frame = pd.DataFrame(rows)
    if "label" in frame.columns:
        frame["label"] = frame["label"].astype("Int8")
    return frame


def summarise(trial: str, outcomes: list[CaseOutcome], config: InsertConfig) -> dict[str, Any]:
    """Counts by status and reason, size error, lobe agreement and adjustments."""
    briefs = [o.result or {"case_uid": o.key, "status": "failed", "reason_code": "unexpected",
                           "reason": o.reason, "nodules": []} for o in outcomes]
    done = [b for b in briefs if b["status"] == "done"]
    failed = [b for b in briefs if b["status"] != "done"]
    nodules = [n for b in done for n in b["nodules"]]
    errors = [abs(n["realised_diameter_mm"] - n["planned_diameter_mm"]) for n in nodules
              if _finite(n["planned_diameter_mm"])]
    with_lobe = [n for n in nodules if n["planned_lobe"]]
    agree = sum(n["planned_lobe"] == n["realised_lobe"] for n in with_lobe)
    return {
        "schema_version": INSERT_SCHEMA_VERSION, "trial": trial, "cases": len(briefs),
        "status": {"done": len(done), "failed": len(failed)},
        "this_run": dict(sorted(Counter(o.status for o in outcomes).items())),
        "nodule_free_cases": sum(bool(b.get("nodule_free")) for b in done),
        "nodules_inserted": len(nodules),
        "failure_reasons": dict(sorted(Counter(b["reason_code"] for b in failed).items())),
        "failures": [{"case_uid": b["case_uid"], "reason_code": b["reason_code"],
                      "reason": b["reason"]} for b in failed],
        "size": {"n": len(errors),
                 "mean_abs_diff_mm": sum(errors) / len(errors) if errors else None,
                 "max_abs_diff_mm": max(errors) if errors else None},
        "lobe_agreement": {"n": len(with_lobe), "agree": agree,
                           "fraction": agree / len(with_lobe) if with_lobe else None},
        "adjustments": dict(sorted(Counter(k for n in nodules for k in n["adjustments"]).items())),
        "config": config.to_dict(),
    }


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))


def summary_table(summary: dict[str, Any]) -> Table:
    """A one-screen rich table of a trial's insertion summary."""
    table = Table(title=f"insertion · {summary['trial']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    status = summary["status"]
    table.add_row("cases", str(summary["cases"]))
    table.add_row("done / failed", f"{status['done']} / {status['failed']}")
    table.add_row("this run", ", ".join(f"{k} {v}" for k, v in summary["this_run"].items()))
    table.add_row("nodule-free cases", str(summary["nodule_free_cases"]))
    table.add_row("nodules inserted", str(summary["nodules_inserted"]))
    for code, count in summary["failure_reasons"].items():
        table.add_row(f"failed: {code}", str(count))
    size = summary["size"]
    if size["n"]:
        table.add_row("|realised - planned| diameter",
                      f"mean {size['mean_abs_diff_mm']:.2f} mm, max {size['max_abs_diff_mm']:.2f}")
    lobes = summary["lobe_agreement"]
    if lobes["n"]:
        table.add_row("lobe agreement", f"{lobes['agree']}/{lobes['n']} "
                      f"({100 * lobes['fraction']:.1f} %)")
    for kind, count in summary["adjustments"].items():
        table.add_row(f"adjusted: {kind}", str(count))
    return table
