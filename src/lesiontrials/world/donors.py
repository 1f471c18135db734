"""The LIDC donor library as a donor-only dataset of the world (``LIDC``).

Donors have no host anatomy (the database holds outlines, not images), so their
profile rows carry size, shape, reader statistics and the nine characteristics, and
leave the location columns empty. Masks are stored on their crop grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials.geometry import NoduleMask
from lesiontrials.io.volumes import spacing_from_affine
from lesiontrials.measurements.measure import size_measures
from lesiontrials.measurements.neighbours import neighbour_columns
from lesiontrials.measurements.schema import EXTRA_COLUMNS, PROFILE_COLUMNS
from lesiontrials.world.lidc import CHARACTERISTICS, LidcNodule, read_lidc_nodules
from lesiontrials.world.lidc_masks import DonorMask, summarise_relative_errors
from lesiontrials.world.lidc_subpixel import donor_mask_subpixel, upsample_for
from lesiontrials.world.natives import DonorShape

DONOR_DATASET = "LIDC"


@dataclass(frozen=True)
class DonorLibrary:
    nodules: list[LidcNodule]
    masks: list[DonorMask]

    def shapes(self) -> list[DonorShape]:
        return [DonorShape(m.nodule_id, m.mask, spacing_from_affine(m.affine))
                for m in self.masks]


def load_donor_library(sqlite_path: Path, *, size: str) -> DonorLibrary:
    """Demo: nodules seen by ≥ 3 readers in scans ≤ 2.5 mm (≈ LUNA16, ~1,190 donors).
    Full: every physical nodule (~2,670). Each donor's readers' polygons are rasterised
    at sub-pixel accuracy on a crop refined in-plane to pixels of ≤ 0.35 mm
    (:mod:`~lesiontrials.world.lidc_subpixel`), so the lesion shape built from the mask
    follows the outlines, not the scan's pixel staircase."""
    if size == "demo":
        nodules = read_lidc_nodules(sqlite_path, min_readers=3, max_slice_thickness_mm=2.5)
    else:
        nodules = read_lidc_nodules(sqlite_path)
    masks = [donor_mask_subpixel(n, upsample=upsample_for(n.pixel_spacing_mm))
             for n in nodules]
    keep = [i for i, m in enumerate(masks) if m.mask.any()]
    return DonorLibrary([nodules[i] for i in keep], [masks[i] for i in keep])


def diameter_agreement_summary(library: DonorLibrary) -> dict[str, float]:
    """Relative (equivalent − database) / database diameter over the library."""
    errors = np.array([m.equivalent_diameter_mm / m.database_diameter_mm - 1.0
                       for m in library.masks if m.database_diameter_mm > 0])
    summary = summarise_relative_errors(errors)
    return {"n": summary.n, "median": summary.median, "q25": summary.q25, "q75": summary.q75,
            "p95_abs": summary.p95_abs}


def donor_profiles(library: DonorLibrary) -> pd.DataFrame:
    """Profile rows (release columns + LIDC attributes) for the donor-only dataset."""
    rows = []
    for nodule, mask in zip(library.nodules, library.masks, strict=True):
        sizes = size_measures(NoduleMask(mask.mask, (0, 0, 0)), spacing_from_affine(mask.affine))
        lps = nodule.centroid_lps_mm
        row: dict[str, object] = {
            "nodule_id": nodule.nodule_id,
            "ct_path": f"{DONOR_DATASET}/{nodule.patient_id}_s{nodule.scan_id}.nii.gz",
            "coordX": -lps[0], "coordY": -lps[1], "coordZ": lps[2],  # LPS → RAS (relative)
            **sizes,
            "lung_side": "", "lobe_name": "",
        }
        row["reinsertion_nodule_diam_mm"] = row["nodule_mean_diam_mm"]
        row.update({
            "PatientID": nodule.patient_id, "AnnotationID": nodule.nodule_id,
            "label": "" if nodule.malignancy_label is None else nodule.malignancy_label,
            "n_readers": nodule.n_readers, "reader_agreement": mask.reader_agreement,
            "database_diameter_mm": mask.database_diameter_mm,
            "slice_thickness_mm": nodule.slice_thickness_mm,
            "pixel_spacing_mm": nodule.pixel_spacing_mm,
            **nodule.characteristics(),
        })
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["_scan"] = frame["ct_path"]
    parts = []
    for _, scan_rows in frame.groupby("_scan", sort=True):
        scan_rows = scan_rows.copy()
        for column, values in neighbour_columns(scan_rows.reset_index(drop=True)).items():
            scan_rows[column] = values
        parts.append(scan_rows)
    frame = pd.concat(parts).sort_values("AnnotationID", kind="stable")
    extra = ["PatientID", "AnnotationID", "label", "n_readers", "reader_agreement",
             "database_diameter_mm", "slice_thickness_mm", "pixel_spacing_mm", *CHARACTERISTICS]
    frame = frame.reindex(columns=[*PROFILE_COLUMNS, *EXTRA_COLUMNS, *extra])
    return frame.reset_index(drop=True)
