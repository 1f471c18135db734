"""Nodule endpoints: search with facets, detail, similar nodules, donor matching, the map,
and a rendered slice through each nodule."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from lesiontrials.apps.state import ApiError, AppState, page, records

router = APIRouter(prefix="/api", tags=["nodules"])

SUMMARY_COLUMNS = [
    "nodule_uid", "dataset", "patient_id", "ct_id", "label", "lobe_name", "lung_side",
    "lung_zone", "central_peripheral", "nodule_mean_diam_mm", "size_bin",
    "pleural_distance_mm", "airway_distance_mm", "n_nodules_in_patient", "host_available",
    "mask_available", "malignancy", "texture",
]
FACETS = {"dataset": "dataset", "label": "label", "lobe": "lobe_name", "zone": "lung_zone",
          "side": "lung_side", "size_bin": "size_bin"}
MAP_COLOURS = ("dataset", "label", "lobe_name", "lung_zone", "size_bin",
               "nodule_mean_diam_mm", "malignancy", "texture", "spiculation")

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, description="rows to skip")]
Many = Annotated[list[str] | None, Query()]
Mm = Annotated[float | None, Query(ge=0, le=1000)]
# slice endpoints: guidance overlay, window centre/width (HU) and zoom
Overlay = Literal["plain", "bbox", "contour", "bbox_contour"]
WindowCentre = Annotated[float, Query(ge=-2000, le=4000)]
WindowWidth = Annotated[float, Query(gt=0, le=6000)]
Zoom = Annotated[int, Query(ge=1, le=4)]


def state_of(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request``."""
    state: AppState = request.app.state.lesiontrials
    return state


def _labels(values: list[str]) -> list[int | None]:
    parsed: list[int | None] = []
    for value in values:
        if value not in ("0", "1", "none"):
            raise ApiError(f"label must be 0, 1 or none, got {value!r}")
        parsed.append(None if value == "none" else int(value))
    return parsed


