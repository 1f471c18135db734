"""Figure: one nodule drawn from donor masks stored on five grids
(``docs/images/lesion_grid_independence.png``). Prints JSON (RMS difference per grid).

An ellipsoid (12×10×9 mm) is voxelised at 0.5 mm, 1 mm, 3 mm, 3×3×4 mm (the
phantom natives' grid), 0.7×0.7×2.5 and ×5 mm (thick-slice donors) and 0.35×0.35×5 mm (a
5 mm scan's outlines rasterised at sub-pixel accuracy), turned into its continuous
shape (``lesiontrials.shape_field``) and drawn on one 0.7×0.7×1.25 mm host voxel grid (solid on
−850 HU lung, the acquisition's PSF, no noise). Rows: the donor grid; columns: the
donor's own mask (central axial slice, nearest-neighbour at display size), the render's
axial and coronal views, and the render minus the 0.5 mm donor's render (±200 HU).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lesion_fidelity.common import (
    LUNG_HU,
    SOLID_HU,
    acquisition,
    opacity,
    place,
)
from lesiontrials.insert.transplant import resample_donor
from lesiontrials.render.backends.scanner import psf_sigma_mm
from lesiontrials.shape_field import shape_from_mask
from lesiontrials.testing import ellipsoid_mask

HOST = (0.7, 0.7, 1.25)
GRIDS = {"0.5 mm": (0.5, 0.5, 0.5), "1 mm": (1.0, 1.0, 1.0), "3 mm": (3.0, 3.0, 3.0),
         "3×3×4 mm": (3.0, 3.0, 4.0), "0.7×0.7×2.5 mm": (0.7, 0.7, 2.5),
         "0.7×0.7×5 mm": (0.7, 0.7, 5.0), "0.35×0.35×5 mm": (0.35, 0.35, 5.0)}
RADII = (6.0, 5.0, 4.5)
CENTRE_MM = (0.21, -0.13, 0.34)


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path,
                        default=Path("docs/images/lesion_grid_independence.png"))
    args = parser.parse_args()
    shape = tuple(int(np.ceil(24.0 / s)) for s in HOST)
    sigma = np.asarray(psf_sigma_mm(acquisition(HOST))) / np.asarray(HOST)
    fine = ellipsoid_mask(RADII, GRIDS["0.5 mm"], centre_mm=CENTRE_MM)
    nodule = place(resample_donor(fine, GRIDS["0.5 mm"], HOST), shape)  # type: ignore[arg-type]
    renders, masks = {}, {}
    for name, grid in GRIDS.items():
        donor = ellipsoid_mask(RADII, grid, centre_mm=CENTRE_MM)
        alpha = opacity(shape_from_mask(donor, grid), nodule, HOST, shape)  # type: ignore[arg-type]
        renders[name] = LUNG_HU + (SOLID_HU - LUNG_HU) * ndimage.gaussian_filter(alpha, sigma)
        masks[name] = (donor, grid)
    reference = renders["0.5 mm"]
    support = reference > LUNG_HU + 10.0
    centre = [int(v) for v in np.argwhere(support).mean(axis=0).round()]
    fig, axes = plt.subplots(len(GRIDS), 4, figsize=(8.0, 2.0 * len(GRIDS)))
    extent_xy = [0, shape[1] * HOST[1], shape[0] * HOST[0], 0]
    extent_xz = [0, shape[2] * HOST[2], shape[0] * HOST[0], 0]
    rms = {}
    for row, name in enumerate(GRIDS):
        donor, grid = masks[name]
        z = int(np.argwhere(donor).mean(axis=0)[2].round())
        axes[row, 0].imshow(donor[:, :, z], cmap="gray", interpolation="nearest",
                            extent=[0, donor.shape[1] * grid[1], donor.shape[0] * grid[0], 0])
        image = renders[name]
        axes[row, 1].imshow(image[:, :, centre[2]], cmap="gray", vmin=-1000, vmax=200,
                            extent=extent_xy)
        axes[row, 2].imshow(image[:, centre[1], :], cmap="gray", vmin=-1000, vmax=200,
                            extent=extent_xz)
        diff = image - reference
        axes[row, 3].imshow(diff[:, :, centre[2]], cmap="coolwarm", vmin=-200, vmax=200,
                            extent=extent_xy)
        rms[name] = round(float(np.sqrt(np.mean(diff[support] ** 2))), 1)
        axes[row, 0].set_ylabel(f"donor {name}", fontsize=9)
        for col in range(4):
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
    for col, title in enumerate(("donor mask (axial)", "render axial", "render coronal",
                                 "render − 0.5 mm (±200 HU)")):
        axes[0, col].set_title(title, fontsize=9)
    fig.suptitle(f"One 12×10×9 mm nodule from donors on {len(GRIDS)} grids, drawn on a "
                 "0.7×0.7×1.25 mm host (window −1000…200 HU)", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(args.out)
    print(json.dumps({"out": str(args.out), "rms_hu_vs_0.5mm": rms}, indent=1))


if __name__ == "__main__":
    main()
