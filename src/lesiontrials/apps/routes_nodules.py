"""Nodule endpoints: search with facets, the filter list, detail, similar nodules (on the
matcher's features or on image embeddings), donor matching, and a slice through each nodule.

The map is in :mod:`~lesiontrials.apps.routes_map`, exports in
:mod:`~lesiontrials.apps.routes_export`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from lesiontrials.anatomy import LIDC_CHARACTERISTICS
from lesiontrials.apps.params import Display, Limit, Offset, Selection, state_of
from lesiontrials.apps.selection import filter_list, selection_openapi
from lesiontrials.apps.state import ApiError, AppState, FastJSON, json_bytes, page, records
from lesiontrials.errors import InputError
from lesiontrials.io import Volume

router = APIRouter(prefix="/api", tags=["nodules"])

SUMMARY_COLUMNS = [
    "nodule_uid", "dataset", "patient_id", "ct_id", "label", "lobe_name", "lung_side",
    "lung_zone", "central_peripheral", "nodule_mean_diam_mm", "size_bin",
    "pleural_distance_mm", "airway_distance_mm", "n_nodules_in_patient", "host_available",
    "mask_available", *LIDC_CHARACTERISTICS,
]
FACETS = {"dataset": "dataset", "label": "label", "lobe": "lobe_name", "zone": "lung_zone",
          "side": "lung_side", "size_bin": "size_bin"}


UNKNOWN = "unknown"
"""The facet bucket of rows without a value (missing or blank), e.g. the lobe of donor-only
LIDC nodules, which come without a lung mask."""


def facet_order(name: str, names: np.ndarray) -> np.ndarray:
    """Category order shown to the user: size bins by size, ``unknown`` last, the rest
    alphabetically."""
    from lesiontrials.anatomy import PROFILE_SIZE_BINS

    def key(value: str) -> tuple[int, int, str]:
        if value == UNKNOWN:
            return (2, 0, value)
        if name == "size_bin" and value in PROFILE_SIZE_BINS:
            return (0, PROFILE_SIZE_BINS.index(value), value)
        return (1, 0, value)

    return np.array(sorted((str(n) for n in names), key=key), dtype=object)


def _facet_codes(state: AppState) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per facet: category names in display order (:func:`facet_order`; a missing or blank
    value is :data:`UNKNOWN`) and each row's integer code, computed once per index."""
    cached: dict[str, tuple[np.ndarray, np.ndarray]] | None = getattr(state, "facet_codes", None)
    if cached is None:
        cached = {}
        for name, column in FACETS.items():
            series = state.index.table[column]
            text = series.astype(object).where(series.notna(), UNKNOWN).map(str).to_numpy()
            text[np.char.strip(text.astype(str)) == ""] = UNKNOWN
            names = facet_order(name, np.unique(text))
            position = {value: i for i, value in enumerate(names)}
            codes = np.fromiter((position[v] for v in text), dtype=np.int64, count=len(text))
            cached[name] = (names, codes)
        state.facet_codes = cached
    return cached


def _facets(state: AppState, rows: np.ndarray) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, (names, codes) in _facet_codes(state).items():
        counts = np.bincount(codes[rows], minlength=len(names))
        out[name] = {str(names[i]): int(counts[i]) for i in np.flatnonzero(counts)}
    return out


def warm(state: AppState) -> None:
    """Build what the first requests would otherwise build under load: the index, facet
    codes, the search rows' JSON, the detail columns, the uid lookup and the PCA map
    (called once when the server starts; a workspace without an index is skipped)."""
    try:
        index = state.index
    except ApiError:
        return
    _facet_codes(state)
    state.rows_json_bytes(np.arange(0), SUMMARY_COLUMNS)
    for column in index.table.columns:
        state.column_values(str(column))
    state.uid_rows  # noqa: B018 - builds the lookup
    state.nodule_map  # noqa: B018 - loads or builds the cached map


