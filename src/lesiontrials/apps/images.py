"""Axial slice PNGs for the web service: windowed CT or coloured label maps, displayed
anterior-up / patient-right-on-the-left, with the evaluation guidance overlays."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from lesiontrials import anatomy
from lesiontrials.geometry import mask_in_host_grid
from lesiontrials.io import Volume, encode_png
from lesiontrials.io.decoded import DecodedCache, read_mask_crop_cached, read_volume_cached
from lesiontrials.slicing.overlays import draw_overlay
from lesiontrials.slicing.windowing import Window, apply_window, axial_display, to_rgb

CACHE_BYTES = 256 << 20
_volumes: OrderedDict[tuple[str, int], Volume] = OrderedDict()
_lock = threading.Lock()


def load_volume(path: Path, *, cache: DecodedCache | None = None) -> Volume:
    """Read a volume once per (path, modification time), through the workspace's decoded
    ``cache`` when given (a memory-mapped entry instead of a gunzip); least recently used
    volumes are dropped beyond :data:`CACHE_BYTES` in all."""
    key = (str(path), path.stat().st_mtime_ns)
    with _lock:
        if key in _volumes:
            _volumes.move_to_end(key)
            return _volumes[key]
    volume = read_volume_cached(path, cache)
    volume.array.setflags(write=False)
    with _lock:
        _volumes[key] = volume
        while len(_volumes) > 1 and sum(v.array.nbytes for v in _volumes.values()) > CACHE_BYTES:
            _volumes.popitem(last=False)
    return volume


def label_colours(labels: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random RGB colour per label id; 0 black, the nodule label yellow."""
    rng = np.random.default_rng(7)
    palette = rng.integers(60, 230, size=(256, 3)).astype(np.uint8)
    palette[0] = 0
    palette[anatomy.NODULE] = (255, 220, 0)
    return palette[np.clip(labels, 0, 255).astype(np.uint8)]


def _zoomed(image: np.ndarray, zoom: int) -> np.ndarray:
    return np.repeat(np.repeat(image, zoom, axis=0), zoom, axis=1)


def slice_png(
    volume: np.ndarray,
    *,
    z: int,
    window: Window | None,
    mask: np.ndarray | None = None,
    overlay: str = "contour",
    zoom: int = 2,
) -> bytes:
    """PNG of axial slice ``z`` of a RAS+ ``(x, y, z)`` volume. ``window`` set: CT in HU;
    ``None``: a label map in colour. ``mask`` (same grid) draws the guidance overlay."""
    z = int(np.clip(z, 0, volume.shape[2] - 1))
    plane = axial_display(volume[:, :, z])
    image = (apply_window(plane, window) if window is not None
             else label_colours(plane.astype(np.int64)))
    image = _zoomed(image, zoom)
    if mask is not None and overlay != "plain":
        shown = _zoomed(axial_display(np.asarray(mask[:, :, z], bool)), zoom)
        image, _ = draw_overlay(image, shown, condition=overlay)
    return encode_png(to_rgb(image))


def load_mask_crop(path: Path, *, cache: DecodedCache | None = None) -> Volume:
    """A mask file's nonzero voxels as a tight crop (uint8) with the crop's own affine:
    what placing it on another grid needs, without the whole grid of a full-size mask."""
    crop = read_mask_crop_cached(path, cache)
    if crop.mask.size == 0:
        return load_volume(path, cache=cache)
    return Volume(crop.mask.astype(np.uint8), crop.crop_affine)


