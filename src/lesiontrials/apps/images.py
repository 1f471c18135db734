"""Axial slice PNGs for the web service: windowed CT or coloured label maps, displayed
anterior-up / patient-right-on-the-left, with the evaluation guidance overlays."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from lesiontrials import anatomy
from lesiontrials.evaluate.overlays import draw_overlay
from lesiontrials.evaluate.windowing import Window, apply_window, axial_display, to_rgb
from lesiontrials.geometry import mask_in_host_grid
from lesiontrials.io import Volume, encode_png, read_volume

CACHE_BYTES = 256 << 20
_volumes: OrderedDict[tuple[str, int], Volume] = OrderedDict()
_lock = threading.Lock()


def load_volume(path: Path) -> Volume:
    """Read a volume once per (path, modification time); least recently used volumes are
    dropped beyond :data:`CACHE_BYTES` in all."""
    key = (str(path), path.stat().st_mtime_ns)
    with _lock:
        if key in _volumes:
            _volumes.move_to_end(key)
            return _volumes[key]
    volume = read_volume(path)
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