@router.get("/nodules", response_class=FastJSON,
            openapi_extra=selection_openapi(),
            summary="Search nodules (facets, ranges, pagination)")
async def search_nodules(request: Request, selected: Selection, offset: Offset = 0,
                         limit: Limit = 50) -> Response:
    """Filter the nodule index (every LIDC characteristic as a ``{name}_min``/``_max``
    range; see ``/api/nodules/filters``); facets count the filtered set by category.
    Responses are cached per normalised filter set and page."""
    state = state_of(request)
    key = ("search", selected.key, offset, limit)
    body = state.response_cache.get(key)
    if body is None:
        rows = selected.rows
        items = state.rows_json_bytes(rows[offset:offset + limit], SUMMARY_COLUMNS)
        envelope = json_bytes(page([], offset=offset, limit=limit, total=len(rows))
                              | {"facets": _facets(state, rows)})
        body = envelope.replace(b'"items":[]', b'"items":' + items, 1)
        state.response_cache.put(key, body)
    return state.remember(request, body)


@router.get("/nodules/filters", response_class=FastJSON,
            summary="Every search filter: its parameters and choices or bounds")
async def search_filters(request: Request) -> Response:
    """``{"filters": [...]}``: ``kind`` ``choice`` (``param``, ``multiple``, ``choices``,
    ``counts``), ``range`` (``min_param``/``max_param``, allowed ``limits``, data
    ``bounds``, rows ``missing`` a value) or ``flag`` (``param``). Search, export and the
    map all take these parameters."""
    state = state_of(request)
    body = state.response_cache.get(("filters",))
    if body is None:
        body = json_bytes({"filters": filter_list(state)})
        state.response_cache.put(("filters",), body)
    return state.remember(request, body)


@router.get("/nodules/{dataset}/{name}", response_class=FastJSON,
            summary="One nodule: every index column")
async def nodule_detail(request: Request, dataset: str, name: str) -> Response:
    """All columns of one nodule plus its map position and k-NN map neighbours."""
    state = state_of(request)
    uid = f"{dataset}/{name}"
    body = state.response_cache.get(("detail", uid))
    if body is None:
        row = state.row_of(uid)
        detail = state.rows_json(np.array([row]), [str(c) for c in state.index.table.columns])[0]
        nmap = state.nodule_map
        detail["map"] = {"x": float(nmap.xy[row, 0]), "y": float(nmap.xy[row, 1]),
                         "neighbours": [nmap.uids[i] for i in nmap.neighbours[row]]}
        detail["pictures"] = pictures_of(state, state.index.table.iloc[row])
        body = json_bytes(detail)
        state.response_cache.put(("detail", uid), body)
    return state.remember(request, body)


Space = Literal["features", "image"]


@router.get("/nodules/{dataset}/{name}/similar", response_class=FastJSON,
            summary="Nearest nodules on the matcher's features or on image embeddings")
def similar_nodules(request: Request, dataset: str, name: str,
                    k: Annotated[int, Query(ge=1, le=100)] = 10,
                    space: Annotated[Space, Query(description=(
                        "features: the donor matcher's weighted placement distance; image: "
                        "cosine distance of CT-crop embeddings (`lesiontrials index embed`)"
                    ))] = "features") -> Response:
    """The ``k`` nearest other nodules, nearest first; every item has ``distance``
    (``features``: the matcher's ``match_distance``; ``image``: 1 − cosine similarity,
    with ``cosine_similarity``). ``image`` answers 409 until embeddings exist and 404 for a
    nodule without one (no CT pixels, e.g. donor-only LIDC rows)."""
    state = state_of(request)
    uid = f"{dataset}/{name}"
    row = state.row_of(uid)
    if space == "image":
        return FastJSON(_similar_by_image(state, uid, k=k))
    body = state.response_cache.get(("similar", uid, k))
    if body is None:
        from lesiontrials.index import PlacementTarget, match_donors

        index = state.index
        target = PlacementTarget.from_row(index.table.iloc[row])
        keep = index.all_rows.copy()
        keep[row] = False
        found = match_donors(index, target, k=k, candidates=keep)
        items = records(found[[*SUMMARY_COLUMNS, "match_distance"]])
        for item in items:
            item["distance"] = item["match_distance"]
        body = json_bytes(page(items, offset=0, limit=k, total=len(items))
                          | {"space": "features"})
        state.response_cache.put(("similar", uid, k), body)
    return state.remember(request, body)


