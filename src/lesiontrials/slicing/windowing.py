"""HU → 8-bit display encodings and the axial display orientation.

Profiles (``contract.PROFILES``):

* ``lung`` — lung window, centre −600 HU, width 1500 HU (−1350..150 HU) → grey 0..255.
* ``medgemma_rgb`` — three windows stacked as RGB: R = [−1024, 1024] HU,
  G = [−135, 215] HU, B = [0, 80] HU, each mapped linearly onto 0..255.

Every window maps ``low → 0`` and ``high → 255`` linearly, clips outside and rounds to the
nearest integer. Axial display (radiological convention): anterior at the top, the
patient's right on the image's left. RAS+ arrays are ``(x, y, z)`` with x growing toward
the patient's right and y toward anterior, so image rows are y reversed and image columns
are x reversed: ``image[r, c] = slice[X - 1 - c, Y - 1 - r]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np


@dataclass(frozen=True)
class Window:
    """A linear HU window: ``low_hu`` → 0, ``high_hu`` → 255."""

    low_hu: float
    high_hu: float

    @classmethod
    def centre_width(cls, *, centre_hu: float, width_hu: float) -> Window:
        return cls(centre_hu - width_hu / 2.0, centre_hu + width_hu / 2.0)


LUNG_WINDOW: Final = Window.centre_width(centre_hu=-600.0, width_hu=1500.0)
MEDGEMMA_WINDOWS: Final[tuple[Window, Window, Window]] = (
    Window(-1024.0, 1024.0), Window(-135.0, 215.0), Window(0.0, 80.0),
)


def apply_window(hu: np.ndarray, window: Window) -> np.ndarray:
    """Map HU values through ``window`` onto uint8 0..255 (clipped, rounded)."""
    scaled = (np.asarray(hu, dtype=np.float32) - window.low_hu) * np.float32(
        255.0 / (window.high_hu - window.low_hu))
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


def lung_grey(hu: np.ndarray) -> np.ndarray:
    """Lung-window grey image ``(H, W)`` uint8."""
    return apply_window(hu, LUNG_WINDOW)


def medgemma_rgb(hu: np.ndarray) -> np.ndarray:
    """MedGemma-style RGB image ``(H, W, 3)`` uint8 (wide, soft-tissue, narrow windows)."""
    return np.stack([apply_window(hu, w) for w in MEDGEMMA_WINDOWS], axis=-1)


def encode(hu: np.ndarray, *, profile: str) -> np.ndarray:
    """Encode a display-oriented HU slice for one profile (``lung`` | ``medgemma_rgb``)."""
    if profile == "lung":
        return lung_grey(hu)
    if profile == "medgemma_rgb":
        return medgemma_rgb(hu)
    raise ValueError(f"unknown profile {profile!r}; use 'lung' or 'medgemma_rgb'")


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Grey ``(H, W)`` → ``(H, W, 3)`` copy; RGB input is copied unchanged."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return image.copy()


def axial_display(plane_xy: np.ndarray) -> np.ndarray:
    """RAS+ axial plane ``(X, Y)`` → display ``(rows, cols)``: anterior up, patient right
    on the image's left (rows = y reversed, columns = x reversed)."""
    return np.asarray(plane_xy)[::-1, ::-1].T


def display_to_voxel(row: float, col: float, *, shape_xy: tuple[int, int]) -> tuple[float, float]:
    """Inverse of :func:`axial_display` for one pixel: ``(row, col)`` → ``(x, y)`` voxel."""
    return (shape_xy[0] - 1 - col, shape_xy[1] - 1 - row)
