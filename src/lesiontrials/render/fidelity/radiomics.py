"""Lesion texture features through MIRP (IBSI-compliant radiomics), the ``radiomics`` extra.

MIRP reads numpy arrays in (z, y, x) order with the voxel spacing in the same order; our
volumes are (x, y, z) in RAS+, so the crop and its spacing are reversed before the call.
Features are 3-D GLCMs merged over the 13 directions, with a fixed bin width (HU) as the
IBSI recommends for CT. MIRP logs through ``logging`` and warns about the default lower
bound of the discretisation; both are silenced here because the bound is given.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings

import numpy as np

# our feature name → MIRP's GLCM feature stem (IBSI names)
MIRP_GLCM_NAMES = {"contrast": "cm_contrast", "correlation": "cm_corr",
                   "energy": "cm_energy", "homogeneity": "cm_inv_diff_mom",
                   "dissimilarity": "cm_dissimilarity", "entropy": "cm_joint_entr"}
LOWER_BOUND_HU = -1000.0


def mirp_available() -> bool:
    return importlib.util.find_spec("mirp") is not None


def mirp_glcm(hu: np.ndarray, mask: np.ndarray, *, spacing_mm: tuple[float, float, float],
              bin_width_hu: float = 25.0) -> dict[str, float]:
    """Six 3-D GLCM features of the HU inside ``mask`` (arrays in (x, y, z) order)."""
    from mirp import extract_features

    image = np.ascontiguousarray(np.transpose(hu.astype(np.float32), (2, 1, 0)))
    roi = np.ascontiguousarray(np.transpose(mask.astype(bool), (2, 1, 0)))
    spacing = tuple(float(s) for s in reversed(spacing_mm))
    logger = logging.getLogger("mirp")
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tables = extract_features(
                image=image, mask=roi, image_modality="CT", image_voxel_spacing=spacing,
                base_feature_families="glcm", base_discretisation_method="fixed_bin_size",
                base_discretisation_bin_width=float(bin_width_hu),
                resegmentation_intensity_range=[LOWER_BOUND_HU, 3000.0], num_cpus=None)
    finally:
        logging.disable(previous)
        logger.handlers.clear()
    table = tables[0] if tables else None
    if table is None or len(table) == 0:
        return {}
    out = {}
    for name, stem in MIRP_GLCM_NAMES.items():
        columns = [c for c in table.columns if c.startswith(f"{stem}_d1_3d_v_mrg")]
        if columns:
            out[name] = float(table[columns[0]].iloc[0])
    return out