def _similar_by_image(state: AppState, uid: str, *, k: int) -> dict[str, Any]:
    table = state.embeddings
    if uid not in table.row_of:
        raise ApiError(f"nodule {uid!r} has no image embedding: only nodules with CT pixels "
                       "are embedded (donor-only rows such as LIDC have none); if the index "
                       "changed, re-run `lesiontrials index embed`", status=404)
    found, similarity = table.neighbours(uid, k=k)  # clamped to the others
    neighbour_uids = [str(table.uids[i]) for i in found]
    known = [(u, s) for u, s in zip(neighbour_uids, similarity.tolist(), strict=True)
             if u in state.uid_rows]
    items = state.rows_json(np.array([state.uid_rows[u] for u, _ in known], dtype=int),
                            SUMMARY_COLUMNS)
    for item, (_, cosine) in zip(items, known, strict=True):
        item["cosine_similarity"] = round(float(cosine), 6)
        item["distance"] = round(1.0 - float(cosine), 6)
    meta = table.metadata
    return page(items, offset=0, limit=k, total=len(items)) | {
        "space": "image", "model": meta.get("model"), "model_version": meta.get("model_version"),
        "embedded": len(table.uids),
        "stale": meta.get("index_sha256") != state.index_sha256}


class TargetBody(BaseModel):
    """A target placement; unset fields are ignored by the matcher."""

    lobe: str | None = Field(None, max_length=40)
    side: Literal["left", "right"] | None = None
    zone: str | None = Field(None, max_length=40)
    diameter_mm: float | None = Field(None, gt=0, le=100)
    lobe_cc_pct: float | None = Field(None, ge=0, le=100)
    lobe_ml_pct: float | None = Field(None, ge=0, le=100)
    lobe_ap_pct: float | None = Field(None, ge=0, le=100)
    pleural_distance_mm: float | None = Field(None, ge=0, le=500)
    airway_distance_mm: float | None = Field(None, ge=0, le=500)
    dataset: list[str] | None = None
    hosts_only: bool = False
    k: int = Field(10, ge=1, le=200)


@router.post("/match", summary="Donor matching for a target placement")
def match(request: Request, body: TargetBody) -> dict[str, Any]:
    """The ``k`` donors nearest to the target, nearest first, with ``match_distance``."""
    from lesiontrials.index import PlacementTarget, match_donors

    state = state_of(request)
    fields = body.model_dump(exclude={"dataset", "hosts_only", "k"})
    query = state.index.query()
    if body.dataset:
        query = query.dataset(*body.dataset)
    if body.hosts_only:
        query = query.hosts_available()
    try:
        found = match_donors(state.index, PlacementTarget(**fields), k=body.k,
                             candidates=query.mask())
    except ValueError as error:
        raise ApiError(str(error)) from error
    items = records(found[[*SUMMARY_COLUMNS, "match_distance"]])
    return page(items, offset=0, limit=body.k, total=len(items))


def _on_disk(state: AppState, relative: str) -> bool:
    try:
        return bool(relative) and state.data_file(relative).is_file()
    except ApiError:
        return False


