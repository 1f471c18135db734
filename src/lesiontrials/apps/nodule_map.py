"""A 2-D map of the nodule index: PCA (numpy SVD) of standardised reinsertion features and
LIDC characteristics plus a k-nearest-neighbour graph, and a UMAP of the same features
(umap-learn, fixed ``random_state``), each computed once per index hash and cached next to
the index."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesiontrials.anatomy import LIDC_CHARACTERISTICS
from lesiontrials.index.matcher import NUMERIC_FEATURES
from lesiontrials.paths import Workspace

MAP_VERSION = 2
# reinsertion placement (missing for donor-only datasets such as LIDC) plus size and the
# LIDC reader characteristics (1–5/6), so donor-only nodules spread out too
CHARACTERISTICS = LIDC_CHARACTERISTICS
FEATURE_COLUMNS: tuple[str, ...] = (*NUMERIC_FEATURES.values(), "nodule_max_axis_mm",
                                    *CHARACTERISTICS)


@dataclass(frozen=True)
class NoduleMap:
    """Per-nodule 2-D coordinates ``xy`` ``(N, 2)``, neighbours ``(N, k)`` row numbers and
    their feature-space distances, for the index rows in order."""

    uids: list[str]
    xy: np.ndarray
    neighbours: np.ndarray
    distances: np.ndarray
    explained_variance: list[float]
    index_sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MAP_VERSION, "method": "pca", "features": list(FEATURE_COLUMNS),
            "index_sha256": self.index_sha256, "uids": self.uids,
            "xy": np.round(self.xy, 5).tolist(), "neighbours": self.neighbours.tolist(),
            "distances": np.round(self.distances, 5).tolist(),
            "explained_variance": self.explained_variance,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NoduleMap:
        k = len(data["neighbours"][0]) if data["neighbours"] else 0
        return cls(uids=list(data["uids"]), xy=np.asarray(data["xy"], float).reshape(-1, 2),
                   neighbours=np.asarray(data["neighbours"], int).reshape(-1, k),
                   distances=np.asarray(data["distances"], float).reshape(-1, k),
                   explained_variance=list(data["explained_variance"]),
                   index_sha256=str(data["index_sha256"]))


def standardised_features(values: np.ndarray) -> np.ndarray:
    """Columns imputed with their median (0 when all missing) and scaled to unit variance."""
    values = np.asarray(values, dtype=float).copy()
    for j in range(values.shape[1]):
        column = values[:, j]
        finite = np.isfinite(column)
        fill = float(np.median(column[finite])) if finite.any() else 0.0
        column[~finite] = fill
        sd = column.std()
        values[:, j] = (column - column.mean()) / (sd if sd > 1e-12 else 1.0)
    return values


def pca_2d(features: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """First two principal components (sign fixed: largest loading positive) and the
    share of variance each explains."""
    centred = features - features.mean(axis=0)
    if centred.shape[0] < 2:
        return np.zeros((centred.shape[0], 2)), [0.0, 0.0]
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:2]
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    components = components * signs[:, None]
    xy = centred @ components.T
    if xy.shape[1] < 2:
        xy = np.hstack([xy, np.zeros((xy.shape[0], 2 - xy.shape[1]))])
    total = float((singular**2).sum()) or 1.0
    shares = [float(s**2 / total) for s in singular[:2]] + [0.0] * (2 - len(singular[:2]))
    return xy, shares


def knn_graph(features: np.ndarray, *, k: int, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other rows (Euclidean) of each row, nearest first."""
    n = features.shape[0]
    k = max(0, min(k, n - 1))
    neighbours = np.zeros((n, k), dtype=int)
    distances = np.zeros((n, k), dtype=float)
    squared = (features**2).sum(axis=1)
    for start in range(0, n, chunk):
        block = features[start:start + chunk]
        d2 = squared[start:start + chunk, None] + squared[None, :] - 2.0 * block @ features.T
        d2[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = np.inf
        order = np.argsort(d2, axis=1, kind="stable")[:, :k]
        neighbours[start:start + chunk] = order
        distances[start:start + chunk] = np.sqrt(np.maximum(
            np.take_along_axis(d2, order, axis=1), 0.0))
    return neighbours, distances


def build_map(index: Any, *, k: int = 8, index_sha256: str = "") -> NoduleMap:
    """Compute the map of a ``NoduleIndex``."""
    raw = np.column_stack([index.array(c).astype(float) for c in FEATURE_COLUMNS])
    features = standardised_features(raw)
    xy, shares = pca_2d(features)
    neighbours, distances = knn_graph(features, k=k)
    uids = [str(u) for u in index.array("nodule_uid")]
    return NoduleMap(uids, xy, neighbours, distances, shares, index_sha256)


def map_cache_path(workspace: Workspace) -> Path:
    """``index/nodule_map.json`` beside the index it describes."""
    return workspace.index_dir / "nodule_map.json"


def load_or_build_map(index: Any, *, workspace: Workspace, k: int = 8) -> NoduleMap:
    """Read the cached map when it matches the index file's hash; else build and cache it
    (a read-only workspace just skips the write)."""
    from lesiontrials.io import read_json, sha256_file, write_json

    digest = sha256_file(workspace.index_table)
    path = map_cache_path(workspace)
    if path.is_file():
        cached = read_json(path)
        if cached.get("version") == MAP_VERSION and cached.get("index_sha256") == digest:
            return NoduleMap.from_json(cached)
    built = build_map(index, k=k, index_sha256=digest)
    with contextlib.suppress(OSError):
        write_json(built.to_json(), path)
    return built


# ---------------------------------------------------------------------------
# UMAP (umap-learn, web extra): the same standardised features, a fixed random_state
# ---------------------------------------------------------------------------
UMAP_VERSION = 1
UMAP_PARAMS: dict[str, Any] = {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean",
                               "random_state": 0}


class UmapMissingError(ImportError):
    """umap-learn is not installed."""


@dataclass(frozen=True)
class Layout:
    """2-D coordinates ``xy`` ``(N, 2)`` of the index rows by one method."""

    method: str
    xy: np.ndarray
    params: dict[str, Any]
    index_sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"version": UMAP_VERSION, "method": self.method, "params": self.params,
                "index_sha256": self.index_sha256, "xy": np.round(self.xy, 5).tolist()}


