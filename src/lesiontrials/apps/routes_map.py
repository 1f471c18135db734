"""The nodule map: 2-D PCA or UMAP coordinates of the index (cached once per index hash),
a colour per point, the k-NN graph, and which points the selection filters keep."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request, Response

from lesiontrials.anatomy import LIDC_CHARACTERISTICS
from lesiontrials.apps.params import Selection, state_of
from lesiontrials.apps.selection import finite_bounds, selection_openapi
from lesiontrials.apps.state import ApiError, AppState, FastJSON, json_bytes

router = APIRouter(prefix="/api", tags=["nodule map"])


@dataclass(frozen=True)
class Colour:
    """A way to colour the map: an index column, ``category`` or ``numeric``."""

    name: str
    column: str
    kind: Literal["category", "numeric"]
    label: str


COLOURS: dict[str, Colour] = {c.name: c for c in (
    Colour("dataset", "dataset", "category", "dataset"),
    Colour("size", "nodule_mean_diam_mm", "numeric", "mean diameter (mm)"),
    Colour("size_bin", "size_bin", "category", "size bin (mm)"),
    Colour("lobe", "lobe_name", "category", "lobe"),
    Colour("zone", "lung_zone", "category", "lung zone"),
    Colour("label", "label", "category", "label (1 malignant, 0 benign)"),
    *(Colour(name, name, "numeric", f"LIDC {name.replace('_', ' ')} score")
      for name in LIDC_CHARACTERISTICS),
)}
#: earlier colour names (index columns) still accepted
COLOUR_ALIASES = {"lobe_name": "lobe", "lung_zone": "zone", "nodule_mean_diam_mm": "size"}


def _colour(name: str) -> Colour:
    colour = COLOURS.get(COLOUR_ALIASES.get(name, name))
    if colour is None:
        raise ApiError(f"colour must be one of {', '.join(COLOURS)}")
    return colour


def _colour_fields(state: AppState, colour: Colour) -> dict[str, Any]:
    values = state.column_values(colour.column)
    fields: dict[str, Any] = {"colour": colour.name, "colour_column": colour.column,
                              "colour_kind": colour.kind, "values": values.tolist()}
    if colour.kind == "category":
        fields["categories"] = sorted({str(v) for v in values if v is not None and v != ""})
    else:
        fields["range"] = finite_bounds(state.index.array(colour.column).astype(float))
    return fields


def _map_body(state: AppState, *, method: str, colour: Colour, edges: bool,
              rows: np.ndarray, filters: dict[str, Any]) -> dict[str, Any]:
    xy = state.layout(method)
    nmap = state.nodule_map
    k = int(nmap.neighbours.shape[1])
    selected = np.zeros(len(nmap.uids), dtype=bool)
    selected[rows] = True
    body: dict[str, Any] = {
        "method": method, "n": len(nmap.uids), "uids": nmap.uids,
        "x": np.round(xy[:, 0], 4), "y": np.round(xy[:, 1], 4),
        **_colour_fields(state, colour),
        "selected": selected, "n_selected": int(selected.sum()), "filters": filters,
        "k": k,
    }
    if method == "pca":
        body["explained_variance"] = nmap.explained_variance
    else:
        from lesiontrials.apps.nodule_map import UMAP_PARAMS

        body["params"] = UMAP_PARAMS
    if edges:
        starts = np.repeat(np.arange(len(nmap.uids)), k)
        body["edges"] = np.c_[starts, nmap.neighbours.ravel()]
    return body


@router.get("/nodules/map", response_class=FastJSON,
            openapi_extra=selection_openapi(),
            summary="2-D map (PCA or UMAP) of the index with its k-NN graph")
def nodule_map(
    request: Request,
    selected: Selection,
    method: Annotated[Literal["pca", "umap"], Query(description=(
        "pca: first two principal components; umap: UMAP as stored at index time "
        "(`lesiontrials index map`; 409 without one)"))] = "pca",
    colour: Annotated[str, Query(max_length=40, description=(
        "what to colour by (see /api/nodules/map/colours)"))] = "dataset",
    edges: bool = False,
) -> Response:
    """Coordinates of every nodule (index order), its colour value, ``selected`` (one
    boolean per point: kept by the filters given, all true without filters) and, with
    ``edges``, the k-NN graph (standardised features) as ``[row, neighbour row]`` pairs."""
    state = state_of(request)
    chosen = _colour(colour)
    key = (method, chosen.name, edges, selected.key)
    body = state.map_cache.get(key)
    if body is None:
        body = json_bytes(_map_body(state, method=method, colour=chosen, edges=edges,
                                    rows=selected.rows, filters=selected.filters))
        state.map_cache.put(key, body)
    return state.remember(request, body)


@router.get("/nodules/map/colours", response_class=FastJSON,
            summary="What the map can be coloured by, and the layout methods")
def map_colours(request: Request) -> Response:
    """``colours``: name, index column, kind (``category``/``numeric``) and label of each;
    ``methods``: ``pca`` and ``umap`` with whether each can be shown here (``umap``: a
    layout stored for this index at index time; ``hint`` says how to get one)."""
    from lesiontrials.apps.nodule_map import UmapNotComputedError, stored_umap, umap_cache_path

    state = state_of(request)
    try:
        stored_umap(state.workspace)
        has_umap, hint = True, None
    except UmapNotComputedError as error:
        has_umap, hint = False, str(error)
        if importlib.util.find_spec("umap") is None:
            hint += " (needs umap-learn: pip install 'lesiontrials[web]')"
    return FastJSON({
        "default": "dataset",
        "colours": [{"name": c.name, "column": c.column, "kind": c.kind, "label": c.label}
                    for c in COLOURS.values()],
        "methods": [{"name": "pca", "available": True},
                    {"name": "umap", "available": has_umap,
                     "cached": umap_cache_path(state.workspace).is_file(),
                     "hint": hint}],
    })
