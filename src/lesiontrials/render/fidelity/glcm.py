"""IBSI 3-D grey-level co-occurrence matrix of a lesion, merged over the 13 directions.

The render QC records six GLCM features per lesion. They follow the IBSI definitions that
MIRP implements for ``base_feature_families="glcm"`` with a fixed bin width (the
``*_d1_3d_v_mrg`` features), computed here with ``np.bincount`` on the lesion's box:

* intensities are rounded to whole HU (MIRP's CT image does the same);
* the ROI is re-segmented to ``[lower, upper]`` HU, then discretised with a fixed bin width
  ``g = floor((HU − lower) / width) + 1`` (bins below 1 become 1), the number of grey
  levels being the largest ``g`` inside the ROI;
* co-occurrences at Chebyshev distance 1 are counted for the 13 unique 3-D directions,
  only between two ROI voxels, made symmetric (each pair counted both ways) and summed
  into one matrix (volume merge) before the features.

MIRP builds the same matrix through pandas group-bys (~0.4–0.7 s a lesion, a fixed cost
that dominated the render QC); this is a few milliseconds. ``tests/render/test_glcm.py``
checks that both give the same six numbers (MIRP is the ``radiomics`` extra).
"""

from __future__ import annotations

import numpy as np

TEXTURE_LIBRARY = "lesiontrials.glcm (IBSI 3-D GLCM, volume-merged, fixed bin width)"
LOWER_BOUND_HU = -1000.0
UPPER_BOUND_HU = 3000.0

# the 13 unique neighbour offsets at Chebyshev distance 1 (the other 13 are their negatives)
OFFSETS: tuple[tuple[int, int, int], ...] = tuple(
    (dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)
    if (dx, dy, dz) > (0, 0, 0))


def _pair_slices(offset: tuple[int, int, int]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices ``(a, b)`` so that ``array[b]`` is ``array[a]`` shifted by ``offset`` voxels."""
    first, second = [], []
    for step in offset:
        if step > 0:
            first.append(slice(0, -step))
            second.append(slice(step, None))
        elif step < 0:
            first.append(slice(-step, None))
            second.append(slice(0, step))
        else:
            first.append(slice(None))
            second.append(slice(None))
    return tuple(first), tuple(second)


def grey_levels(hu: np.ndarray, mask: np.ndarray, *, bin_width_hu: float,
                lower_hu: float = LOWER_BOUND_HU,
                upper_hu: float = UPPER_BOUND_HU) -> tuple[np.ndarray, int]:
    """Discretised grey levels (0 outside the re-segmented ROI) and their number.

    ``hu`` and ``mask``: arrays of one shape (any axis order); returns ``(levels, n)`` with
    ``levels`` int64 of the same shape, 1…n inside the ROI.
    """
    rounded = np.round(np.asarray(hu, dtype=np.float64))
    roi = np.asarray(mask, dtype=bool) & (rounded >= lower_hu) & (rounded <= upper_hu)
    levels = np.floor((rounded - lower_hu) / float(bin_width_hu)) + 1.0
    levels = np.where(roi, np.maximum(levels, 1.0), 0.0).astype(np.int64)
    return levels, int(levels.max()) if roi.any() else 0


def cooccurrence_matrix(levels: np.ndarray, n_levels: int) -> np.ndarray:
    """Symmetric co-occurrence counts over the 13 directions, ``(n, n)`` float64 for grey
    levels 1…n (level 0, outside the ROI, pairs with nothing)."""
    size = n_levels + 1
    counts = np.zeros(size * size, dtype=np.int64)
    for offset in OFFSETS:
        first, second = _pair_slices(offset)
        a, b = levels[first], levels[second]
        both = (a > 0) & (b > 0)
        counts += np.bincount(a[both] * size + b[both], minlength=size * size)
    matrix = counts.reshape(size, size)[1:, 1:].astype(np.float64)
    return matrix + matrix.T


def glcm_features(matrix: np.ndarray) -> dict[str, float]:
    """The six IBSI features of a symmetric co-occurrence count matrix (levels 1…n)."""
    total = matrix.sum()
    if total <= 0:
        return {}
    p = matrix / total
    index = np.arange(1, p.shape[0] + 1, dtype=np.float64)
    i, j = np.meshgrid(index, index, indexing="ij")
    diff = i - j
    marginal = p.sum(axis=1)
    mean = float(np.sum(index * marginal))
    variance = float(np.sum((index - mean) ** 2 * marginal))
    nonzero = p[p > 0]
    correlation = (1.0 if variance == 0.0
                   else (float(np.sum(i * j * p)) - mean**2) / variance)
    return {"contrast": float(np.sum(diff**2 * p)),
            "correlation": correlation,
            "energy": float(np.sum(p**2)),
            "homogeneity": float(np.sum(p / (1.0 + diff**2))),
            "dissimilarity": float(np.sum(np.abs(diff) * p)),
            "entropy": float(-np.sum(nonzero * np.log2(nonzero)))}


def glcm_3d(hu: np.ndarray, mask: np.ndarray, *, bin_width_hu: float = 25.0) -> dict[str, float]:
    """Six 3-D GLCM features of the HU inside ``mask`` (crop-sized arrays, any axis order:
    the 13 directions cover every axis alike); ``{}`` when no two ROI voxels touch."""
    if hu.shape != mask.shape:
        raise ValueError(f"GLCM: HU crop {hu.shape} and mask {mask.shape} differ in shape")
    levels, n_levels = grey_levels(hu, mask, bin_width_hu=bin_width_hu)
    if n_levels == 0:
        return {}
    return glcm_features(cooccurrence_matrix(levels, n_levels))