def _facet_codes(state: AppState) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per facet: category names and each row's integer code (missing → ``none``),
    computed once per index."""
    cached: dict[str, tuple[np.ndarray, np.ndarray]] | None = getattr(state, "facet_codes", None)
    if cached is None:
        cached = {}
        for name, column in FACETS.items():
            series = state.index.table[column]
            text = series.astype(object).where(series.notna(), "none").map(str).to_numpy()
            names, codes = np.unique(text, return_inverse=True)
            cached[name] = (names, codes)
        state.facet_codes = cached
    return cached


def _facets(state: AppState, rows: np.ndarray) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, (names, codes) in _facet_codes(state).items():
        counts = np.bincount(codes[rows], minlength=len(names))
        out[name] = {str(names[i]): int(counts[i]) for i in np.flatnonzero(counts)}
    return out


Score = Annotated[float | None, Query(ge=0, le=6)]


def selected_rows(
    request: Request,
    dataset: Many = None, label: Many = None, lobe: Many = None, zone: Many = None,
    side: Annotated[str | None, Query(max_length=16)] = None,
    diameter_min: Mm = None, diameter_max: Mm = None,
    pleural_min: Mm = None, pleural_max: Mm = None,
    airway_min: Mm = None, airway_max: Mm = None,
    multiplicity_min: Annotated[int | None, Query(ge=0, le=1000)] = None,
    multiplicity_max: Annotated[int | None, Query(ge=0, le=1000)] = None,
    malignancy_min: Score = None, malignancy_max: Score = None,
    texture_min: Score = None, texture_max: Score = None,
    hosts_only: bool = False,
) -> np.ndarray:
    """Row numbers of the nodules matching every given filter (a shared dependency)."""
    query = state_of(request).index.query()
    try:
        if dataset:
            query = query.dataset(*dataset)
        if label:
            query = query.label(*_labels(label))
        if lobe:
            query = query.lobe(*lobe)
        if zone:
            query = query.zone(*zone)
        if side:
            query = query.side(side)
    except (ValueError, KeyError) as error:
        raise ApiError(str(error)) from error
    ranges = {"nodule_mean_diam_mm": (diameter_min, diameter_max),
              "pleural_distance_mm": (pleural_min, pleural_max),
              "airway_distance_mm": (airway_min, airway_max),
              "n_nodules_in_patient": (multiplicity_min, multiplicity_max),
              "malignancy": (malignancy_min, malignancy_max),
              "texture": (texture_min, texture_max)}
    for column, (low, high) in ranges.items():
        if low is not None or high is not None:  # an unset range keeps missing values
            query = query.between(column, low, high)
    if hosts_only:
        query = query.hosts_available()
    return np.flatnonzero(query.mask())


Selection = Annotated[np.ndarray, Depends(selected_rows)]


@router.get("/nodules", summary="Search nodules (facets, ranges, pagination)")
def search_nodules(request: Request, rows: Selection, offset: Offset = 0,
                   limit: Limit = 50) -> dict[str, Any]:
    """Filter the nodule index (LIDC characteristics 1–5 as ranges); facets count the
    filtered set by category."""
    state = state_of(request)
    shown = state.rows_json(rows[offset:offset + limit], SUMMARY_COLUMNS)
    result = page(shown, offset=offset, limit=limit, total=len(rows))
    result["facets"] = _facets(state, rows)
    return result


@router.get("/nodules/export.csv", response_class=Response,
            summary="Export the selection (same filters as search) as a CSV")
def export_selection(request: Request, rows: Selection) -> Response:
    """One row per selected nodule: uid, dataset, ct and placement columns — a donor list
    for a ``targeted`` spec or a manifest."""
    table = state_of(request).index.table.iloc[rows][SUMMARY_COLUMNS]
    return Response(table.to_csv(index=False), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="nodules.csv"'})


@router.get("/nodules/map", summary="2-D PCA map of the index with its k-NN graph")
def nodule_map(
    request: Request,
    colour: Annotated[str, Query(description="column to colour by")] = "dataset",
    edges: bool = False,
) -> dict[str, Any]:
    """Coordinates for every nodule (cached once per index), a colour value per point and,
    with ``edges``, the k-NN graph as row-number pairs."""
    if colour not in MAP_COLOURS:
        raise ApiError(f"colour must be one of {', '.join(MAP_COLOURS)}")
    state = state_of(request)
    nmap = state.nodule_map
    values = state.index.table[colour].astype(object)
    body: dict[str, Any] = {
        "method": "pca", "explained_variance": nmap.explained_variance,
        "umap": "not available (umap-learn is not installed)", "colour": colour,
        "uids": nmap.uids, "x": np.round(nmap.xy[:, 0], 4).tolist(),
        "y": np.round(nmap.xy[:, 1], 4).tolist(),
        "values": [r["v"] for r in records(pd.DataFrame({"v": values}))],
    }
    if edges:
        k = nmap.neighbours.shape[1]
        rows = np.repeat(np.arange(len(nmap.uids)), k)
        body["edges"] = np.c_[rows, nmap.neighbours.ravel()].tolist()
    return body


@router.get("/nodules/{dataset}/{name}", summary="One nodule: every index column")
def nodule_detail(request: Request, dataset: str, name: str) -> dict[str, Any]:
    """All columns of one nodule plus its map neighbours."""
    state = state_of(request)
    row = state.row_of(f"{dataset}/{name}")
    detail = state.rows_json(np.array([row]), [str(c) for c in state.index.table.columns])[0]
    nmap = state.nodule_map
    detail["map"] = {"x": float(nmap.xy[row, 0]), "y": float(nmap.xy[row, 1]),
                     "neighbours": [nmap.uids[i] for i in nmap.neighbours[row]]}
    return detail


@router.get("/nodules/{dataset}/{name}/similar",
            summary="Nearest nodules on the reinsertion features (donor matcher)")
def similar_nodules(request: Request, dataset: str, name: str,
                    k: Annotated[int, Query(ge=1, le=100)] = 10) -> dict[str, Any]:
    """k-NN by the donor matcher's weighted distance to this nodule's placement."""
    from lesiontrials.index import PlacementTarget, match_donors

    state = state_of(request)
    row = state.row_of(f"{dataset}/{name}")
    index = state.index
    target = PlacementTarget.from_row(index.table.iloc[row])
    keep = index.all_rows.copy()
    keep[row] = False
    found = match_donors(index, target, k=k, candidates=keep)
    items = records(found[[*SUMMARY_COLUMNS, "match_distance"]])
    return page(items, offset=0, limit=k, total=len(items))


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


@router.get("/nodules/{dataset}/{name}/slice.png", response_class=Response,
            summary="Axial slice through the nodule (label map, or CT when allowed)")
def nodule_slice(
    request: Request, dataset: str, name: str,
    source: Literal["labels", "ct"] = "labels",
    overlay: Overlay = "contour",
    center: WindowCentre = -600.0,
    width: WindowWidth = 1500.0,
    zoom: Zoom = 2,
) -> Response:
    """``labels`` draws the host's label map (no patient pixels); ``ct`` the host's raw
    CT, refused under ``--no-real-pixels``."""
    from lesiontrials.apps.images import centre_slice, load_volume, mask_on_grid, slice_png
    from lesiontrials.evaluate.windowing import Window

    state = state_of(request)
    row = state.index.table.iloc[state.row_of(f"{dataset}/{name}")]
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
    host = load_volume(path)
    mask = mask_on_grid(load_volume(mask_path), affine=host.affine, shape=host.shape)
    window = Window.centre_width(centre_hu=center, width_hu=width) if source == "ct" else None
    png = slice_png(host.array, z=centre_slice(mask), window=window, mask=mask,
                    overlay=overlay, zoom=zoom)
    return Response(png, media_type="image/png")
