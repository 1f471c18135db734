"""Turn the last row of a copied small-world index into a donor-only nodule, as LIDC rows
are in the embedded data: its own mask on a small cropped grid (0.7 mm pixels, 2.5 mm
slices), no host label map, no CT, blank lobe, zone and side."""

from __future__ import annotations

import numpy as np

from lesiontrials.io import Volume, VolumeKind, write_parquet, write_volume
from lesiontrials.paths import DataRoot, Workspace

MASK_PATH = "masks/LIDC/nodule_seg/donor_only.nii.gz"
SPACING_MM = (0.7, 0.7, 2.5)
SEMI_AXES_MM = (6.0, 4.0, 5.0)  # a 12 × 8 × 10 mm ellipsoid


def add_donor_only_row(ws: Workspace, root: DataRoot) -> str:
    """Rewrite ``ws``'s index (a copy) so its last row is donor-only; returns its uid."""
    from lesiontrials.index import NoduleIndex

    table = NoduleIndex.load(ws.index_table).table.copy()
    donor = len(table) - 1
    grid = np.indices((21, 21, 9)).astype(float)
    centre = (10, 10, 4)
    mask = sum(((g - c) * s / a) ** 2 for g, c, s, a in
               zip(grid, centre, SPACING_MM, SEMI_AXES_MM, strict=True)) <= 1
    write_volume(root.root / MASK_PATH,
                 Volume(mask.astype(np.uint8), np.diag([*SPACING_MM, 1.0])), kind=VolumeKind.MASK)
    for column in ("lobe_name", "lung_zone", "lung_side", "seg_path", "ct_path"):
        table[column] = table[column].astype(object)
        table.loc[donor, column] = ""
    table.loc[donor, "mask_path"] = MASK_PATH
    table.loc[donor, "mask_scope"] = "nodule"
    write_parquet(table, ws.index_table)
    return str(table.loc[donor, "nodule_uid"])
