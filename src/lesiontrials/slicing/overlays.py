"""Guidance overlays drawn on an RGB rendering of a slice.

Conditions (``contract.CONDITIONS``): ``plain`` (nothing), ``bbox`` (a green box around the
nodule's in-plane mask extent grown by ``margin_px``), ``contour`` (a red outline
``contour_px`` wide on the mask boundary, by default just outside it so the nodule's own
pixels stay visible) and ``bbox_contour`` (both; the contour
is drawn last).

Negatives carry a *decoy* in every guided condition: the same kind of box or contour drawn
around a nodule-sized region of lung (:func:`decoy_region`) that holds no nodule. Without
it, "is there any green or red pixel?" would answer the presence question perfectly; with
it, an overlay says "look here", never "there is something here".

Pixel coordinates are display ``(row, col)``; a box is ``(row0, col0, row1, col1)`` with
inclusive outer edges. The overlay colours cannot occur in either profile's encoding of a
real HU value (pure green needs R = 0 and G = 255, i.e. HU ≤ −1024 and ≥ 215 at once), so
readers can find them unambiguously.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy import ndimage

from lesiontrials.slicing.windowing import to_rgb

GREEN: Final = (0, 255, 0)
RED: Final = (255, 0, 0)
PixelBox = tuple[int, int, int, int]  # (row0, col0, row1, col1), inclusive


@dataclass(frozen=True)
class OverlayStyle:
    """Overlay geometry in pixels: box margin around the mask, box line and contour width."""

    margin_px: int = 3
    box_line_px: int = 2
    contour_px: int = 2
    contour_inside_px: int = 0


def mask_box(mask: np.ndarray) -> PixelBox | None:
    """Inclusive ``(row0, col0, row1, col1)`` extent of a 2-D mask, ``None`` if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])


def overlay_box(mask: np.ndarray, *, margin_px: int, line_px: int = 1) -> PixelBox | None:
    """The drawn box's outer edges: the box line (``line_px`` wide) starts ``margin_px``
    outside the mask extent on every side and grows outward; clipped to the image."""
    box = mask_box(mask)
    if box is None:
        return None
    h, w = mask.shape
    r0, c0, r1, c1 = box
    grow = margin_px + max(line_px, 1) - 1
    return (max(r0 - grow, 0), max(c0 - grow, 0), min(r1 + grow, h - 1), min(c1 + grow, w - 1))


def box_pixels(shape: tuple[int, int], box: PixelBox, *, line_px: int) -> np.ndarray:
    """Boolean ``(H, W)`` mask of a rectangle outline ``line_px`` wide, drawn inward."""
    r0, c0, r1, c1 = box
    out = np.zeros(shape, dtype=bool)
    t = max(int(line_px), 1)
    out[r0:r1 + 1, c0:min(c0 + t, c1 + 1)] = True
    out[r0:r1 + 1, max(c1 - t + 1, c0):c1 + 1] = True
    out[r0:min(r0 + t, r1 + 1), c0:c1 + 1] = True
    out[max(r1 - t + 1, r0):r1 + 1, c0:c1 + 1] = True
    return out


def contour_pixels(mask: np.ndarray, *, width_px: int = 2, inside_px: int = 0) -> np.ndarray:
    """Outline ``width_px`` wide along the mask boundary, 8-connected: ``inside_px`` pixels
    inside the mask (erosion) and the rest just outside it (dilation). The default keeps
    the outline outside, so the nodule's own pixels stay visible even when it is tiny."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros_like(mask)
    structure = np.ones((3, 3), dtype=bool)
    outer, inner = max(width_px - inside_px, 0), max(inside_px, 0)
    grown = ndimage.binary_dilation(mask, structure, iterations=outer) if outer else mask
    if inner:
        padded = np.pad(mask, inner, constant_values=False)
        shrunk = ndimage.binary_erosion(padded, structure, iterations=inner)
        shrunk = shrunk[inner:-inner, inner:-inner]
    else:
        shrunk = mask
    return grown & ~shrunk


def draw_overlay(
    image: np.ndarray,
    mask: np.ndarray | None,
    *,
    condition: str,
    style: OverlayStyle = OverlayStyle(),
) -> tuple[np.ndarray, PixelBox | None]:
    """Return ``(image with overlay, drawn box or None)`` for one condition.

    ``image`` is grey ``(H, W)`` or RGB ``(H, W, 3)`` uint8; ``mask`` the region to mark in
    display orientation (the nodule's in-plane mask, or a negative's decoy region).
    ``plain`` and an empty or missing mask return the image unchanged (not converted to RGB).
    """
    if condition not in ("plain", "bbox", "contour", "bbox_contour"):
        raise ValueError(f"unknown condition {condition!r}")
    if condition == "plain" or mask is None or not np.any(mask):
        return image, None
    out = to_rgb(image)
    drawn_box = None
    if condition in ("bbox", "bbox_contour"):
        drawn_box = overlay_box(mask, margin_px=style.margin_px, line_px=style.box_line_px)
        if drawn_box is not None:
            out[box_pixels(mask.shape, drawn_box, line_px=style.box_line_px)] = GREEN
    if condition in ("contour", "bbox_contour"):
        out[contour_pixels(mask, width_px=style.contour_px,
                           inside_px=style.contour_inside_px)] = RED
    return out, drawn_box


def colour_mask(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Pixels of an RGB image that are exactly ``colour`` (``(H, W)`` bool)."""
    if image.ndim != 3:
        return np.zeros(image.shape[:2], dtype=bool)
    out = image[..., 0] == colour[0]  # channel by channel: ``np.all(axis=-1)`` is 5x slower
    for channel, value in enumerate(colour[1:], start=1):
        out &= image[..., channel] == value
    return out


