"""Shared state of the web service: roots, the loaded index, safe file access."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials.paths import DataRoot, Workspace, check_name

# render backends whose CT is drawn from labels alone (no real patient pixels)
SYNTHETIC_BACKENDS = frozenset({"analytic", "physics", "maisi"})


class ApiError(Exception):
    """An error returned to the client as ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def safe_name(value: str, *, what: str) -> str:
    """A path component, or a 400 for anything that could escape a directory."""
    try:
        return check_name(value, what=what)
    except ValueError as error:
        raise ApiError(str(error), status=400) from error


def inside(root: Path, relative: str | Path) -> Path:
    """``root / relative`` resolved, refused (403) when it leaves ``root``."""
    base = Path(root).resolve()
    rel = Path(relative)
    if rel.is_absolute():
        raise ApiError("absolute paths are refused", status=403)
    target = (base / rel).resolve()
    if target != base and base not in target.parents:
        raise ApiError("path leaves the served directory", status=403)
    return target


def jsonable(value: Any) -> Any:
    """NaN/NA → None, numpy scalars → Python, recursively."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-safe row dicts."""
    return [jsonable(row) for row in frame.astype(object).to_dict(orient="records")]


@dataclass
class AppState:
    """Roots and lazily loaded tables, one per app."""

    workspace: Workspace
    data_root: DataRoot
    real_pixels: bool = True
    _index: Any = field(default=None, repr=False)
    _map: Any = field(default=None, repr=False)
    facet_codes: Any = field(default=None, repr=False)

    @property
    def index(self) -> Any:
        """The nodule index (``NoduleIndex``), loaded once."""
        if self._index is None:
            from lesiontrials.index import NoduleIndex

            path = self.workspace.index_table
            if not path.is_file():
                raise ApiError("the workspace has no nodule index (run `lesiontrials index "
                               "build`)", status=404)
            self._index = NoduleIndex.load(path)
        return self._index

    @property
    def nodule_map(self) -> Any:
        """The cached 2-D map (``NoduleMap``), built on first use."""
        if self._map is None:
            from lesiontrials.apps.nodule_map import load_or_build_map

            self._map = load_or_build_map(self.index, workspace=self.workspace)
        return self._map

    def column_values(self, column: str) -> np.ndarray:
        """An index column as an object array of JSON-safe values (cached)."""
        cache: dict[str, np.ndarray] = self.__dict__.setdefault("_json_columns", {})
        if column not in cache:
            values = self.index.table[column].astype(object).tolist()
            cache[column] = np.array([jsonable(v) for v in values] + [None], dtype=object)[:-1]
        return cache[column]

    def rows_json(self, rows: np.ndarray, columns: list[str]) -> list[dict[str, Any]]:
        """Index rows as JSON-safe dicts, from cached columns (fast for result pages)."""
        picked = [self.column_values(c)[rows] for c in columns]
        return [dict(zip(columns, values, strict=True)) for values in zip(*picked, strict=True)]

    def row_of(self, uid: str) -> int:
        """Row number of a nodule uid, or 404."""
        rows: dict[str, int] | None = self.__dict__.get("_rows")
        if rows is None:
            uids = self.index.array("nodule_uid").tolist()
            rows = self.__dict__["_rows"] = {str(u): i for i, u in reversed(list(enumerate(uids)))}
        if uid not in rows:
            raise ApiError(f"unknown nodule {uid!r}", status=404)
        return rows[uid]

    def data_file(self, relative: str) -> Path:
        """A file inside the data root (resolved and checked)."""
        return inside(self.data_root.root, relative)

    def workspace_file(self, relative: str | Path) -> Path:
        """A file inside the workspace (resolved and checked)."""
        return inside(self.workspace.root, relative)

    def require_real_pixels(self) -> None:
        """403 when the server was started with ``--no-real-pixels``."""
        if not self.real_pixels:
            raise ApiError("real CT pixels are disabled on this server (--no-real-pixels)",
                           status=403)


def page(items: list[Any], *, offset: int, limit: int, total: int) -> dict[str, Any]:
    """The pagination envelope every list endpoint returns."""
    return {"total": total, "offset": offset, "limit": limit, "items": items}
