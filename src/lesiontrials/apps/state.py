"""Shared state of the web service: roots, the loaded index, safe file access."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from starlette.responses import Response

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
    text = str(relative)
    if "\x00" in text or any(len(part) > 255 for part in text.split("/")) or len(text) > 1024:
        raise ApiError("invalid file name (NUL byte or too long)", status=400)
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


try:  # orjson (the web extra) is ~10× faster than json for our bodies
    import orjson

    def json_bytes(body: Any) -> bytes:
        """Compact JSON of ``body`` (numpy arrays and scalars allowed; NaN → null)."""
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY
                            | orjson.OPT_NON_STR_KEYS)
except ImportError:  # pragma: no cover - depends on the environment
    def json_bytes(body: Any) -> bytes:
        """Compact JSON of ``body`` (numpy arrays and scalars allowed; NaN → null)."""
        return json.dumps(jsonable(_plain(body)), separators=(",", ":"),
                          allow_nan=False).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class FastJSON(Response):
    """A JSON response rendered with :func:`json_bytes` (endpoints return it directly, so
    FastAPI's generic encoder never walks the body)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else json_bytes(content)


def raw_key(path: str, query_string: bytes | str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A GET request's cache key: its path and its query parameters sorted by name. The
    sort is stable, so repeated values of one name keep their order: single-valued
    parameters take the last value given (``?side=left&side=right`` is ``right``)."""
    from urllib.parse import parse_qsl

    text = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    return path, tuple(sorted(parse_qsl(text, keep_blank_values=True), key=lambda kv: kv[0]))


def approx_nbytes(value: Any) -> int:
    """Memory a cached key or value holds, roughly: payload bytes of bytes, strings and
    arrays (and of containers of them) plus a fixed overhead per object."""
    overhead = 64
    if isinstance(value, bytes | bytearray | str):
        return overhead + len(value)
    if isinstance(value, np.ndarray):
        return overhead + int(value.nbytes)
    if isinstance(value, tuple | list | frozenset | set):
        return overhead + sum(approx_nbytes(v) for v in value)
    if isinstance(value, dict):
        return overhead + sum(approx_nbytes(k) + approx_nbytes(v) for k, v in value.items())
    return overhead


class LRU:
    """A least-recently-used cache (cachetools) shared by the server's threads, bounded by
    the bytes its keys and values hold (:func:`approx_nbytes`), not by a count: a few
    large answers or many long query strings cannot grow the server without limit. An
    entry larger than a quarter of the budget is not kept."""

    def __init__(self, max_bytes: int) -> None:
        from cachetools import LRUCache

        self.max_bytes = int(max_bytes)
        self._items: LRUCache[Any, tuple[int, Any]] = LRUCache(
            maxsize=self.max_bytes, getsizeof=lambda entry: entry[0])
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            entry = self._items.get(key)
        return None if entry is None else entry[1]

    def put(self, key: Any, value: Any) -> None:
        size = approx_nbytes(key) + approx_nbytes(value)
        if size > self.max_bytes // 4:
            return
        with self._lock:
            self._items[key] = (size, value)

    @property
    def nbytes(self) -> int:
        """Bytes held now (the cache's own account)."""
        with self._lock:
            return int(self._items.currsize)


@dataclass
class AppState:
    """Roots and lazily loaded tables, one per app."""

    workspace: Workspace
    data_root: DataRoot
    real_pixels: bool = True
    #: volumes decoded once per workspace (io.decoded); None reads the files directly
    decoded_cache: Any = None
    _index: Any = field(default=None, repr=False)
    _map: Any = field(default=None, repr=False)
    facet_codes: Any = field(default=None, repr=False)
    # byte budgets (``LRU``): ~0.3 GiB at most over the loaded index, whatever the traffic
    selection_cache: LRU = field(default_factory=lambda: LRU(32 << 20), repr=False)
    response_cache: LRU = field(default_factory=lambda: LRU(64 << 20), repr=False)
    map_cache: LRU = field(default_factory=lambda: LRU(32 << 20), repr=False)
    image_cache: LRU = field(default_factory=lambda: LRU(96 << 20), repr=False)
    raw_cache: LRU = field(default_factory=lambda: LRU(64 << 20), repr=False)
    _layouts: dict[str, Any] = field(default_factory=dict, repr=False)
    _embeddings: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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

    def remember(self, request: Any, body: bytes) -> FastJSON:
        """Keep a successful JSON GET response for :class:`~lesiontrials.apps.app.CachedGets`
        to answer the same path and query again without routing or validation (bodies that
        depend only on the immutable index); returns the response."""
        scope = request.scope
        self.raw_cache.put(raw_key(scope["path"], scope.get("query_string", b"")), body)
        return FastJSON(body)

    def layout(self, method: str) -> np.ndarray:
        """2-D coordinates ``(N, 2)`` of the map by ``method`` (``pca`` or ``umap``): PCA
        computed once per index, UMAP read as stored at index time (409 when it was not)."""
        if method == "pca":
            return np.asarray(self.nodule_map.xy)
        with self._lock:  # a UMAP takes seconds: build it once, not once per request
            if method not in self._layouts:
                from lesiontrials.apps.nodule_map import UmapNotComputedError, stored_umap

                try:  # computed at index time (`lesiontrials index map`), never here
                    self._layouts[method] = stored_umap(self.workspace)
                except UmapNotComputedError as error:
                    raise ApiError(str(error), status=409) from error
        return np.asarray(self._layouts[method].xy)

    @property
    def embeddings(self) -> Any:
        """The image embeddings table (``EmbeddingTable``), re-read when the file changes;
        409 when ``lesiontrials index embed`` has not been run."""
        from lesiontrials.embeddings import embeddings_path, read_embeddings

        path = embeddings_path(self.workspace)
        if not path.is_file():
            raise ApiError("no image embeddings in this workspace: run `lesiontrials index "
                           "embed`", status=409)
        stamp = path.stat().st_mtime_ns
        cached = self._embeddings
        if cached is None or cached[0] != stamp:
            cached = self._embeddings = (stamp, read_embeddings(path))
        return cached[1]

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

    def rows_json_bytes(self, rows: np.ndarray, columns: list[str]) -> bytes:
        """``rows_json`` as a JSON array, joined from each row's JSON encoded once per
        column list (a result page costs a join, not a dict and an encode per row)."""
        cache: dict[tuple[str, ...], np.ndarray] = self.__dict__.setdefault("_row_bytes", {})
        key = tuple(columns)
        if key not in cache:
            every = np.arange(len(self.index.table))
            encoded = [json_bytes(row) for row in self.rows_json(every, columns)]
            cache[key] = np.array([*encoded, b""], dtype=object)[:-1]
        return b"[" + b",".join(cache[key][rows].tolist()) + b"]"

    @property
    def uid_rows(self) -> dict[str, int]:
        """Nodule uid → row number (built once)."""
        rows: dict[str, int] | None = self.__dict__.get("_rows")
        if rows is None:
            uids = self.index.array("nodule_uid").tolist()
            rows = self.__dict__["_rows"] = {str(u): i for i, u in reversed(list(enumerate(uids)))}
        return rows

    def row_of(self, uid: str) -> int:
        """Row number of a nodule uid, or 404."""
        if uid not in self.uid_rows:
            raise ApiError(f"unknown nodule {uid!r}", status=404)
        return self.uid_rows[uid]

    @property
    def index_sha256(self) -> str:
        """SHA-256 of the index file (computed once)."""
        digest: str | None = self.__dict__.get("_index_sha256")
        if digest is None:
            from lesiontrials.io import sha256_file

            digest = self.__dict__["_index_sha256"] = sha256_file(self.workspace.index_table)
        return digest

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
