"""Overlay geometry: the box encloses the mask with its margin, the contour hugs the
boundary, negatives and plain images stay untouched, colours are unambiguous."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from lesiontrials.io import read_png
from lesiontrials.slicing.overlays import (
    GREEN,
    RED,
    OverlayStyle,
    box_pixels,
    colour_mask,
    contour_pixels,
    draw_overlay,
    mask_box,
    overlay_box,
)
from lesiontrials.slicing.slices import plane_mask
from lesiontrials.slicing.windowing import lung_grey, medgemma_rgb


def _disk(shape=(40, 50), centre=(18, 22), radius=6.0) -> np.ndarray:
    rows, cols = np.indices(shape)
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius ** 2


def test_box_encloses_the_mask_with_the_margin():
    mask = _disk()
    style = OverlayStyle()
    image, box = draw_overlay(np.full(mask.shape, 100, np.uint8), mask, condition="bbox",
                              style=style)
    r0, c0, r1, c1 = mask_box(mask)
    grow = style.margin_px + style.box_line_px - 1
    assert box == (r0 - grow, c0 - grow, r1 + grow, c1 + grow)
    green = colour_mask(image, GREEN)
    assert not (green & mask).any()
    inner = ndimage.binary_fill_holes(green) & ~green  # what the box encloses
    assert (mask <= inner).all()
    rows, cols = np.nonzero(inner)  # interior = mask extent grown by the margin minus 1
    assert (rows.min(), cols.min()) == (r0 - style.margin_px + 1, c0 - style.margin_px + 1)
    assert (rows.max(), cols.max()) == (r1 + style.margin_px - 1, c1 + style.margin_px - 1)


def test_contour_lies_on_the_boundary():
    mask = _disk()
    ring = contour_pixels(mask, width_px=2)
    assert not (ring & mask).any()  # drawn outside: the nodule's pixels stay visible
    distance = ndimage.distance_transform_cdt(~mask, metric="chessboard")
    assert distance[ring].max() <= 2 and distance[ring].min() == 1
    boundary = mask & ~ndimage.binary_erosion(mask)
    touches = ndimage.binary_dilation(ring, structure=np.ones((3, 3), bool))
    assert (boundary <= touches).all()  # every boundary pixel has the outline next to it
    straddling = contour_pixels(mask, width_px=2, inside_px=1)
    assert (straddling & mask).any() and (straddling & ~mask).any()


def test_plain_and_negatives_are_untouched():
    image = np.full((20, 20), 7, np.uint8)
    for condition in ("plain", "bbox", "contour", "bbox_contour"):
        out, box = draw_overlay(image, None, condition=condition)
        assert out is image and box is None
    out, box = draw_overlay(image, _disk((20, 20), (10, 10), 3), condition="plain")
    assert out is image and box is None


def test_bbox_contour_draws_both_and_box_pixels_clip():
    mask = _disk()
    out, box = draw_overlay(lung_grey(np.zeros(mask.shape)), mask, condition="bbox_contour")
    assert colour_mask(out, GREEN).any() and colour_mask(out, RED).any() and box is not None
    edge = overlay_box(_disk((20, 20), (1, 1), 3), margin_px=3, line_px=2)
    assert edge is not None and edge[:2] == (0, 0)
    assert box_pixels((20, 20), edge, line_px=2).any()


def test_overlay_colours_never_come_from_hu():
    hu = np.arange(-1100, 3100, dtype=float)
    grey = np.repeat(lung_grey(hu)[:, None], 3, axis=1)
    for encoded in (grey, medgemma_rgb(hu)):
        assert not colour_mask(encoded[None], GREEN).any()
        assert not colour_mask(encoded[None], RED).any()


def test_built_overlays_match_the_realised_masks(built_trial):
    ws = built_trial.workspace
    items = pd.read_parquet(ws.eval_dir("t1", "lung") / "cases.parquet")
    positives = items[(items.kind == "positive")]
    assert len(positives) == 3 * 4
    for row in positives.itertuples():
        nodule = built_trial.masks[row.case_uid][row.nodule_index]
        plane = plane_mask(nodule, shape=(64, 56, 24), z=row.z_index)
        assert plane.any()
        image = read_png(ws.eval_dir("t1", "lung") / row.image_path)
        if row.condition == "plain":
            assert image.ndim == 2
            continue
        green, red = colour_mask(image, GREEN), colour_mask(image, RED)
        assert not ((green | red) & plane).any()  # overlays never cover the nodule
        if "bbox" in row.condition:
            rows, cols = np.nonzero(green)
            assert (rows.min(), cols.min(), rows.max(), cols.max()) == (
                row.bbox_y0, row.bbox_x0, row.bbox_y1, row.bbox_x1)
            r0, c0, r1, c1 = mask_box(plane)
            assert row.bbox_y0 < r0 and row.bbox_x0 < c0 and row.bbox_y1 > r1 and (
                row.bbox_x1 > c1)
        else:
            assert row.bbox_x0 == -1
        if "contour" in row.condition:
            assert (plane & ~ndimage.binary_erosion(plane) <= ndimage.binary_dilation(
                red, structure=np.ones((3, 3), bool))).all()
