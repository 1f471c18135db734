"""Where a rendered lesion's continuous shape comes from: its donor mask, read once.

The insertion stage records, for every nodule, the donor mask it resampled
(``planned.donor_mask_path``, relative to the data root) and the scale it applied. The
renderer builds the lesion's shape from that mask at the donor's own spacing
(:func:`~lesiontrials.shape_field.shape_from_mask`), so the drawn lesion does not
inherit the host grid's voxelisation of the donor.
"""

from __future__ import annotations

from pathlib import Path

from lesiontrials.donors import nodule_component
from lesiontrials.errors import InputError
from lesiontrials.io import spacing_from_affine
from lesiontrials.io.decoded import DecodedCache, read_mask_crop_cached
from lesiontrials.records.insert import InsertedNodule
from lesiontrials.shape_field import ShapeField, shape_from_mask

DONOR_MASK, HOST_MASK = "donor_mask", "host_mask"


def donor_mask_path(nodule: InsertedNodule) -> str:
    """The donor mask an ``insert.json`` nodule record names (``""`` when none)."""
    return nodule.planned.donor_mask_path


def donor_shape(data_root: Path, nodule: InsertedNodule,
                cache: DecodedCache | None = None) -> ShapeField | None:
    """The continuous shape of an inserted nodule from its donor mask and scale; ``None``
    when the record names no donor mask (the renderer then shapes the host-grid mask and
    the render records ``shape_source: host_mask``). A named but missing, unreadable or
    empty mask is an :class:`InputError`."""
    rel = donor_mask_path(nodule)
    if not rel:
        return None
    path = Path(data_root) / rel
    if not path.is_file():
        raise InputError("the donor mask named in insert.json is missing", path=path,
                         fix="point --data-root at the world the trial was inserted from, "
                             "or re-run `lesiontrials insert`")
    planned = nodule.planned
    crop = read_mask_crop_cached(path, cache)  # the shape depends on the crop alone
    mask = crop.mask
    if planned.donor_mask_scope == "scan":  # a per-scan file: only this nodule
        x, y, z = planned.donor_point_mm
        if x is None or y is None or z is None:
            raise InputError("insert.json names a per-scan donor mask but not the donor's "
                             "centre (planned.donor_point_mm)", path=path,
                             fix="give the donor's coordX/Y/Z in the index and re-run "
                                 "`lesiontrials insert` for this trial")
        mask = nodule_component(mask, crop.crop_affine, (x, y, z), path=path).mask
    if not mask.any():
        raise InputError("the donor mask is empty", path=path,
                         fix="rebuild the world's index so that this donor is dropped")
    scale = planned.scale
    if not scale > 0:
        raise InputError(f"planned.scale must be > 0, got {scale}", path=path,
                         fix="re-run `lesiontrials insert` for this trial")
    return shape_from_mask(mask, spacing_from_affine(crop.affine), scale=scale)
