"""Request parameters shared by the routers: pagination, slice display, the selection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import Depends, Query, Request

from lesiontrials.apps.selection import Selected, selected_rows
from lesiontrials.apps.state import AppState

if TYPE_CHECKING:
    from lesiontrials.slicing.windowing import Window

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="rows to skip")]
# slice endpoints: guidance overlay, window centre/width (HU) and zoom
Overlay = Literal["plain", "bbox", "contour", "bbox_contour"]
WindowCentre = Annotated[float, Query(ge=-2000, le=4000)]
WindowWidth = Annotated[float, Query(gt=0, le=6000)]
Zoom = Annotated[int, Query(ge=1, le=4)]


@dataclass(frozen=True)
class SliceDisplay:
    """How a slice PNG is drawn: guidance ``overlay``, CT window ``center``/``width`` (HU)
    and ``zoom`` (hashable: part of the image cache key)."""

    overlay: Overlay
    center: float
    width: float
    zoom: int

    def window(self, source: str) -> Window | None:
        """The CT window of ``source`` ``ct``; ``None`` (label colours) otherwise."""
        from lesiontrials.slicing.windowing import Window

        if source != "ct":
            return None
        return Window.centre_width(centre_hu=self.center, width_hu=self.width)


def slice_display(overlay: Overlay = "contour", center: WindowCentre = -600.0,
                  width: WindowWidth = 1500.0, zoom: Zoom = 2) -> SliceDisplay:
    """The slice endpoints' display query parameters."""
    return SliceDisplay(overlay, center, width, zoom)


#: the slice endpoints' display parameters (``overlay``, ``center``, ``width``, ``zoom``)
Display = Annotated[SliceDisplay, Depends(slice_display)]
#: the shared nodule selection (every filter of :mod:`~lesiontrials.apps.selection`)
Selection = Annotated[Selected, Depends(selected_rows)]


def state_of(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request``."""
    state: AppState = request.app.state.lesiontrials
    return state
