"""Frozen evaluation splits: the sorted slice uids every reported number uses.

"One reporting N": a slice is in the split only when every model × condition has scored it
on every task that applies to it (presence for all slices; lobe and size for positives
with known truth), in the models' current runs, and it is not in the synthetic
calibration fold (:mod:`~lesiontrials.scoring.calibration`: the slices fitted baselines
and the council learn from are never reported). A split file
(``splits/{name}.json``) holds the sorted uid list, its SHA-256 (over the uids joined by
newlines, with a final newline) and provenance: sets, models with their run keys and
versions, conditions, tasks, counts and the calibration fold (its seed, unit rule, uids
and their SHA-256). ``check_split`` re-hashes the stored list and recomputes it from the
current results.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.io import read_json, read_parquet, uid_hash, write_json
from lesiontrials.paths import Workspace
from lesiontrials.scoring.calibration import CALIBRATION_SEED, UNIT_RULE, calibration_fold
from lesiontrials.scoring.runner import CURRENT_JSON, read_results
from lesiontrials.slicing.contract import CONDITIONS, PROFILES, TASKS
from lesiontrials.slicing.sets import list_sets
from lesiontrials.slicing.tasks import applies_to

SPLIT_VERSION = 1


@dataclass(frozen=True)
class Split:
    """A frozen split: name, sorted uids, their SHA-256, provenance."""

    name: str
    uids: tuple[str, ...]
    sha256: str
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SplitCheck:
    """``hash_ok``: the stored list matches its hash; ``reproducible``: recomputing from the
    current results gives the same list; ``missing``/``added``: uids that differ."""

    name: str
    hash_ok: bool
    reproducible: bool
    missing: tuple[str, ...]
    added: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.hash_ok and self.reproducible


def _slices(workspace: Workspace, set_name: str) -> pd.DataFrame:
    for profile in PROFILES:
        path = workspace.eval_dir(set_name, profile) / "cases.parquet"
        if path.is_file():
            frame = read_parquet(path)
            return frame.drop_duplicates("slice_uid")[["slice_uid", "kind", "truth_lobe",
                                                       "truth_size", "source", "donor_uid",
                                                       "case_uid", "host_dataset"]]
    raise InputError(f"set {set_name!r} has no items", path=workspace.eval_set_dir(set_name),
                     fix=f"run `lesiontrials slices {set_name}` first")


def scored_models(workspace: Workspace, sets: Sequence[str]) -> list[str]:
    """Models with results for any of ``sets``."""
    root = workspace.results_root
    if not root.is_dir():
        return []
    return sorted(m.name for m in root.iterdir()
                  if m.is_dir() and any((m / s).is_dir() for s in sets))


def reporting_uids(workspace: Workspace, *, sets: Sequence[str], models: Sequence[str],
                   conditions: Sequence[str] = CONDITIONS, tasks: Sequence[str] = TASKS,
                   calibration_seed: int = CALIBRATION_SEED
                   ) -> tuple[list[str], dict[str, Any]]:
    """Sorted uids scored by every model × condition × applicable task and outside the
    calibration fold, and provenance (with the fold's uids)."""
    if not models:
        raise InputError("no models to build a split from",
                         fix="score at least one model with `lesiontrials score`")
    keep: list[str] = []
    runs: dict[str, dict[str, Any]] = {}
    counts: dict[str, dict[str, int]] = {}
    calibration: list[str] = []
    every = {set_name: _slices(workspace, set_name) for set_name in sets}
    # the fold over every set of the workspace, as the runner fitted it (real hosts known)
    universe = [every.get(s) if s in every else _slices(workspace, s)
                for s in sorted(set(list_sets(workspace)) | set(sets))]
    fold = set(calibration_fold(pd.concat(universe, ignore_index=True),
                                seed=calibration_seed).uids) if universe else set()
    for set_name, slices in every.items():
        scored = {}
        for model in models:
            for condition in conditions:
                for task in tasks:
                    frame = read_results(workspace, model=model, set_name=set_name,
                                         condition=condition, task=task)
                    scored[(model, condition, task)] = set(frame["slice_uid"])
                    runs.setdefault(model, {})[f"{set_name}/{condition}/{task}"] = _run_info(
                        workspace, model, set_name, condition, task)
        complete = [uid for uid, kind, lobe, size, *_ in slices.itertuples(index=False)
                    if _complete(uid, kind, lobe, size, scored, models, conditions, tasks)]
        kept = [uid for uid in complete if uid not in fold]
        calibration.extend(uid for uid in complete if uid in fold)
        keep.extend(kept)
        kinds = slices.set_index("slice_uid").loc[kept, "kind"] if kept else pd.Series([])
        counts[set_name] = {"slices": len(slices), "kept": len(kept),
                            "calibration": len(complete) - len(kept),
                            **{str(k): int(v) for k, v in kinds.value_counts().items()}}
    fold_uids = sorted(set(calibration))
    provenance = {"sets": list(sets), "models": list(models), "conditions": list(conditions),
                  "tasks": list(tasks), "runs": runs, "counts": counts,
                  "calibration": {"seed": calibration_seed, "unit": UNIT_RULE,
                                  "sha256": uid_hash(fold_uids), "uids": fold_uids}}
    return sorted(set(keep)), provenance


def _complete(uid: str, kind: str, lobe: str, size: str,
              scored: dict[tuple[str, str, str], set[str]], models: Sequence[str],
              conditions: Sequence[str], tasks: Sequence[str]) -> bool:
    applicable = [t for t in tasks if applies_to(t, kind=kind, truth_lobe=lobe, truth_size=size)]
    return bool(applicable) and all(uid in scored[(m, c, t)] for m in models
                                    for c in conditions for t in applicable)


def _run_info(workspace: Workspace, model: str, set_name: str, condition: str,
              task: str) -> dict[str, Any] | None:
    path = workspace.results_dir(model, set_name, condition, task) / CURRENT_JSON
    return read_json(path) if path.is_file() else None


def trained_models(workspace: Workspace, models: Sequence[str]) -> dict[str, list[str]]:
    """``{model: its training sets}`` for the models of ``models`` whose card
    (``results/{model}/model.json``) says ``kind: trained``."""
    out = {}
    for model in models:
        path = workspace.results_root / model / "model.json"
        card = read_json(path).get("card", {}) if path.is_file() else {}
        if isinstance(card, dict) and card.get("kind") == "trained":
            extra = card.get("extra", {}) or {}
            out[model] = sorted(json.loads(extra.get("training_sets", "[]")))
    return out


def make_split(*, workspace: Workspace, name: str, sets: Sequence[str],
               models: Sequence[str] | None = None, conditions: Sequence[str] = CONDITIONS,
               tasks: Sequence[str] = TASKS, calibration_seed: int = CALIBRATION_SEED
               ) -> Split:
    """Compute the one-reporting-N split and write ``splits/{name}.json``.

    Trained models (card ``kind: trained``) never answer the cases they learned from, so
    they do not decide the split: it is frozen over the other models (its hash does not
    change when a trained model is added), and each trained model is recorded in the
    provenance (``restricted``) with the sets it was scored on, the split restricted to
    those sets being what it is reported on."""
    chosen = list(models) if models else scored_models(workspace, sets)
    restricted = trained_models(workspace, chosen)
    models = [m for m in chosen if m not in restricted]
    if chosen and not models:
        raise InputError(
            f"only trained models are scored on {', '.join(sets)} "
            f"({', '.join(sorted(restricted))}); a split is frozen over models that did "
            "not learn from these cases",
            path=workspace.results_root,
            fix="score a weight-free baseline too, e.g. `lesiontrials score SET --model majority`")
    uids, provenance = reporting_uids(workspace, sets=sets, models=models,
                                      conditions=conditions, tasks=tasks,
                                      calibration_seed=calibration_seed)
    provenance["restricted"] = {
        model: {"training_sets": training,
                "sets": [s for s in sets if (workspace.results_root / model / s).is_dir()]}
        for model, training in sorted(restricted.items())}
    split = Split(name=name, uids=tuple(uids), sha256=uid_hash(uids), provenance=provenance)
    write_json({"name": name, "version": SPLIT_VERSION, "n": len(uids),
                "sha256": split.sha256, "uids": list(uids), "provenance": provenance},
               workspace.split_file(name))
    return split


def load_split(workspace: Workspace, name: str) -> Split:
    """The split ``splits/{name}.json`` of the workspace, as stored (unverified: see
    :func:`check_split` and :func:`read_split`)."""
    record = read_json(workspace.split_file(name))
    return Split(name=record["name"], uids=tuple(record["uids"]), sha256=record["sha256"],
                 provenance=record.get("provenance", {}))


def read_split(path: Path) -> Split:
    """A split file, checked: it exists, is a split, and its uids match its SHA-256."""
    if not Path(path).is_file():
        raise InputError("no split file", path=path,
                         fix="freeze one with `lesiontrials split make main` (run makes it) "
                             "or pass --split FILE")
    record = read_json(path)
    if not isinstance(record, dict) or not {"name", "uids", "sha256"} <= set(record):
        raise InputError("not a split file (needs name, uids and sha256)", path=path,
                         fix="write it with `lesiontrials split make NAME`")
    split = Split(name=record["name"], uids=tuple(record["uids"]), sha256=record["sha256"],
                  provenance=record.get("provenance", {}))
    if uid_hash(split.uids) != split.sha256:
        raise InputError("the split's uids do not match its sha256 (edited or corrupt)",
                         path=path, fix="re-freeze it with `lesiontrials split make NAME`")
    return split


def check_split(*, workspace: Workspace, name: str) -> SplitCheck:
    """Verify a split's hash and recompute it from the current results."""
    split = load_split(workspace, name)
    p = split.provenance
    uids, _ = reporting_uids(workspace, sets=p["sets"], models=p["models"],
                             conditions=p["conditions"], tasks=p["tasks"],
                             calibration_seed=p.get("calibration", {}).get(
                                 "seed", CALIBRATION_SEED))
    stored, now = set(split.uids), set(uids)
    return SplitCheck(name=name, hash_ok=uid_hash(split.uids) == split.sha256
                      and list(split.uids) == sorted(split.uids),
                      reproducible=uid_hash(uids) == split.sha256,
                      missing=tuple(sorted(stored - now)), added=tuple(sorted(now - stored)))