def pictures_of(state: AppState, row: pd.Series) -> dict[str, bool]:
    """Which pictures of a nodule can be drawn: ``labels`` (its scan's label map and its
    mask are on disk), ``ct`` (its scan's raw CT too, and real pixels allowed) and ``mask``
    (its mask alone: donor-only rows such as LIDC have nothing else)."""
    mask = _on_disk(state, str(row.get("mask_path") or ""))
    ct_path = str(row.get("ct_path") or "")
    return {"labels": mask and _on_disk(state, str(row.get("seg_path") or "")),
            "ct": mask and state.real_pixels and bool(ct_path)
            and _on_disk(state, f"raw_ct/{ct_path}"),
            "mask": mask}


@router.get("/labels", response_class=FastJSON, summary="Label map colours and names")
async def label_colours_legend(request: Request) -> Response:
    """Every label id → ``{"name", "colour"}``: the colours label-map pictures use (the
    ``X-Labels`` header of a label-map slice lists the ids it shows)."""
    from lesiontrials.apps.images import label_legend

    state = state_of(request)
    body = state.response_cache.get(("labels",))
    if body is None:
        body = json_bytes(label_legend())
        state.response_cache.put(("labels",), body)
    return state.remember(request, body)


@router.get("/nodules/{dataset}/{name}/slice.png", response_class=Response,
            summary="Axial slice through the nodule (label map, CT, or its mask alone)")
def nodule_slice(
    request: Request, dataset: str, name: str,
    display: Display,
    source: Literal["labels", "ct", "mask"] = "labels",
) -> Response:
    """``labels`` draws the host's label map (no patient pixels; the ``X-Labels`` header
    lists the label ids shown, see ``/api/labels``); ``ct`` the host's raw CT, refused
    under ``--no-real-pixels``; ``mask`` three orthogonal planes of the nodule's mask
    alone (for nodules without CT or label map, e.g. LIDC donors)."""
    from lesiontrials.apps.images import (
        centre_slice,
        labels_present,
        load_mask_crop,
        load_volume,
        mask_on_grid,
        mask_views_png,
        slice_png,
    )

    state = state_of(request)
    row = state.index.table.iloc[state.row_of(f"{dataset}/{name}")]
    if source == "mask":
        mask_relative = str(row["mask_path"] or "")
        if not _on_disk(state, mask_relative):
            raise ApiError("nodule has no mask on disk", status=404)
        own = _nodule_mask(load_volume(state.data_file(mask_relative),
                                       cache=state.decoded_cache), row)
        return Response(mask_views_png(own), media_type="image/png")
    if source == "ct":
        state.require_real_pixels()
        relative = f"raw_ct/{row['ct_path']}" if row["ct_path"] else ""
    else:
        relative = str(row["seg_path"] or "")
    if not relative or not row["mask_path"]:
        raise ApiError(f"nodule has no {source} volume or mask", status=404)
    path, mask_path = state.data_file(relative), state.data_file(str(row["mask_path"]))
    if not path.is_file() or not mask_path.is_file():
        raise ApiError(f"nodule has no {source} volume or mask on disk", status=404)
    host = load_volume(path, cache=state.decoded_cache)
    mask = mask_on_grid(_nodule_mask(load_mask_crop(mask_path, cache=state.decoded_cache), row),
                        affine=host.affine, shape=host.shape)
    z = centre_slice(mask)
    png = slice_png(host.array, z=z, window=display.window(source), mask=mask,
                    overlay=display.overlay, zoom=display.zoom)
    headers = ({"X-Labels": ",".join(map(str, labels_present(host.array[:, :, z])))}
               if source == "labels" else {})
    return Response(png, media_type="image/png", headers=headers)


def _nodule_mask(volume: Volume, row: pd.Series) -> Volume:
    """The row's own nodule (a per-scan mask file gives its component), else 404."""
    from lesiontrials.donors import nodule_volume, row_point_mm

    try:
        return nodule_volume(volume, scope=str(row.get("mask_scope") or "nodule"),
                             point_mm=row_point_mm(row))
    except InputError as exc:
        raise ApiError(f"the scan's mask has no component for this nodule: {exc.problem}",
                       status=404) from exc