def mask_on_grid(mask: Volume, *, affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """A (possibly cropped) mask's voxels placed on another grid by world position."""
    return mask_in_host_grid(mask.array, mask.affine, affine, shape).to_full(shape)


def centre_slice(mask: np.ndarray) -> int:
    """The axial slice with the most mask voxels (middle of the volume when empty)."""
    counts = np.asarray(mask, bool).sum(axis=(0, 1))
    return int(counts.argmax()) if counts.any() else mask.shape[2] // 2


def nifti_gz_bytes(array: np.ndarray, *, affine: np.ndarray) -> bytes:
    """An in-memory ``.nii.gz`` of a uint8 volume (for the browser's 3-D viewer)."""
    import gzip

    import nibabel as nib

    image = nib.Nifti1Image(np.asarray(array, dtype=np.uint8), affine)
    return gzip.compress(image.to_bytes(), compresslevel=1)


# ---------------------------------------------------------------------------
# Mask-only pictures (donor-only nodules such as LIDC: a mask, no CT, no host label map)
# ---------------------------------------------------------------------------
MASK_PANEL_PX = 180
MASK_FILL, MASK_BACKGROUND = 175, 35
MASK_VIEWS: tuple[tuple[str, tuple[int, int]], ...] = (
    ("axial", (0, 1)), ("coronal", (0, 2)), ("sagittal", (1, 2)))
"""Each view's name and the two RAS+ axes of its plane (the third is fixed)."""


def _mask_plane(mask: np.ndarray, spacing_mm: np.ndarray, signs: np.ndarray, *,
                axes: tuple[int, int], fov_mm: float, px: int) -> np.ndarray:
    """``(px, px)`` bool samples (nearest voxel) of the plane spanned by ``axes`` through the
    mask's fullest slice along the third axis, ``fov_mm`` square around the mask's centroid;
    first index along ``axes[0]``, both increasing toward RAS+."""
    fixed = 3 - sum(axes)
    counts = mask.sum(axis=tuple(a for a in range(3) if a != fixed))
    plane = np.take(mask, int(counts.argmax()), axis=fixed)
    centroid = np.argwhere(mask).mean(axis=0)
    offsets_mm = (np.arange(px) + 0.5) * fov_mm / px - fov_mm / 2
    picked = []
    for axis in axes:
        index = np.round(centroid[axis] + signs[axis] * offsets_mm / spacing_mm[axis]).astype(int)
        picked.append(index)
    rows, cols = picked
    out = np.zeros((px, px), dtype=bool)
    ok_rows = (rows >= 0) & (rows < plane.shape[0])
    ok_cols = (cols >= 0) & (cols < plane.shape[1])
    out[np.ix_(ok_rows, ok_cols)] = plane[np.ix_(rows[ok_rows], cols[ok_cols])]
    return out


def mask_views_png(mask: Volume, *, px: int = MASK_PANEL_PX) -> bytes:
    """PNG of a nodule mask alone: axial, coronal and sagittal planes through its fullest
    slices (anterior up / superior up, patient right on the left, anterior on the left of
    the sagittal view), the mask filled grey with its outline in red, a 10 mm scale bar.

    For nodules with a mask but no CT and no host label map (LIDC donors: the readers'
    outlines rasterised, no images in the embedded data). Display pixels are square: each
    view is resampled to ``px`` pixels over the same field of view (1.6 × the mask's
    largest extent, at least 16 mm)."""
    from PIL import Image, ImageDraw

    array = np.asarray(mask.array) > 0
    if not array.any():
        raise ValueError("the nodule mask is empty")
    spacing = np.asarray(mask.spacing_mm, dtype=float)
    signs = np.sign(np.diag(mask.affine[:3, :3]))
    signs[signs == 0] = 1.0
    extent = (np.ptp(np.argwhere(array), axis=0) + 1) * spacing
    fov = max(16.0, 1.6 * float(extent.max()))
    panels = []
    for _, axes in MASK_VIEWS:
        plane = _mask_plane(array, spacing, signs, axes=axes, fov_mm=fov, px=px)
        shown = plane[::-1, ::-1].T  # rows: second axis reversed (A/S up); cols: R on the left
        grey = np.where(shown, MASK_FILL, MASK_BACKGROUND).astype(np.uint8)
        drawn, _ = draw_overlay(grey, shown, condition="contour")
        panels.append(to_rgb(drawn))
    header = 16
    strip = np.concatenate([np.pad(p, ((0, 0), (0, 2), (0, 0))) for p in panels], axis=1)
    canvas = Image.new("RGB", (strip.shape[1], strip.shape[0] + header), (0, 0, 0))
    canvas.paste(Image.fromarray(strip), (0, header))
    draw = ImageDraw.Draw(canvas)
    bar_px = round(10.0 / fov * px)
    for k, (name, _) in enumerate(MASK_VIEWS):
        left = k * (px + 2)
        draw.text((left + 4, 2), name, fill=(255, 255, 255))
        y = header + px - 8
        draw.line([(left + 6, y), (left + 6 + bar_px, y)], fill=(255, 255, 255), width=2)
        draw.text((left + 10 + bar_px, y - 10), "10 mm", fill=(255, 255, 255))
    return encode_png(np.asarray(canvas))


def labels_present(plane: np.ndarray) -> list[int]:
    """Sorted label ids drawn in a label-map plane (for the picture's colour legend)."""
    return [int(v) for v in np.unique(np.asarray(plane, dtype=np.int64))]


def label_legend() -> dict[str, dict[str, str]]:
    """Every label id → its anatomical name and the ``#rrggbb`` colour
    :func:`label_colours` draws it in."""
    ids = np.array(sorted(anatomy.LABEL_NAMES), dtype=np.int64)
    colours = label_colours(ids)
    return {str(i): {"name": anatomy.LABEL_NAMES[int(i)],
                     "colour": "#{:02x}{:02x}{:02x}".format(*(int(c) for c in colour))}
            for i, colour in zip(ids, colours, strict=True)}
