"""Run 3-D models over a volume set → ``volume_results/{model}/{set}/``.

A detector writes ``candidates.parquet`` (``scan_uid`` + its candidate columns, RAS world
mm); a malignancy model writes ``malignancy.parquet`` (``scan_uid``, ``nodule_id``,
``probability``) for every nodule of the set, given the nodule centres. Each writes
``run.json`` (model, version, kind, the set's uid hash, scans, seconds). The model sees
one CT at a time, read from the file whose SHA-256 the set recorded (a changed file is an
error) — never the truth or the label map. A run whose model version and set hash match
the stored ``run.json`` is reused.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.execution.console import model_label
from lesiontrials.io import read_json, read_parquet, write_parquet
from lesiontrials.paths import Workspace
from lesiontrials.scoring.volume_contract import (
    MalignancyModel,
    VolumeDetector,
    check_candidates,
    check_probabilities,
)
from lesiontrials.scoring.volume_runs import RUN_JSON
from lesiontrials.scoring.volume_runs import record_run as _record
from lesiontrials.scoring.volume_runs import reusable as _reusable
from lesiontrials.scoring.volume_runs import scans as iter_scans
from lesiontrials.slicing.volumes import VolumeSet

CANDIDATES_FILE = "candidates.parquet"
MALIGNANCY_FILE = "malignancy.parquet"


def check_separation(model: object, volume_set: VolumeSet) -> None:
    """A model trained on this workspace's scans says which it must not be scored on: its
    ``check_scans(scans)`` (if it has one) raises before any CT is read."""
    check = getattr(model, "check_scans", None)
    if callable(check):
        check(volume_set.scans)


def run_detector(detector: VolumeDetector, volume_set: VolumeSet, *, workspace: Workspace,
                 force: bool = False) -> Path:
    """Candidates of ``detector`` on every scan of the set; returns the parquet path."""
    check_separation(detector, volume_set)
    directory = workspace.volume_results_dir(detector.name, volume_set.name)
    if not force and _reusable(directory, model=detector.name, version=detector.version,
                               volume_set=volume_set, output=CANDIDATES_FILE):
        return directory / CANDIDATES_FILE
    start = time.perf_counter()
    parts = []
    for uid, volume in iter_scans(volume_set):
        found = check_candidates(detector.detect(volume), model=detector.name, scan_uid=uid)
        parts.append(found.assign(scan_uid=uid))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    columns = ["scan_uid", *[c for c in frame.columns if c != "scan_uid"]]
    frame = frame.reindex(columns=columns).astype({"scan_uid": "string"})
    write_parquet(frame, directory / CANDIDATES_FILE)
    _record(directory, model=detector.name, version=detector.version, kind="detector",
            volume_set=volume_set, seconds=time.perf_counter() - start)
    return directory / CANDIDATES_FILE


def run_malignancy(model: MalignancyModel, volume_set: VolumeSet, *, workspace: Workspace,
                   force: bool = False) -> Path:
    """One probability per nodule of the set (nodule-free scans are skipped)."""
    check_separation(model, volume_set)
    directory = workspace.volume_results_dir(model.name, volume_set.name)
    if not force and _reusable(directory, model=model.name, version=model.version,
                               volume_set=volume_set, output=MALIGNANCY_FILE):
        return directory / MALIGNANCY_FILE
    start = time.perf_counter()
    truth = volume_set.truth
    with_nodules = set(truth["scan_uid"].astype(str))
    rows = []
    for uid, volume in iter_scans(volume_set):
        if uid not in with_nodules:
            continue
        nodules = truth[truth["scan_uid"] == uid]
        centres = nodules[["x_mm", "y_mm", "z_mm"]].to_numpy(dtype=float)
        p = check_probabilities(model.malignancy(volume, centres), n=len(nodules),
                                model=model.name, scan_uid=uid)
        rows += list(zip([uid] * len(p), nodules["nodule_id"].astype(str), p.tolist(),
                         strict=True))
    frame = pd.DataFrame(rows, columns=["scan_uid", "nodule_id", "probability"]).astype(
        {"scan_uid": "string", "nodule_id": "string", "probability": "float64"})
    write_parquet(frame, directory / MALIGNANCY_FILE)
    _record(directory, model=model.name, version=model.version, kind="malignancy",
            volume_set=volume_set, seconds=time.perf_counter() - start)
    return directory / MALIGNANCY_FILE


def scored_volume_models(workspace: Workspace, set_name: str) -> dict[str, str]:
    """``{model: kind}`` for every model with a run on ``set_name``."""
    root = workspace.root / "volume_results"
    if not root.is_dir():
        return {}
    out = {}
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        info = model_dir / set_name / RUN_JSON
        if info.is_file():
            out[model_dir.name] = str(read_json(info)["kind"])
    return out


def read_candidates(workspace: Workspace, model: str, set_name: str) -> pd.DataFrame:
    return read_parquet(workspace.volume_results_dir(model, set_name) / CANDIDATES_FILE)


def read_malignancy(workspace: Workspace, model: str, set_name: str) -> pd.DataFrame:
    frame = read_parquet(workspace.volume_results_dir(model, set_name) / MALIGNANCY_FILE)
    frame["probability"] = np.asarray(frame["probability"], dtype=float)
    return frame


def score_volume_sets(space: Workspace, *, sets: list[str] | None = None,
                      names: list[str] | None = None, models_yaml: Path | None = None,
                      extra: Sequence[VolumeDetector | MalignancyModel] = (),
                      force: bool = False) -> list[str]:
    """Run every chosen model (the named baselines, the models YAML's, and ``extra``
    models built by the caller, e.g. trained patch detectors) on every chosen set; one
    summary line per run."""
    from lesiontrials.scoring.models.volume_registry import volume_models
    from lesiontrials.scoring.models.volume_vlm import VolumeVLM
    from lesiontrials.scoring.volume_contract import VolumeDetector
    from lesiontrials.scoring.volume_questions import run_volume_questions
    from lesiontrials.slicing.volumes import list_volume_sets, load_volume_set

    chosen = sets or list_volume_sets(space)
    if not chosen:
        raise InputError("no volume sets in the workspace",
                         fix="run `lesiontrials volumes build TRIAL` first")
    lines = []
    models = volume_models(names, models_yaml=models_yaml)  # loaded once for every set
    for set_name in chosen:
        volume_set = load_volume_set(space, set_name)
        for m in [*models, *extra]:
            if isinstance(m, VolumeVLM):
                path = run_volume_questions(m, volume_set, workspace=space, force=force)
            elif isinstance(m, VolumeDetector):
                path = run_detector(m, volume_set, workspace=space, force=force)
            else:
                path = run_malignancy(m, volume_set, workspace=space, force=force)
            lines.append(f"[green]{model_label(m.name, m.version)}[/] on {set_name} → {path}")
    return lines
