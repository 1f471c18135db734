"""Search on the working grid, measure at the image's own pixels.

The baselines find their candidates on a coarse working grid (block-mean HU, see
:func:`~lesiontrials.scoring.models.imaging.block_mean`), which is cheap, but block
means shrink a small nodule: a 4-mm nodule on 0.75-mm pixels keeps a pixel or two above
−300 HU at 1.5 mm. So every candidate found there is measured again on the image's own
pixels — its region, size (and the minimum-size rule), shape, density, the air around it
and its persistence in z±1, in a small window around it — and a small nodule is measured
as at full resolution. Positions in the candidates returned are in image pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from lesiontrials.scoring.models.imaging import Candidate, measure_component


def upsample_mask(mask: np.ndarray, factor: int, shape: tuple[int, ...]) -> np.ndarray:
    """A working-grid bool mask on the image's pixels (each block's value repeated over
    its ``factor × factor`` pixels), cut to the image's ``shape`` ``(H, W)``."""
    if factor == 1:
        return np.asarray(mask, dtype=bool)[:shape[0], :shape[1]]
    grown = np.repeat(np.repeat(np.asarray(mask, dtype=bool), factor, axis=0), factor, axis=1)
    return np.asarray(grown[:shape[0], :shape[1]])


def cross_erosion(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_erosion(mask)`` (4-connected, nothing beyond the edges) by four
    shifted ANDs: the same pixels at a fraction of the cost."""
    out = mask.copy()
    out[1:] &= mask[:-1]
    out[:-1] &= mask[1:]
    out[:, 1:] &= mask[:, :-1]
    out[:, :-1] &= mask[:, 1:]
    out[[0, -1], :] = False
    out[:, [0, -1]] = False
    return out


def threshold_candidates_native(working_hu: np.ndarray, working_lung: np.ndarray, *,
                                hu: np.ndarray, factor: int, spacing_mm: float,
                                threshold_hu: float, min_diameter_mm: float,
                                context_hu: tuple[np.ndarray, ...] = ()) -> list[Candidate]:
    """Dense components found on the working grid (``working_hu``/``working_lung``, block
    size ``factor``; any size) and measured on the image's pixels: the components above
    ``threshold_hu`` in the image ``hu`` (pixels of ``spacing_mm``) inside the eroded lung
    that share a pixel with a dense working-grid block, each measured whole
    (:func:`~lesiontrials.scoring.models.imaging.measure_component`, with the minimum-size
    rule on image pixels). ``context_hu``: z±1 slices on the image's pixels. The image's
    pixels in the lung's bounding box are thresholded and labelled once (a few
    milliseconds at 512²); only what the working grid found is measured. Best score
    first."""
    search = (working_hu > threshold_hu) & ndimage.binary_erosion(working_lung, iterations=1)
    if not search.any():
        return []
    rows = np.flatnonzero(working_lung.any(axis=1))
    cols = np.flatnonzero(working_lung.any(axis=0))
    box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    top, left = box[0].start * factor, box[1].start * factor  # the lung's box, image pixels
    crop = (slice(top, box[0].stop * factor), slice(left, box[1].stop * factor))
    part = hu[crop]
    lung = upsample_mask(working_lung[box], factor, part.shape)
    solid = (part > threshold_hu) & cross_erosion(lung)
    labels, _ = ndimage.label(solid)
    dense = upsample_mask(search[box], factor, part.shape)
    touched = np.unique(labels[dense])
    boxes = ndimage.find_objects(labels)
    out = []
    for index in touched[touched > 0].tolist():
        box = boxes[index - 1]
        region = labels[box] == index
        image_box = (slice(box[0].start + top, box[0].stop + top),
                     slice(box[1].start + left, box[1].stop + left))
        candidate = measure_component(region, image_box, hu, spacing_mm=spacing_mm,
                                      threshold_hu=threshold_hu,
                                      min_diameter_mm=min_diameter_mm, context_hu=context_hu)
        if candidate is not None:
            out.append(candidate)
    return sorted(out, key=lambda c: -c.score)
