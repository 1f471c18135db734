"""Where a rendered lesion's continuous shape comes from: its donor mask, read once.

The insertion stage records, for every nodule, the donor mask it resampled
(``planned.donor_mask_path``, relative to the data root) and the scale it applied. The
renderer builds the lesion's shape from that mask at the donor's own spacing
(:func:`~lesiontrials.shape_field.shape_from_mask`), so the drawn lesion does not
inherit the host grid's voxelisation of the donor.

A world phantom's native nodule is itself its library donor's continuous shape sampled
on the phantom's coarse grid (:mod:`lesiontrials.world.natives`, same axes, no scale), so
its mask has lost the volume and outline the fine shape had (17-21 % RMS volume on a
3×3×4 mm grid). Such a donor's record names its source's fine mask
(``planned.donor_source_mask_path``), and the lesion is shaped from that instead
(``shape_source: source_shape`` in the render QC); a record without one (another donor,
or a trial inserted before the field existed) is shaped from its own mask
(``donor_mask``).
"""

from __future__ import annotations

from pathlib import Path

from lesiontrials.donors import nodule_component
from lesiontrials.errors import InputError
from lesiontrials.io import spacing_from_affine
from lesiontrials.io.decoded import DecodedCache, read_mask_crop_cached
from lesiontrials.records.insert import InsertedNodule
from lesiontrials.shape_field import ShapeField, shape_from_mask

DONOR_MASK, HOST_MASK, SOURCE_SHAPE = "donor_mask", "host_mask", "source_shape"


def donor_mask_path(nodule: InsertedNodule) -> str:
    """The mask an ``insert.json`` nodule record's lesion shape is built from: its donor's
    source (a phantom native's library donor) where named, else its donor mask (``""``
    when none)."""
    return nodule.planned.donor_source_mask_path or nodule.planned.donor_mask_path


def uses_source_shape(nodule: InsertedNodule) -> bool:
    """Whether the lesion is shaped from its donor's source (a phantom native's fine
    library mask) rather than from the donor mask itself."""
    return bool(nodule.planned.donor_source_mask_path)


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
        what = "source" if uses_source_shape(nodule) else "donor"
        raise InputError(f"the {what} mask named in insert.json is missing", path=path,
                         fix="point --data-root at the world the trial was inserted from, "
                             "or re-run `lesiontrials insert`")
    planned = nodule.planned
    crop = read_mask_crop_cached(path, cache)  # the shape depends on the crop alone
    mask = crop.mask
    # a per-scan file: only this nodule (a source mask is always the donor's own)
    if planned.donor_mask_scope == "scan" and not uses_source_shape(nodule):
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
