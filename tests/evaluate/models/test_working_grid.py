"""The classical baselines analyse each image on a declared working grid (block-mean HU to
pixels of at least ``working_spacing_mm``): on a generated chest slice a small nodule gets
the same answer there as at the image's own 0.75-mm pixels, for every task; a 3-mm image is
analysed as it is; and the shortcuts the fast path takes give the same pixels as the
library calls they replace."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import ndimage

from lesiontrials.anatomy import Lobe, task_size_bin
from lesiontrials.scoring.models import baselines
from lesiontrials.scoring.models.baselines import (
    BlobDetector,
    DetectorParams,
    ThresholdDetector,
)
from lesiontrials.scoring.models.imaging import (
    block_any,
    block_mean,
    fill_holes,
    hu_estimate,
    working_factor,
)
from lesiontrials.scoring.models.native import cross_erosion, upsample_mask
from lesiontrials.scoring.models.overlay_reader import OverlayReader, overlay_region
from lesiontrials.scoring.models.scale_space import _blocks_at, _max3, _median, cross_dilation
from lesiontrials.slicing.contract import Item
from lesiontrials.slicing.overlays import draw_overlay
from lesiontrials.slicing.tasks import task_prompt
from lesiontrials.slicing.windowing import lung_grey as lung_window

FOV_MM = 192.0
#: nodule centre (row, col) in mm from the top left: anterior right lung (image left)
NODULE_MM = (70.0, 58.0)


def _scene_hu(spacing_mm: float, *, nodule_mm: float, seed: int) -> np.ndarray:
    """A chest slice in HU, ``FOV_MM`` wide at ``spacing_mm`` (area-averaged over 4×4
    sub-pixels, so each pixel records its partial volume): soft-tissue body, two lungs at
    −850 HU, a solid nodule (0 HU) of diameter ``nodule_mm`` (none if 0), 15 HU noise."""
    n = round(FOV_MM / spacing_mm)
    sub = (np.arange(n * 4) + 0.5) * spacing_mm / 4.0
    y, x = sub[:, None], sub[None, :]
    body = ((y - 96) / 70) ** 2 + ((x - 96) / 88) ** 2 <= 1
    lungs = (((y - 92) / 50) ** 2 + ((x - 58) / 30) ** 2 <= 1) | (
        ((y - 92) / 50) ** 2 + ((x - 134) / 30) ** 2 <= 1)
    hu = np.where(body, 40.0, -1000.0)
    hu = np.where(lungs, -850.0, hu)
    if nodule_mm > 0:
        nodule = (y - NODULE_MM[0]) ** 2 + (x - NODULE_MM[1]) ** 2 <= (nodule_mm / 2) ** 2
        hu = np.where(nodule, 0.0, hu)
    hu = hu.reshape(n, 4, n, 4).mean(axis=(1, 3))
    return hu + np.random.default_rng(seed).normal(0.0, 15.0, hu.shape)


def _item(task: str, spacing_mm: float, nodule_mm: float, *, condition: str = "plain"
          ) -> Item:
    image = lung_window(_scene_hu(spacing_mm, nodule_mm=nodule_mm, seed=1))
    if condition != "plain":
        centres = (np.arange(image.shape[0]) + 0.5) * spacing_mm
        mask = np.hypot(centres[:, None] - NODULE_MM[0],
                        centres[None, :] - NODULE_MM[1]) <= nodule_mm / 2
        image, _ = draw_overlay(image, mask, condition=condition)
    context = tuple(lung_window(_scene_hu(spacing_mm, nodule_mm=0.5 * nodule_mm, seed=s))
                    for s in (2, 3))
    prompt = task_prompt(task)
    return Item(slice_uid="s", task=task, condition=condition, profile="lung",
                question=prompt.question, options=prompt.options, image=image,
                context=context, pixel_spacing_mm=spacing_mm)


FULL = DetectorParams(working_spacing_mm=0.0)  # every image at its own pixels


@pytest.mark.parametrize("model_class", [ThresholdDetector, BlobDetector])
@pytest.mark.parametrize("nodule_mm", [4.0, 8.0])
def test_a_small_nodule_gets_the_same_answers_on_the_working_grid(model_class, nodule_mm):
    """4 mm is below both detectors' presence call (their size factor is centred on
    4.5 mm) at any grid; its place and size are still read alike, and an 8-mm nodule is
    answered right for every task on both grids."""
    truth = {"presence": "present" if nodule_mm > 5 else "absent", "lobe": Lobe.RUL.value,
             "size": task_size_bin(nodule_mm)}
    for task, expected in truth.items():
        item = _item(task, 0.75, nodule_mm)
        working, full = model_class().answer_one(item), model_class(FULL).answer_one(item)
        assert model_class().analyse(item).factor == 2  # 0.75 mm -> 1.5 mm
        assert working.option == full.option == expected, (task, working.raw_text,
                                                           full.raw_text)
    absent = _item("presence", 0.75, 0.0)
    assert model_class().answer_one(absent).option == "absent"
    assert model_class(FULL).answer_one(absent).option == "absent"


@pytest.mark.parametrize("model_class", [ThresholdDetector, BlobDetector])
@pytest.mark.parametrize("nodule_mm", [3.5, 4.0, 6.0])
def test_a_small_nodule_is_measured_as_at_full_resolution(model_class, nodule_mm):
    """Block means of a 4-mm nodule at 1.5 mm keep only a pixel or two above -300 HU
    (under the 3-mm minimum there), yet the candidate found on the working grid is
    measured on the image's 0.75-mm pixels: the same diameter, density and score as the
    analysis at full resolution (the threshold detector's score too; the blob's score
    keeps the working grid's LoG response), where the working grid alone would see no
    candidate."""
    item = _item("size", 0.75, nodule_mm)
    working = model_class().analyse(item).candidates
    full = model_class(FULL).analyse(item).candidates
    assert working and full
    near = [c for c in working if np.hypot(c.row * 0.75 - NODULE_MM[0],
                                           c.col * 0.75 - NODULE_MM[1]) < 2.0]
    assert near, working[:3]
    best, reference = near[0], full[0]
    assert abs(best.diameter_mm - reference.diameter_mm) < 0.05 * nodule_mm
    assert abs(best.diameter_mm - nodule_mm) < 0.25 * nodule_mm
    assert abs(best.mean_hu - reference.mean_hu) < 40.0
    if model_class is ThresholdDetector:  # (the LoG response is the working grid's)
        assert abs(best.score - reference.score) < 0.1 * max(reference.score, 0.05)
        hu = block_mean(hu_estimate(item.image, profile="lung"), 2)
        centre = (round(NODULE_MM[0] / 1.5 - 0.5), round(NODULE_MM[1] / 1.5 - 0.5))
        dense = hu[centre[0] - 3:centre[0] + 4, centre[1] - 3:centre[1] + 4] > -300.0
        if nodule_mm == 4.0:  # on the working grid alone it would be under 3 mm
            assert 2.0 * math.sqrt(dense.sum() / math.pi) * 1.5 < 3.0


@pytest.mark.parametrize("model_class", [ThresholdDetector, BlobDetector])
def test_the_answer_text_names_the_position_in_the_images_own_pixels(model_class):
    item = _item("size", 0.75, 8.0)
    row, col = (round(c / 0.75) for c in NODULE_MM)
    text = model_class().answer_one(item).raw_text
    found = [float(t.rstrip(",")) for t in text.split() if t.rstrip(",").replace(".", "").isdigit()]
    assert abs(found[0] - row) <= 2 and abs(found[1] - col) <= 2, text


def test_three_mm_pixels_are_analysed_as_they_are():
    item = _item("presence", 3.0, 8.0)
    model = ThresholdDetector()
    analysis = model.analyse(item)
    assert analysis.factor == 1
    assert np.array_equal(analysis.hu, hu_estimate(item.image, profile="lung"))
    assert model.answer_one(item) == ThresholdDetector(FULL).answer_one(item)


@pytest.mark.parametrize("condition", ["bbox", "contour", "bbox_contour"])
def test_the_overlay_reader_answers_alike_on_both_grids(condition):
    for task in ("presence", "lobe", "size"):
        item = _item(task, 0.75, 8.0, condition=condition)
        working, full = OverlayReader().answer_one(item), OverlayReader(FULL).answer_one(item)
        assert working.option == full.option, (task, working.raw_text, full.raw_text)
        assert working.option == {"presence": "present", "lobe": Lobe.RUL.value,
                                  "size": "5-10"}[task], working.raw_text


def test_working_factor_reaches_at_least_the_working_spacing():
    assert working_factor(0.75, 1.5) == 2
    assert working_factor(0.57, 1.5) == 2  # 1.14 mm: never coarser than declared
    assert working_factor(0.5, 1.5) == 3
    assert working_factor(1.5, 1.5) == 1
    assert working_factor(3.0, 1.5) == 1
    assert working_factor(0.7, 0.0) == 1
    with pytest.raises(ValueError, match="spacing"):
        working_factor(float("nan"), 1.5)


def test_block_mean_and_block_any_match_the_reshaped_definitions():
    rng = np.random.default_rng(0)
    for shape in [(7, 9), (8, 8), (1, 5)]:
        image = rng.normal(size=shape).astype(np.float32)
        mask = image > 1.0
        for factor in (1, 2, 3):
            pad = ((0, -shape[0] % factor), (0, -shape[1] % factor))
            grown = np.pad(image, pad, mode="edge")
            blocks = grown.reshape(grown.shape[0] // factor, factor, -1, factor)
            assert np.allclose(block_mean(image, factor), blocks.mean(axis=(1, 3)), atol=1e-6)
            padded = np.pad(mask, pad).reshape(blocks.shape)
            assert np.array_equal(block_any(mask, factor), padded.any(axis=(1, 3)))


def test_fast_morphology_gives_the_library_pixels():
    rng = np.random.default_rng(1)
    for _ in range(50):
        mask = ndimage.binary_dilation(rng.random((31, 23)) > 0.93, iterations=2)
        assert np.array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
        cross = ndimage.generate_binary_structure(2, 1)
        assert np.array_equal(cross_dilation(mask), ndimage.binary_dilation(mask, cross))
    cube = rng.normal(size=(4, 17, 13)).astype(np.float32)
    assert np.array_equal(_max3(cube), ndimage.maximum_filter(cube, size=3, mode="nearest"))
    for n in (1, 2, 7, 10):
        values = rng.normal(size=n).astype(np.float32)
        assert _median(values) == float(np.median(values))


def test_overlay_region_in_its_box_equals_the_whole_image():
    item = _item("size", 0.75, 8.0, condition="bbox_contour")
    hu = hu_estimate(item.image, profile="lung")
    region, source = overlay_region(item.image, hu)
    red = np.all(item.image == (255, 0, 0), axis=-1)
    filled = ndimage.binary_fill_holes(red)
    assert source == "contour" and np.array_equal(region, filled & ~red)
    box_only = _item("size", 0.75, 8.0, condition="bbox")
    region, source = overlay_region(box_only.image, hu_estimate(box_only.image,
                                                                profile="lung"))
    assert source == "box" and 0.5 < math.sqrt(region.sum() / math.pi) * 2 * 0.75 / 8.0 < 1.5


def test_a_writeable_image_changed_in_place_is_analysed_again():
    """The analysis cache keys images by their pixels: an array the caller may still write
    is hashed on every call (only read-only arrays have their digest remembered)."""
    item = _item("presence", 0.75, 8.0)
    image = np.array(item.image)
    model = ThresholdDetector()
    changed = dataclasses.replace(item, image=image)
    assert model.answer_one(changed).option == "present"
    image[...] = lung_window(_scene_hu(0.75, nodule_mm=0.0, seed=1))  # same object
    assert model.answer_one(changed).option == "absent"
    frozen = np.array(item.image)
    frozen.flags.writeable = False
    first = baselines._digest(frozen)
    assert baselines._DIGESTS[id(frozen)][1] == first == baselines._digest(frozen)
    assert id(image) not in baselines._DIGESTS


def test_inpainting_grows_its_window_until_every_nearest_pixel_is_inside(monkeypatch):
    rng = np.random.default_rng(4)
    image = np.repeat(rng.integers(0, 256, (80, 80), dtype=np.uint8)[..., None], 3, axis=2)
    image[20:50, 30:60] = (0, 255, 0)  # a solid 30-px block: its centre is 15 px from any
    near = hu_estimate(image, profile="lung")  # unpainted pixel, beyond the first margin
    monkeypatch.setattr("lesiontrials.scoring.models.imaging._INPAINT_MARGIN", 10_000)
    assert np.array_equal(near, hu_estimate(image, profile="lung"))


def test_png_cache_arrays_are_immutable_to_their_buffer_so_their_digest_is_kept(tmp_path):
    from lesiontrials.io import PngCache, write_png

    write_png(tmp_path / "a.png", np.arange(64, dtype=np.uint8).reshape(8, 8))
    image = PngCache().read(tmp_path / "a.png")
    assert baselines._immutable(image)
    with pytest.raises(ValueError):
        image[0, 0] = 1
    assert not baselines._immutable(np.zeros((2, 2), np.uint8))


def test_native_helpers_give_the_library_pixels():
    rng = np.random.default_rng(5)
    for _ in range(30):
        mask = ndimage.binary_dilation(rng.random((19, 26)) > 0.9, iterations=2)
        assert np.array_equal(cross_erosion(mask), ndimage.binary_erosion(mask))
        for factor in (1, 2, 3):
            kron = np.kron(mask, np.ones((factor, factor), dtype=bool))
            shape = (mask.shape[0] * factor - 1, mask.shape[1] * factor - 2)
            assert np.array_equal(upsample_mask(mask, factor, shape),
                                  kron[:shape[0], :shape[1]])


def test_a_blobs_lung_window_is_the_upsampled_silhouettes():
    rng = np.random.default_rng(6)
    mask = rng.random((13, 11)) > 0.5
    for factor in (1, 2, 3):
        full = np.kron(mask, np.ones((factor, factor), dtype=bool))
        for origin in [(0, 0), (1, 2), (5, 7), (10, 3)]:
            shape = (min(9, full.shape[0] - origin[0]), min(8, full.shape[1] - origin[1]))
            window = full[origin[0]:origin[0] + shape[0], origin[1]:origin[1] + shape[1]]
            assert np.array_equal(_blocks_at(mask, factor, origin, shape), window)


def test_an_item_without_pixel_spacing_is_analysed_at_its_own_pixels() -> None:
    from dataclasses import replace

    from lesiontrials.scoring.models.baselines import ThresholdDetector

    item = _item("presence", 0.75, 8.0)
    assert ThresholdDetector().working(item)[3] == 2  # 0.75 mm pixels: 2×2 blocks
    unknown = replace(item, pixel_spacing_mm=float("nan"))
    work, native, _, factor = ThresholdDetector().working(unknown)
    assert factor == 1 and work.shape == native.shape == unknown.image.shape