def umap_2d(features: np.ndarray, *, params: dict[str, Any] | None = None) -> np.ndarray:
    """UMAP embedding ``(N, 2)`` of standardised ``features`` (single-threaded with the
    fixed ``random_state``, so the same features give the same coordinates)."""
    import warnings

    try:
        import umap
    except ImportError as error:
        raise UmapMissingError("method=umap needs umap-learn: install the web extra "
                          "(pip install 'lesiontrials[web]')") from error
    params = {**UMAP_PARAMS, **(params or {})}
    n = features.shape[0]
    if n < 4:  # too few points for a neighbour graph
        return pca_2d(features)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state; tiny inputs
        reducer = umap.UMAP(n_components=2, n_neighbors=min(int(params["n_neighbors"]), n - 1),
                            min_dist=float(params["min_dist"]), metric=str(params["metric"]),
                            random_state=int(params["random_state"]))
        xy = reducer.fit_transform(features)
    return np.round(np.asarray(xy, dtype=float), 5)


def umap_cache_path(workspace: Workspace) -> Path:
    """``index/nodule_map_umap.json`` beside the PCA map."""
    return workspace.index_dir / "nodule_map_umap.json"


class UmapNotComputedError(LookupError):
    """The workspace has no UMAP layout for its current index (``lesiontrials index map``
    computes it; ``index build`` does so too)."""


def stored_umap(workspace: Workspace) -> Layout:
    """The UMAP layout stored for this index file's hash and the UMAP parameters; the web
    service reads it and never computes one on a request (a UMAP of ~1,200 nodules took
    68 s there, numba compiling umap-learn)."""
    from lesiontrials.io import read_json, sha256_file

    digest = sha256_file(workspace.index_table)
    path = umap_cache_path(workspace)
    if path.is_file():
        cached = read_json(path)
        if (cached.get("version") == UMAP_VERSION and cached.get("index_sha256") == digest
                and cached.get("params") == UMAP_PARAMS):
            return Layout("umap", np.asarray(cached["xy"], float).reshape(-1, 2),
                          dict(cached["params"]), digest)
        raise UmapNotComputedError(f"{path} is for another index or other UMAP settings: "
                                   "run `lesiontrials index map` to recompute it")
    raise UmapNotComputedError("no UMAP layout for this index: run `lesiontrials index map` "
                               "(computed once, then stored beside the index)")


def load_or_build_umap(index: Any, *, workspace: Workspace) -> Layout:
    """The stored UMAP layout (:func:`stored_umap`), else computed (tens of seconds the
    first time: numba compiles umap-learn) and stored. Called at index time
    (:func:`compute_layouts`), not by the web service."""
    from lesiontrials.io import sha256_file, write_json

    with contextlib.suppress(UmapNotComputedError):
        return stored_umap(workspace)
    digest = sha256_file(workspace.index_table)
    path = umap_cache_path(workspace)
    raw = np.column_stack([index.array(c).astype(float) for c in FEATURE_COLUMNS])
    built = Layout("umap", umap_2d(standardised_features(raw)), dict(UMAP_PARAMS), digest)
    with contextlib.suppress(OSError):
        write_json(built.to_json(), path)
    return built


def compute_layouts(index: Any, *, workspace: Workspace) -> dict[str, str]:
    """Compute and store every map layout of the workspace's index once, at index time
    (``index build``, ``index map``): the PCA map with its neighbour graph and, when
    umap-learn is installed, the UMAP. Returns per method ``stored`` or why it was not."""
    load_or_build_map(index, workspace=workspace)
    done = {"pca": "stored"}
    try:
        load_or_build_umap(index, workspace=workspace)
        done["umap"] = "stored"
    except UmapMissingError as error:
        done["umap"] = f"skipped: {error}"
    return done