def overlay_pixels(image: np.ndarray) -> np.ndarray:
    """Pixels painted by any overlay (green box or red contour)."""
    return colour_mask(image, GREEN) | colour_mask(image, RED)


def decoy_region(
    lung: np.ndarray,
    *,
    diameter_px: tuple[float, float],
    rng: np.random.Generator,
    avoid: np.ndarray | None = None,
    min_distance_px: float = 0.0,
) -> np.ndarray | None:
    """A nodule-like region of lung to mark on a negative slice, or ``None`` if none fits.

    ``lung`` is the slice's ``(H, W)`` lung mask in display orientation; ``diameter_px``
    the decoy's diameter in pixels along rows and columns (a diameter in mm divided by the
    row and column pixel spacing). The region is an ellipse (axis ratio 0.75–1, random
    orientation) with a gently lobulated edge, so its outline looks like a nodule's rather
    than a perfect circle. It lies wholly inside the lung, at least ``min_distance_px`` from
    every ``True`` pixel of ``avoid`` (e.g. nodule pixels), centred at a uniformly drawn
    admissible pixel. All randomness comes from ``rng`` (seed it from the slice uid).
    """
    allowed = np.asarray(lung, dtype=bool).copy()
    if avoid is not None and np.any(avoid):
        allowed &= ndimage.distance_transform_edt(~np.asarray(avoid, dtype=bool)) >= min_distance_px
    shape = _decoy_shape(diameter_px, rng)
    half = (shape.shape[0] // 2, shape.shape[1] // 2)
    # centres where the whole shape stays on allowed pixels: erode by the shape itself
    padded = np.pad(allowed, ((half[0], half[0]), (half[1], half[1])), constant_values=False)
    inside = ndimage.binary_erosion(padded, structure=shape)[half[0]:half[0] + allowed.shape[0],
                                                             half[1]:half[1] + allowed.shape[1]]
    centres = np.argwhere(inside)
    if centres.size == 0:
        return None
    row, col = centres[int(rng.integers(len(centres)))]
    out = np.zeros(allowed.shape, dtype=bool)
    out[row - half[0]:row - half[0] + shape.shape[0],
        col - half[1]:col - half[1] + shape.shape[1]] = shape
    return out


def _decoy_shape(diameter_px: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """A centred, odd-sized boolean stamp of the decoy outline (see :func:`decoy_region`)."""
    ratio = rng.uniform(0.75, 1.0)
    angle = rng.uniform(0.0, np.pi)
    harmonics = rng.uniform(-0.06, 0.06, size=3)
    phases = rng.uniform(0.0, 2 * np.pi, size=3)
    semi = np.array([diameter_px[0], diameter_px[1]], dtype=float) / 2.0
    size = max(int(np.ceil(semi.max() * 1.35)), 1)
    rows, cols = np.mgrid[-size:size + 1, -size:size + 1].astype(float)
    rows, cols = rows / max(semi[0], 0.5), cols / max(semi[1], 0.5)  # unit circle = diameter
    # area-preserving ellipse: semi-axes 1/sqrt(ratio) and sqrt(ratio) of the radius
    u = (rows * np.cos(angle) + cols * np.sin(angle)) * np.sqrt(ratio)
    v = (-rows * np.sin(angle) + cols * np.cos(angle)) / np.sqrt(ratio)
    theta = np.arctan2(v, u)
    edge = 1.0 + sum(a * np.cos((k + 2) * theta + p)
                     for k, (a, p) in enumerate(zip(harmonics, phases, strict=True)))
    stamp: np.ndarray = np.hypot(u, v) <= edge
    stamp[size, size] = True  # a decoy is never empty, however small
    return stamp
