"""Result shards of the runner: their columns, run keys and how a cell is read back.

Results of one (model, set, condition, task) live in
``results/{model}/{set}/{condition}/{task}/part-{key}-{uids}.parquet`` (columns
:data:`RESULT_COLUMNS`); ``current.json`` beside the shards names the run keys of the
latest run (one per prompt paraphrase) and the canonical paraphrase's key as ``run_key``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.io import check_columns, read_parquet
from lesiontrials.paths import RESULTS_CURRENT_JSON, Workspace
from lesiontrials.records.tables import EvalItem, ResultRow
from lesiontrials.scoring.paraphrases import PRIMARY

#: the fields of :class:`lesiontrials.records.ResultRow` (each described there), in order
RESULT_COLUMNS: Final = tuple(ResultRow.model_fields)
CURRENT_JSON = RESULTS_CURRENT_JSON


def run_key(*, model: str, version: str, prompt_hash: str, profile: str) -> str:
    """Hash (16 hex) identifying one model/version/prompt/profile combination."""
    text = "\x1f".join([model, version, prompt_hash, profile])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_results(workspace: Workspace, *, model: str, set_name: str, condition: str,
                 task: str, current_only: bool = True,
                 paraphrase: str | None = PRIMARY) -> pd.DataFrame:
    """Result rows of one cell, one row per slice uid and run key.

    ``current_only``: only the latest run's keys (one per paraphrase). ``paraphrase``:
    the rows of one prompt paraphrase (the canonical ``p0`` by default, so that every
    table pairs one answer per slice), or every paraphrase with ``None``.
    """
    where = workspace.results_dir(model, set_name, condition, task)
    shards = sorted(where.glob("part-*.parquet")) if where.is_dir() else []
    if not shards:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    frame = pd.concat([read_parquet(p) for p in shards], ignore_index=True)
    if "paraphrase" not in frame.columns:  # shards written before paraphrases existed
        frame["paraphrase"] = PRIMARY
    check_columns(frame.columns, ResultRow, where=where)
    if current_only and (where / CURRENT_JSON).is_file():
        from lesiontrials.io import read_json

        current = read_json(where / CURRENT_JSON)
        keys = set(current.get("run_keys", {}).values()) or {current["run_key"]}
        frame = frame[frame["run_key"].isin(keys)]
    if paraphrase is not None:
        frame = frame[frame["paraphrase"] == paraphrase]
    return frame.drop_duplicates(["slice_uid", "run_key"], keep="last").reset_index(drop=True)


def read_current_results(workspace: Workspace, *, paraphrase: str | None = None
                         ) -> pd.DataFrame:
    """:func:`read_results` of every result cell of the workspace (the latest run's keys),
    concatenated in the workspace's cell order; ``paraphrase`` as there, but every
    paraphrase by default. Empty cells are left out; no cell at all gives an empty frame
    with :data:`RESULT_COLUMNS`. The report reads the shards once with this and takes the
    canonical paraphrase's rows from it (:func:`primary_rows`)."""
    frames = [read_results(workspace, model=cell.model, set_name=cell.eval_set,
                           condition=cell.condition, task=cell.task, paraphrase=paraphrase)
              for cell in workspace.result_cells()]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def primary_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The canonical paraphrase's rows of :func:`read_current_results` — the same rows,
    in the same order, as reading every cell with ``paraphrase=PRIMARY``."""
    return results[results["paraphrase"] == PRIMARY].reset_index(drop=True)


def set_items(workspace: Workspace, set_name: str, profile: str) -> pd.DataFrame:
    """The set's ``cases.parquet`` for one profile (a clear error when it is missing)."""
    path = workspace.eval_items_file(set_name, profile)
    if not path.is_file():
        raise InputError(f"set {set_name!r} has no {profile!r} items", path=path,
                         fix=f"run `lesiontrials slices {set_name}` (profiles include "
                             f"{profile})")
    return read_items(path)


def read_items(path: Path) -> pd.DataFrame:
    """An evaluation set's items table (:class:`~lesiontrials.records.EvalItem` rows); a
    table without every item column is refused, naming the file and the stage to re-run."""
    frame = read_parquet(path)
    check_columns(frame.columns, EvalItem, where=path)
    return frame
