"""Quality control: lobe volumes and a PNG montage of axial and coronal slices.

Slices are shown radiologically: anterior (axial) or superior (coronal) up, the
patient's right on the image's left.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lesiontrials.anatomy import (
    AIRWAY,
    AORTA,
    BODY,
    ESOPHAGUS,
    HEART,
    LABEL_IDS,
    LEFT_RIBS,
    LOBE_BY_LABEL,
    LOBE_LABELS,
    PULMONARY_VEIN,
    RIGHT_RIBS,
    SPINAL_CORD,
    STERNUM,
    SUPERIOR_VENA_CAVA,
    TRACHEA,
    VERTEBRAE,
)
from lesiontrials.io import Volume, spacing_from_affine
from lesiontrials.io.atomic import atomic_path


def lobe_volumes_ml(labels: np.ndarray, spacing_mm: Sequence[float]) -> dict[str, float]:
    """Volume (ml) of each lobe, keyed by canonical lobe name (see ``anatomy.Lobe``)."""
    counts = np.bincount(np.asarray(labels, dtype=np.uint8).ravel(), minlength=256)
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    return {LOBE_BY_LABEL[label].value: float(counts[label]) * voxel_ml for label in LOBE_LABELS}


def label_colours() -> np.ndarray:
    """RGB (256, 3) in 0..1 for every label id; unknown ids get a stable hashed colour."""
    rng = np.random.default_rng(12345)
    colours = rng.uniform(0.3, 0.9, size=(256, 3))
    colours[0] = 0.0
    fixed = {
        BODY: (0.55, 0.45, 0.40), LABEL_IDS["left autochthon"]: (0.65, 0.30, 0.30),
        LABEL_IDS["right autochthon"]: (0.70, 0.35, 0.30),
        30: (0.35, 0.65, 0.95), 31: (0.95, 0.80, 0.25), 32: (0.30, 0.80, 0.45),
        28: (0.75, 0.50, 0.95), 29: (0.95, 0.55, 0.55),
        TRACHEA: (1.0, 1.0, 1.0), AIRWAY: (0.85, 1.0, 1.0), PULMONARY_VEIN: (0.85, 0.10, 0.15),
        HEART: (0.75, 0.15, 0.35), AORTA: (1.0, 0.35, 0.0), SUPERIOR_VENA_CAVA: (0.25, 0.30, 0.9),
        ESOPHAGUS: (0.55, 0.85, 0.20), SPINAL_CORD: (1.0, 1.0, 0.5), STERNUM: (0.95, 0.95, 0.85),
    }
    for label, rgb in fixed.items():
        colours[label] = rgb
    for i, label in enumerate(VERTEBRAE):
        colours[label] = (0.9, 0.88 - 0.25 * (i % 2), 0.7)
    for i, label in enumerate((*LEFT_RIBS, *RIGHT_RIBS)):
        colours[label] = (0.97, 0.93 - 0.2 * (i % 2), 0.75)
    return colours


def _radiological_axial(labels: np.ndarray, k: int) -> np.ndarray:
    """Axial slice with anterior up and the patient's right on the left."""
    return labels[:, :, k].T[::-1, ::-1]


def _radiological_coronal(labels: np.ndarray, j: int) -> np.ndarray:
    """Coronal slice with superior up and the patient's right on the left."""
    return labels[:, j, :].T[::-1, ::-1]


def montage_slices(labels: np.ndarray) -> tuple[int, int]:
    """(axial z index, coronal y index): the axial level where most lobes show (ties:
    largest lung area) and the coronal plane through the carina (else the lungs)."""
    lut = np.zeros(256, dtype=bool)
    lut[list(LOBE_LABELS)] = True
    per_slice = np.stack([(labels == lb).any(axis=(0, 1)) for lb in LOBE_LABELS])
    area = lut[labels].sum(axis=(0, 1))
    k = int(np.argmax(per_slice.sum(axis=0) * 1e9 + area))
    trachea = np.argwhere(labels == TRACHEA)
    if len(trachea):
        j = int(trachea[np.argmin(trachea[:, 2]), 1])
    else:
        lung = np.argwhere(lut[labels])
        j = int(np.median(lung[:, 1])) if len(lung) else labels.shape[1] // 2
    return k, j


def qc_montage(
    volumes: Sequence[Volume],
    path: str | Path,
    *,
    titles: Sequence[str] | None = None,
    hosts_per_row: int = 4,
) -> Path:
    """Write a PNG with one axial and one coronal label slice per host (radiological view)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    if not volumes:
        raise ValueError("qc_montage needs at least one volume")
    if titles is not None and len(titles) != len(volumes):
        raise ValueError("titles must have one entry per volume")
    cmap = ListedColormap(label_colours())
    n_cols = min(hosts_per_row, len(volumes))
    n_rows = int(np.ceil(len(volumes) / n_cols))
    fig, axes = plt.subplots(n_rows, 2 * n_cols, figsize=(4.0 * n_cols, 2.4 * n_rows),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, volume in enumerate(volumes):
        labels = np.asarray(volume.array)
        sx, sy, sz = spacing_from_affine(volume.affine)
        k, j = montage_slices(labels)
        row, col = divmod(i, n_cols)
        ax_axial, ax_coronal = axes[row, 2 * col], axes[row, 2 * col + 1]
        ax_axial.imshow(_radiological_axial(labels, k), cmap=cmap, vmin=0, vmax=255,
                        interpolation="nearest", aspect=sy / sx)
        ax_coronal.imshow(_radiological_coronal(labels, j), cmap=cmap, vmin=0, vmax=255,
                          interpolation="nearest", aspect=sz / sx)
        name = titles[i] if titles is not None else f"host {i}"
        ax_axial.set_title(f"{name} axial", fontsize=7)
        ax_coronal.set_title("coronal (R on left)", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
