"""The lesion gallery figure of docs/world.md (``docs/images/lesion_gallery.png``). Prints
JSON (what was drawn where).

Solid, part-solid, ground-glass, spiculated and calcified nodules of 4, 8 and 20 mm,
inserted by the host-CT renderer into a real chest CT that ships with the world
(pyradiomics ``lung1``, 0.57×0.57×5 mm) and drawn by the analytic renderer into a phantom
host at screening resolution (an 80-slice slab of the ``full`` 0.75×0.75×1 mm phantom
grid), each shown as axial, coronal and sagittal crops of 40 mm at a lung window
(−1350…150 HU); the last row shows the two real lesions of the packaged CTs the same way
(crops of 1.6× the lesion's extent when that exceeds 40 mm).
Shapes come through the continuous-shape path from spheres stored as a world LIDC donor
is (``--donor-grid``, default 0.35×0.35×2.5 mm: a 0.7 mm-pixel, 2.5 mm-slice scan's
outlines rasterised at sub-pixel accuracy), so the coronal and sagittal crops show how
shapes held by a few thick slices close at their poles.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.render import Acquisition, AnalyticRenderer, HostCTRenderer, LesionSpec
from lesiontrials.render.appearance.tissue import LUNG_LABELS
from lesiontrials.settings import load_settings
from lesiontrials.shape_field import shape_from_mask
from lesiontrials.testing import ellipsoid_mask, sphere_mask

KINDS = {
    "solid": LesionDescriptors(margin=4.0),
    "part-solid": LesionDescriptors(attenuation="part_solid", solid_fraction=0.4, margin=3.0),
    "ground-glass": LesionDescriptors(attenuation="ground_glass", solid_fraction=0.0,
                                      margin=2.0),
    "spiculated": LesionDescriptors(spiculation=5.0, lobulation=3.0, margin=3.0),
    "calcified": LesionDescriptors(calcification="popcorn", margin=5.0),
}
SIZES = (4.0, 8.0, 20.0)
CROP_MM = 40.0
WINDOW = (-1350.0, 150.0)


def _views(volume: np.ndarray, centre: np.ndarray, spacing: tuple[float, float, float],
           crop_mm: float = CROP_MM) -> list[tuple[np.ndarray, float]]:
    """Axial, coronal, sagittal crops (display orientation) with their pixel aspect."""
    half = [round(crop_mm / 2 / s) for s in spacing]
    c = [round(v) for v in centre]
    sl = [slice(max(0, c[a] - half[a]), c[a] + half[a]) for a in range(3)]
    axial = volume[sl[0], sl[1], c[2]].T[::-1, :]  # anterior at the top
    coronal = volume[sl[0], c[1], sl[2]].T[::-1, :]  # superior at the top
    sagittal = volume[c[0], sl[1], sl[2]].T[::-1, :]
    return [(axial, spacing[1] / spacing[0]), (coronal, spacing[2] / spacing[0]),
            (sagittal, spacing[2] / spacing[1])]


def lung_spots(labels: np.ndarray, spacing: tuple[float, float, float], avoid: np.ndarray,
                count: int, *, z_margin_mm: float) -> list[tuple[float, float, float]]:
    """``count`` lung voxels 14 mm inside the lung, ``z_margin_mm`` from the volume's ends,
    outside ``avoid`` and at least 32 mm apart (greedy, in raster order of a coarse grid)."""
    from scipy import ndimage

    lung = np.isin(labels, LUNG_LABELS)
    inner = ndimage.distance_transform_edt(lung, sampling=spacing) > 14.0
    inner &= ~avoid
    edge = int(np.ceil(z_margin_mm / spacing[2]))
    inner[:, :, :edge] = False
    inner[:, :, labels.shape[2] - edge:] = False
    step = [max(1, int(8.0 / s)) for s in spacing]
    candidates = np.argwhere(inner[::step[0], ::step[1], ::step[2]]) * np.asarray(step)
    chosen: list[np.ndarray] = []
    for point in candidates:
        mm = point * np.asarray(spacing)
        if all(np.linalg.norm(mm - c * np.asarray(spacing)) >= 32.0 for c in chosen):
            chosen.append(point)
        if len(chosen) == count:
            break
    if len(chosen) < count:
        raise RuntimeError(f"only {len(chosen)} of {count} lung spots found")
    return [tuple(float(v) for v in c) for c in chosen]  # type: ignore[misc]


def _real_host() -> tuple[Any, np.ndarray, list[Any]]:
    from lesiontrials.world.realct import load_real_examples, segment_host

    examples = [e for e in load_real_examples(load_settings().cache_dir) if e.lesion is not None]
    host = examples[0]
    assert host.lesion is not None
    labels = segment_host(host.ct, lesion_mask=host.lesion.array).labels.array
    return host, labels, examples


def phantom_slab() -> tuple[np.ndarray, tuple[float, float, float]]:
    from lesiontrials.world.phantom.generate import generate_phantom
    from lesiontrials.world.phantom.params import phantom_grid, sample_phantom_params

    grid = phantom_grid("full")
    labels = generate_phantom(sample_phantom_params(np.random.default_rng(1)),
                              shape=grid.shape, spacing_mm=grid.spacing_mm).array
    lung_z = np.flatnonzero(np.isin(labels[::8, ::8, :], LUNG_LABELS).any(axis=(0, 1)))
    mid = int(lung_z[len(lung_z) * 2 // 3])
    return np.ascontiguousarray(labels[:, :, mid - 40:mid + 40]), grid.spacing_mm


def _render_all(renderer: Any, labels: np.ndarray, spacing: tuple[float, float, float],
                spots: list[tuple[float, float, float]], acquisition: Acquisition,
                donor_grid: tuple[float, float, float]) -> np.ndarray:
    """One render with every kind × size at its spot (lesions far apart)."""
    specs = []
    kinds = [(d, size) for d in KINDS.values() for size in SIZES]
    for index, ((descriptors, size), centre) in enumerate(zip(kinds, spots, strict=True)):
        mask = sphere_mask(labels.shape, centre, size / 2, spacing)
        donor = ellipsoid_mask((size / 2,) * 3, donor_grid, centre_mm=(0.1, -0.2, 0.15))
        specs.append(LesionSpec(mask, descriptors, index=index,
                                shape_field=shape_from_mask(donor, donor_grid)))
    return renderer.render(labels=labels, spacing_mm=spacing, lesions=specs,
                           acquisition=acquisition, seed=7).hu


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import ndimage

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images/lesion_gallery.png"))
    parser.add_argument("--donor-grid", default="0.35x0.35x2.5",
                        help="voxel size (mm, XxYxZ) of the donor masks the shapes come from")
    args = parser.parse_args()
    donor_grid = tuple(float(v) for v in args.donor_grid.split("x"))
    if len(donor_grid) != 3 or min(donor_grid) <= 0:
        parser.error(f"--donor-grid must be three positive sizes like 0.35x0.35x2.5, "
                     f"got {args.donor_grid!r}")
    host, real_labels, examples = _real_host()
    phantom_labels, phantom_spacing = phantom_slab()
    hosts = [("real host lung1 (0.57×0.57×5 mm)", real_labels, host.ct.spacing_mm,
              HostCTRenderer(ct=host.ct.array),
              Acquisition(slice_thickness_mm=host.ct.spacing_mm[2]),
              ndimage.binary_dilation(host.lesion.array > 0, iterations=20)),
             ("phantom (0.75×0.75×1 mm)", phantom_labels, phantom_spacing,
              AnalyticRenderer(), Acquisition(slice_thickness_mm=1.0, mas=50.0),
              np.zeros(phantom_labels.shape, bool))]
    rows = len(KINDS) * len(hosts) + 1
    cols = len(SIZES) * 3
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.25, rows * 1.35))
    drawn = []
    for h, (host_name, labels, spacing, renderer, acq, avoid) in enumerate(hosts):
        spots = lung_spots(labels, spacing, avoid, len(KINDS) * len(SIZES),
                            z_margin_mm=CROP_MM / 2)
        hu = _render_all(renderer, labels, spacing, spots, acq, donor_grid)  # type: ignore[arg-type]
        for k, kind in enumerate(KINDS):
            row = h * len(KINDS) + k
            for j, size in enumerate(SIZES):
                centre = spots[k * len(SIZES) + j]
                drawn.append({"host": host_name, "kind": kind, "diameter_mm": size,
                              "centre_voxel": [round(v, 1) for v in centre]})
                for v, (crop, aspect) in enumerate(_views(hu, np.asarray(centre), spacing)):
                    ax = axes[row, 3 * j + v]
                    ax.imshow(crop, cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1],
                              aspect=aspect, interpolation="nearest")
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if row == 0:
                        ax.set_title(f"{size:g} mm {('axial', 'coronal', 'sagittal')[v]}",
                                     fontsize=6)
            axes[row, 0].set_ylabel(f"{kind}\n{host_name.split(' (')[0]}", fontsize=6)
    for e, example in enumerate(examples[:2]):
        assert example.lesion is not None
        lesion = example.lesion.array > 0
        centre = ndimage.center_of_mass(lesion)
        extent = max(float(np.ptp(np.argwhere(lesion)[:, a]) + 1) * s
                     for a, s in enumerate(example.ct.spacing_mm))
        for v, (crop, aspect) in enumerate(_views(example.ct.array.astype(np.float32),
                                                  np.asarray(centre), example.ct.spacing_mm,
                                                  max(CROP_MM, 1.6 * extent))):
            ax = axes[rows - 1, 3 * e + v]
            ax.imshow(crop, cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1], aspect=aspect,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[rows - 1, 3 * e].set_ylabel(f"real lesion\n{example.name}", fontsize=6)
    for v in range(6, cols):
        axes[rows - 1, v].axis("off")
    fig.tight_layout(pad=0.2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=130)
    print(json.dumps({"figure": str(args.out), "donor_grid_mm": donor_grid, "drawn": drawn},
                     indent=1))


if __name__ == "__main__":
    main()
