"""Tables and JSON: Parquet/CSV/JSON reads with clear errors and atomic writes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.io.atomic import atomic_path, write_text_atomic


def read_csv_table(path: str | Path, *, dtype: dict[str, Any] | None = None) -> pd.DataFrame:
    """Read a CSV file; errors name the file and say what to do."""
    path = Path(path)
    if not path.is_file():
        raise MissingPathError("table not found", path=path, fix="check the path")
    try:
        frame = pd.read_csv(path, dtype=dtype, keep_default_na=True, low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise InputError("the CSV file is empty", path=path,
                         fix="write a header row and one row per record") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot parse the CSV file ({exc})", path=path,
                         fix="check the delimiter (comma), quoting and encoding (UTF-8)") from exc
    return frame


def write_parquet(frame: pd.DataFrame, path: str | Path, *,
                  metadata: dict[str, Any] | None = None) -> Path:
    """Write a DataFrame to Parquet atomically (zstd, no index, deterministic bytes).

    ``metadata`` (JSON-ready) is stored in the file's key-value metadata under
    ``lesiontrials`` (read it back with :func:`read_parquet_metadata`)."""
    path = Path(path)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata is not None:
        table = table.replace_schema_metadata({
            **(table.schema.metadata or {}), b"lesiontrials": to_json_text(metadata).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def read_parquet(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise MissingPathError("table not found", path=path, fix="build it first")
    try:
        return pq.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read Parquet file ({exc})", path=path,
                         fix="the file is corrupt; delete it and rebuild") from exc


def read_parquet_metadata(path: str | Path) -> dict[str, Any]:
    """The ``lesiontrials`` key-value metadata of a Parquet file (``{}`` when absent)."""
    path = Path(path)
    if not path.is_file():
        raise MissingPathError("table not found", path=path, fix="build it first")
    try:
        stored = pq.read_schema(path).metadata or {}
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read Parquet file ({exc})", path=path,
                         fix="the file is corrupt; delete it and rebuild") from exc
    text = stored.get(b"lesiontrials")
    return dict(json.loads(text)) if text else {}


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    write_text_atomic(path, frame.to_csv(index=False, lineterminator="\n"))
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def to_json_text(obj: Any) -> str:
    """Stable JSON text: sorted keys, 2-space indent, NaN written as null."""
    return json.dumps(_nan_to_none(obj), indent=2, sort_keys=True, default=_json_default) + "\n"


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    return obj


def write_json(obj: Any, path: str | Path) -> Path:
    path = Path(path)
    write_text_atomic(path, to_json_text(obj))
    return path


RUN_COUNTERS = frozenset({"this_run", "seconds", "cases_done", "cases_reused"})
"""Keys that describe one invocation (what this run did, how long it took), not the
content. They are printed, never stored, so a rerun of a finished stage leaves every
content file byte-identical."""


def write_content_json(record: dict[str, Any], path: str | Path) -> Path:
    """:func:`write_json` of ``record`` without its :data:`RUN_COUNTERS` keys."""
    return write_json({k: v for k, v in record.items() if k not in RUN_COUNTERS}, path)


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise MissingPathError("JSON file not found", path=path, fix="check the path")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg} at line {exc.lineno})", path=path,
                         fix="repair or delete the file") from exc
