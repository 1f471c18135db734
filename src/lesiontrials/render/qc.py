"""QC picture of a rendered case: three axial slices through the lesion, CT and overlay.

Top row: CT in the lung window (centre −600, width 1500) at the lesion's centre slice and
one slice either side (a quarter of its extent apart); bottom row: the same with the lesion
mask outlined in red. Panels are cropped to ``fov_mm`` around the lesion; display
convention: anterior up, patient right on image left.
"""

from __future__ import annotations

import io

import numpy as np
from scipy import ndimage

from lesiontrials.geometry import NoduleMask

PANEL_PX = 256


def window(hu: np.ndarray, centre: float = -600.0, width: float = 1500.0) -> np.ndarray:
    """HU → uint8 grey values in a window."""
    return (np.clip((hu - (centre - width / 2.0)) / width, 0.0, 1.0) * 255.0).astype(np.uint8)


def _display(plane: np.ndarray) -> np.ndarray:
    return plane.T[::-1, ::-1]  # (x, y) → rows anterior-first, columns patient right-first


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    mode = "RGB" if image.ndim == 3 else "L"
    resized = Image.fromarray(image, mode=mode).resize((size, size), Image.Resampling.NEAREST)
    return np.asarray(resized)


def qc_slices(nodule: NoduleMask, depth: int) -> list[int]:
    """Centre slice of the lesion and one either side (within the volume)."""
    box = nodule.tight().box[2]
    centre = round(float(nodule.centroid_voxel()[2]))
    step = max(1, (box.stop - box.start) // 4)
    return [int(np.clip(z, 0, depth - 1)) for z in (centre - step, centre, centre + step)]


def _panels(hu: np.ndarray, full_mask: np.ndarray, nodule: NoduleMask, fov_mm: float,
            spacing_mm: tuple[float, float, float]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    cx, cy, _ = (round(float(c)) for c in nodule.centroid_voxel())
    hx, hy = (int(fov_mm / 2 / s) for s in spacing_mm[:2])
    xs = slice(max(0, cx - hx), min(hu.shape[0], cx + hx))
    ys = slice(max(0, cy - hy), min(hu.shape[1], cy + hy))
    top, bottom = [], []
    for z in qc_slices(nodule, hu.shape[2]):
        grey = _resize(window(_display(hu[xs, ys, z].astype(np.float32))), PANEL_PX)
        plane = _display(full_mask[xs, ys, z])
        outline = plane & ~ndimage.binary_erosion(plane)
        rgb = np.repeat(window(_display(hu[xs, ys, z].astype(np.float32)))[..., None], 3, axis=2)
        rgb[outline] = (255, 40, 40)
        top.append(grey)
        bottom.append(_resize(rgb, PANEL_PX))
    return top, bottom


def qc_png(hu: np.ndarray, nodules: list[NoduleMask], *, spacing_mm: tuple[float, float, float],
           title: str = "", fov_mm: float = 80.0) -> bytes:
    """PNG bytes: 2 × 3 panels for the first (primary) lesion; the slice's centre without one."""
    from PIL import Image, ImageDraw

    if nodules:
        nodule = nodules[0]
        full = np.zeros(hu.shape, dtype=bool)
        for other in nodules:
            full |= other.to_full(hu.shape)
    else:
        centre = tuple(n // 2 for n in hu.shape)
        nodule = NoduleMask(np.ones((1, 1, 1), bool), centre)
        full = np.zeros(hu.shape, dtype=bool)
    top, bottom = _panels(hu, full, nodule, fov_mm, spacing_mm)
    grid = np.concatenate([np.concatenate([np.repeat(t[..., None], 3, axis=2) for t in top], 1),
                           np.concatenate(bottom, 1)], 0)
    header = 22
    canvas = Image.new("RGB", (grid.shape[1], grid.shape[0] + header), (0, 0, 0))
    canvas.paste(Image.fromarray(grid), (0, header))
    ImageDraw.Draw(canvas).text((4, 4), title[:120], fill=(255, 255, 255))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
