"""Request parameters shared by the routers: pagination, slice display, the selection."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request

from lesiontrials.apps.selection import Selected, selected_rows
from lesiontrials.apps.state import AppState

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, description="rows to skip")]
# slice endpoints: guidance overlay, window centre/width (HU) and zoom
Overlay = Literal["plain", "bbox", "contour", "bbox_contour"]
WindowCentre = Annotated[float, Query(ge=-2000, le=4000)]
WindowWidth = Annotated[float, Query(gt=0, le=6000)]
Zoom = Annotated[int, Query(ge=1, le=4)]
#: the shared nodule selection (every filter of :mod:`~lesiontrials.apps.selection`)
Selection = Annotated[Selected, Depends(selected_rows)]


def state_of(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request``."""
    state: AppState = request.app.state.lesiontrials
    return state
