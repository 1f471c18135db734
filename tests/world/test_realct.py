"""Host segmentation of chest CTs without a model: synthetic phantoms and the packaged real CTs."""

from __future__ import annotations

import time

import cc3d
import numpy as np
import pytest
from scipy import ndimage

from lesiontrials.anatomy import (
    AIRWAY,
    BODY,
    HEART,
    LOBE_LABEL_IDS,
    LOBE_LABELS,
    SPINAL_CORD,
    STERNUM,
    TRACHEA,
    Lobe,
    Side,
)
from lesiontrials.io import Volume
from lesiontrials.settings import load_settings
from lesiontrials.world.packaged import PackagedDataError
from lesiontrials.world.realct import (
    HostParams,
    HostSegmentation,
    host_facts,
    host_qc_png,
    load_real_examples,
    segment_host,
)
from lesiontrials.world.realct_lobes import assign_lobes
from lesiontrials.world.realct_tissue import BONE, LEFT_BACK_MUSCLE, RIGHT_BACK_MUSCLE

SPACING_MM = (2.5, 2.5, 5.0)
SHAPE = (128, 96, 36)
MID_X = 64.0  # voxels; right lung at higher x (RAS+)


# --------------------------------------------------------------------------- phantom
def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-centre coordinates in mm, broadcastable to SHAPE."""
    axes = [np.arange(n) * s for n, s in zip(SHAPE, SPACING_MM, strict=True)]
    return axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :]


def _ball(centre_mm: tuple[float, float, float], radii_mm: tuple[float, float, float]
          ) -> np.ndarray:
    x, y, z = _grid()
    return (((x - centre_mm[0]) / radii_mm[0]) ** 2 + ((y - centre_mm[1]) / radii_mm[1]) ** 2
            + ((z - centre_mm[2]) / radii_mm[2]) ** 2) <= 1.0


def _tube(z_from: int, z_to: int, x_at, y_mm: float, radius_mm: float) -> np.ndarray:
    """A tube of axial discs from slice ``z_from`` to ``z_to`` (inclusive), centre x_at(z)."""
    x, y, _ = _grid()
    out = np.zeros(SHAPE, dtype=bool)
    for z in range(z_from, z_to + 1):
        out[:, :, z] = ((x[:, :, 0] - x_at(z)) ** 2 + (y[:, :, 0] - y_mm) ** 2) <= radius_mm**2
    return out


def make_phantom(*, lesion_radius_mm: float = 10.0, touching_lungs: bool = False,
                 bones: bool = False, seed: int = 0) -> tuple[Volume, np.ndarray]:
    """Soft-tissue body ellipse, two lungs at -850 HU, trachea + bronchi, pleural lesion;
    with ``bones`` a spine (vertebral body, bony ring round a canal), a sternum and a
    calcification between the lungs (see :data:`BONE_PHANTOM`)."""
    rng = np.random.default_rng(seed)
    x, y, _ = _grid()
    cx, cy = MID_X * SPACING_MM[0], 48 * SPACING_MM[1]
    body = (((x - cx) / 150.0) ** 2 + ((y - cy) / 110.0) ** 2 <= 1.0) & np.ones(SHAPE, bool)
    ct = np.where(body, 40.0, -1000.0)
    lung_radii = (50.0, 75.0, 65.0)
    right = _ball((cx + 65.0, cy, 80.0), lung_radii)
    left = _ball((cx - 65.0, cy, 80.0), lung_radii)
    ct[right | left] = -850.0
    if touching_lungs:  # an anterior junction: the lungs meet in front of the mediastinum
        ct[(np.abs(x - cx) < 45.0) & (np.abs(y - (cy + 62.0)) < 6.0)
           & (np.abs(_grid()[2] - 80.0) < 40.0)] = -850.0
    trachea_y = cy + 10.0
    airway = _tube(22, SHAPE[2] - 1, lambda z: cx, trachea_y, 8.0)
    for sign in (1.0, -1.0):
        airway |= _tube(15, 21, lambda z, s=sign: cx + s * 10.0 * (22 - z), trachea_y, 5.0)
    ct[airway] = -1000.0
    # Touching the chest wall: tangent to the lung's lateral surface (x half-width 48.6 mm at
    # z = 95 mm), from inside the pleural cavity.
    edge_x = cx + 65.0 + 48.6
    lesion = _ball((edge_x - lesion_radius_mm, cy, 95.0), (lesion_radius_mm,) * 3) & body
    ct[lesion] = 40.0
    if bones:
        for mask, hu in _bone_parts().values():
            ct[mask] = hu
    ct += rng.normal(0.0, 15.0, SHAPE)
    affine = np.diag([*SPACING_MM, 1.0])
    affine[:3, 3] = (-160.0, -120.0, -300.0)
    return Volume(array=np.rint(ct).astype(np.int16), affine=affine), lesion


def _bone_parts() -> dict[str, tuple[np.ndarray, float]]:
    """Masks and HU of the bone phantom's parts (body centre x = 160 mm, y = 120 mm)."""
    x, y, z = _grid()
    along = (z >= 10.0) & (z <= 165.0)
    vertebra = ((x - 160.0) ** 2 + (y - 52.0) ** 2 <= 12.0**2) & along
    ring_r2 = (x - 160.0) ** 2 + (y - 28.0) ** 2
    canal = (ring_r2 <= 6.0**2) & along
    ring = (ring_r2 <= 11.0**2) & ~canal & along
    sternum = (np.abs(x - 160.0) <= 10.0) & (np.abs(y - 206.0) <= 5.0) & (z >= 30.0) & (
        z <= 130.0)
    calcification = _ball((160.0, 100.0, 60.0), (6.0, 6.0, 6.0))
    return {"bone": (vertebra | ring, 450.0), "canal": (canal, 25.0),
            "sternum": (sternum, 450.0), "calcification": (calcification, 500.0)}


@pytest.fixture(scope="module")
def phantom() -> tuple[Volume, np.ndarray, HostSegmentation]:
    ct, lesion = make_phantom()
    return ct, lesion, segment_host(ct, lesion_mask=lesion.astype(np.uint8))


def _lobe_mask(labels: np.ndarray, *lobes: Lobe) -> np.ndarray:
    return np.isin(labels, [LOBE_LABEL_IDS[lobe] for lobe in lobes])


# --------------------------------------------------------------------------- synthetic tests
def test_lungs_on_the_right_sides(phantom) -> None:
    _, _, host = phantom
    labels = host.labels.array
    right = np.argwhere(_lobe_mask(labels, Lobe.RUL, Lobe.RML, Lobe.RLL))
    left = np.argwhere(_lobe_mask(labels, Lobe.LUL, Lobe.LLL))
    assert right[:, 0].min() > MID_X > left[:, 0].max()
    true_ml = 4.0 / 3.0 * np.pi * 50.0 * 75.0 * 65.0 / 1000.0  # one lung ellipsoid
    for side in Side:
        assert 0.8 * true_ml < host.lung_volume_ml[side] < 1.25 * true_ml
    assert host.labels.array.dtype == np.uint8
    np.testing.assert_array_equal(host.labels.affine, phantom[0].affine)


def test_pleural_lesion_is_inside_the_lung(phantom) -> None:
    _, lesion, host = phantom
    assert host.lesion_in_lung_fraction == 1.0
    assert np.isin(host.labels.array[lesion], LOBE_LABELS).all()
    assert host.lesion_lobe is not None and host.lesion_lobe.side is Side.RIGHT
    assert 23 not in np.unique(host.labels.array)  # nodule-free host map


def test_five_connected_lobes_on_the_right_sides(phantom) -> None:
    _, _, host = phantom
    labels = host.labels.array
    for lobe in Lobe:
        mask = _lobe_mask(labels, lobe)
        assert mask.any(), lobe
        xs = np.argwhere(mask)[:, 0]
        assert (xs > MID_X).all() if lobe.side is Side.RIGHT else (xs < MID_X).all()
        assert cc3d.connected_components(mask, connectivity=6).max() == 1, lobe
        assert host.lobe_volume_ml[lobe] > 0.0
    z_centre = {lobe: np.argwhere(_lobe_mask(labels, lobe))[:, 2].mean() for lobe in Lobe}
    assert z_centre[Lobe.RUL] > z_centre[Lobe.RML] and z_centre[Lobe.RUL] > z_centre[Lobe.RLL]
    assert z_centre[Lobe.LUL] > z_centre[Lobe.LLL]
    assert host.truncated == (False, False)


def test_trachea_above_bronchi_and_body_around(phantom) -> None:
    ct, _, host = phantom
    labels = host.labels.array
    trachea_z = np.nonzero((labels == TRACHEA).any(axis=(0, 1)))[0]
    bronchi_z = np.nonzero((labels == AIRWAY).any(axis=(0, 1)))[0]
    assert trachea_z.size and bronchi_z.size
    assert trachea_z.min() > bronchi_z.max()
    assert trachea_z.max() == SHAPE[2] - 1
    assert host.carina_z_mm == pytest.approx(ct.voxel_to_world([0, 0, 22])[2])
    assert (labels == BODY).sum() > 0
    assert labels[0, 0, 0] == 0 and labels[int(MID_X), 48, 0] == BODY


def test_small_pleural_nodule_kept_without_a_mask() -> None:
    ct, lesion = make_phantom(lesion_radius_mm=7.0)
    host = segment_host(ct)
    assert host.lesion_in_lung_fraction is None
    lung = np.isin(host.labels.array, LOBE_LABELS)
    # The rolling ball fills the notch; only the voxels flush with the chest wall (same HU,
    # so invisible without a mask) may stay outside: one voxel layer at most.
    assert lung[lesion].mean() >= 0.85
    assert ndimage.binary_dilation(lung, structure=np.ones((3, 3, 1), bool))[lesion].all()


def test_touching_lungs_are_split_at_the_midline() -> None:
    ct, lesion = make_phantom(touching_lungs=True)
    host = segment_host(ct, lesion_mask=lesion)
    labels = host.labels.array
    right = _lobe_mask(labels, Lobe.RUL, Lobe.RML, Lobe.RLL)
    left = _lobe_mask(labels, Lobe.LUL, Lobe.LLL)
    assert host.lung_volume_ml[Side.RIGHT] > 300 and host.lung_volume_ml[Side.LEFT] > 300
    assert np.argwhere(right)[:, 0].mean() > MID_X > np.argwhere(left)[:, 0].mean()


def test_lobes_cope_with_a_lung_cut_by_the_scan(phantom) -> None:
    _, _, host = phantom
    full = host.labels.array
    right, left = np.isin(full, (30, 31, 32)), np.isin(full, (28, 29))
    height_mm = (np.ptp(np.nonzero(right.any(axis=(0, 1)))[0]) + 1) * SPACING_MM[2]
    # The scan starts above the lung base: the missing end is extrapolated to the typical
    # height, so the lobes of the voxels kept barely change.
    labels, truncated = assign_lobes(right[:, :, 12:], left[:, :, 12:], spacing_mm=SPACING_MM,
                                     typical_height_mm=height_mm)
    assert truncated == (True, False)
    assert set(np.unique(labels)) == {0, *LOBE_LABELS}
    kept = full[:, :, 12:]
    lung = np.isin(kept, LOBE_LABELS)
    assert (labels[lung] == kept[lung]).mean() > 0.9
    empty, cut = assign_lobes(np.zeros_like(right), np.zeros_like(left), spacing_mm=SPACING_MM)
    assert not empty.any() and cut == (False, False)


def test_scan_of_the_lower_chest_only() -> None:
    ct, _ = make_phantom()
    lower = Volume(array=ct.array[:, :, :18].copy(), affine=ct.affine)
    host = segment_host(lower)
    labels = host.labels.array
    assert host.carina_z_mm is None and TRACHEA not in labels  # no trachea in the scan
    assert host.truncated == (False, True)
    assert host.lung_volume_ml[Side.RIGHT] > 200 and host.lung_volume_ml[Side.LEFT] > 200
    assert host.lobe_volume_ml[Lobe.RLL] > 0 and host.lobe_volume_ml[Lobe.LLL] > 0


def test_lesion_mask_shape_is_checked() -> None:
    ct, _ = make_phantom()
    with pytest.raises(ValueError, match="shape"):
        segment_host(ct, lesion_mask=np.zeros((2, 2, 2), dtype=np.uint8))


def test_qc_png_is_rendered(phantom) -> None:
    ct, lesion, host = phantom
    png = host_qc_png(ct, host, lesion_mask=lesion, title="phantom")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert host_qc_png(ct, host)[:8] == b"\x89PNG\r\n\x1a\n"  # no lesion: lung centre


def test_bones_sternum_and_spinal_cord(phantom) -> None:
    ct, lesion = make_phantom(bones=True)
    host = segment_host(ct, lesion_mask=lesion)
    labels = host.labels.array
    parts = _bone_parts()
    spine, _ = parts["bone"]
    assert (labels[spine] == BONE).mean() > 0.9
    assert (labels[parts["sternum"][0]] == STERNUM).mean() > 0.9
    assert not np.isin(labels[parts["sternum"][0]], (BONE,)).any()
    canal = labels[parts["canal"][0]]
    assert (canal == SPINAL_CORD).mean() > 0.8 and not (labels[spine] == SPINAL_CORD).any()
    assert not np.isin(labels[parts["calcification"][0]], (BONE, STERNUM)).any()
    np.testing.assert_array_equal(labels[lesion], phantom[2].labels.array[lesion])  # lobes kept
    assert host.lung_volume_ml == pytest.approx(phantom[2].lung_volume_ml)
    assert not np.isin(phantom[2].labels.array, (BONE, STERNUM, SPINAL_CORD)).any()


def test_soft_organs_are_opt_in() -> None:
    ct, lesion = make_phantom(bones=True)
    host = segment_host(ct, lesion_mask=lesion, params=HostParams(soft_organs=True))
    labels = host.labels.array
    heart = np.argwhere(labels == HEART)
    back = np.argwhere(np.isin(labels, (LEFT_BACK_MUSCLE, RIGHT_BACK_MUSCLE)))
    assert heart.size and back.size
    right = np.argwhere(_lobe_mask(labels, Lobe.RUL, Lobe.RML, Lobe.RLL))
    left = np.argwhere(_lobe_mask(labels, Lobe.LUL, Lobe.LLL))
    assert left[:, 0].max() < heart[:, 0].mean() < right[:, 0].min()  # between the lungs
    assert heart[:, 1].min() > 28.0 / SPACING_MM[1]  # in front of the spinal canal
    assert back[:, 1].max() < 52.0 / SPACING_MM[1]  # behind the vertebral body's centre
    assert host.lesion_in_lung_fraction == 1.0


def _contrast_phantom() -> tuple[Volume, dict[str, np.ndarray]]:
    """The bone phantom with a realistic vertebra (130 HU marrow, 900 HU cortex) and an
    enhanced blood pool at 500 HU: a heart between the lungs and an aorta against the spine."""
    ct, _ = make_phantom(bones=True)
    hu = ct.array.astype(float)
    x, y, z = _grid()
    along = (z >= 10.0) & (z <= 165.0)
    r2 = (x - 160.0) ** 2 + (y - 52.0) ** 2
    marrow = (r2 <= 10.0**2) & along
    vertebra = (r2 <= 12.0**2) & along
    hu[vertebra] = 900.0
    hu[marrow] = 130.0
    heart = _ball((160.0, 120.0, 70.0), (28.0, 28.0, 28.0))
    aorta = ((x - 178.0) ** 2 + (y - 70.0) ** 2 <= 9.0**2) & (z >= 40.0) & (z <= 120.0)
    aorta &= ~vertebra
    hu[heart | aorta] = 500.0
    volume = Volume(array=np.rint(hu).astype(np.int16), affine=ct.affine)
    return volume, {"heart": heart, "aorta": aorta, "vertebra": vertebra}


def test_contrast_blood_pool_is_kept_out_of_the_bone() -> None:
    ct, parts = _contrast_phantom()
    plain = segment_host(ct).labels.array
    enhanced = segment_host(ct, params=HostParams(contrast_blood_hu=(150.0, 800.0))).labels.array
    assert (plain[parts["heart"]] == BONE).mean() > 0.5  # the default takes blood for bone
    assert (enhanced[parts["heart"]] == BONE).mean() < 0.05
    assert (enhanced[parts["aorta"]] == BONE).mean() < 0.1
    assert (enhanced[parts["vertebra"]] == BONE).mean() > 0.9
    with pytest.raises(ValueError, match="contrast_blood_hu"):
        segment_host(ct, params=HostParams(contrast_blood_hu=(800.0, 150.0)))


# --------------------------------------------------------------------------- real CTs
@pytest.fixture(scope="module")
def real_hosts() -> list[tuple]:
    try:
        examples = load_real_examples(load_settings().cache_dir)
    except PackagedDataError as exc:
        pytest.skip(f"packaged real CTs not available: {exc}")
    out = []
    for example in examples:
        start = time.perf_counter()
        lesion = None if example.lesion is None else example.lesion.array
        host = segment_host(example.ct, lesion_mask=lesion, params=example.params)
        out.append((example, host, time.perf_counter() - start))
    return out


def test_real_examples_are_loaded(real_hosts) -> None:
    names = [example.name for example, _, _ in real_hosts]
    assert names == ["lung1", "lung2", "chest1"]
    for example, _, _ in real_hosts:
        assert example.ct.array.dtype == np.int16
        if example.name == "chest1":  # TotalSegmentator's full-chest test CT, no annotation
            assert example.lesion is None and example.params.contrast_blood_hu is not None
            assert example.ct.shape == (233, 167, 191)
            assert example.ct.spacing_mm == pytest.approx((1.5, 1.5, 1.5))
            assert "Apache-2.0" in example.license and "totalsegmentator" in example.source
            assert "Wasserthal" in example.citation
            continue
        assert example.lesion is not None and example.lesion.array.dtype == np.uint8
        assert set(np.unique(example.lesion.array)) == {0, 1}
        assert example.ct.shape == example.lesion.shape
        assert "BSD" in example.license and "pyradiomics" in example.source


def test_real_lesions_inside_lungs_in_the_expected_lobes(real_hosts) -> None:
    expected = {"lung1": Lobe.RUL, "lung2": Lobe.LLL, "chest1": None}
    for example, host, _ in real_hosts:  # its time: a benchmark's business, not a test's
        if example.lesion is not None:
            assert host.lesion_in_lung_fraction >= 0.99, example.name
        else:
            assert host.lesion_in_lung_fraction is None
        assert host.lesion_lobe is expected[example.name], example.name
        for side in Side:  # both CTs cover most of the chest
            assert 800.0 < host.lung_volume_ml[side] < 3500.0, (example.name, side)
        assert all(ml > 100.0 for ml in host.lobe_volume_ml.values()), example.name
        assert host.carina_z_mm is not None
        assert host.truncated == (False, False) or example.name != "chest1"


def test_contrast_blood_pool_of_the_real_contrast_ct_is_not_bone(real_hosts) -> None:
    """chest1 is contrast-enhanced (aorta and heart chambers 430-590 HU): with its blood band
    the mediastinal blood pool stays body, while spine, ribs and sternum remain bone."""
    from lesiontrials.world.realct_tissue import chest_cavity

    example, host, _ = next(h for h in real_hosts if h[0].name == "chest1")
    labels, hu = host.labels.array, example.ct.array
    cavity = chest_cavity(np.isin(labels, LOBE_LABELS))
    blood = cavity & (hu > 400) & (hu < 600)
    as_bone = np.isin(labels[blood], (BONE, STERNUM)).mean()
    assert as_bone < 0.2, as_bone
    plain = segment_host(example.ct)  # the non-contrast thresholds take the blood for bone
    assert np.isin(plain.labels.array[blood], (BONE, STERNUM)).mean() > 0.5
    assert (labels == STERNUM).any() and (labels == SPINAL_CORD).any()


def test_analytic_renders_of_real_hosts_match_their_hu_histograms(real_hosts) -> None:
    """HU-histogram intersection (8 HU bins) of analytic renders of the two real hosts'
    label maps with their real CT, inside the body and the lungs, two seeds each.

    The bone, sternum and spinal-cord labels raise the body score from 0.71-0.76 to
    0.76-0.79 (seeds 0-3; ``benchmarks/RESULTS.md``), short of the study's 0.80 for reasons
    the label map cannot carry: the analytic renderer paints the remaining body label as a
    fat / muscle / deep-tissue layering by depth, while these patients' real body holds
    about twice as many fat-muscle partial-volume voxels (-80...0 HU at 5 mm slices) and
    less pure muscle; their bone is a broad 100-700 HU partial-volume spread, rendered as
    flat marrow plus a cortex shell. The lungs (0.73-0.85 by seed) are untouched by the
    new labels: lung2's parenchyma is 20-50 HU denser than the renderer's lung range centre
    and has a larger vessel tail, and the per-case lung-density draw moves the score by
    about 0.1. We assert what is reached, and that the new labels help.
    """
    from lesiontrials.render import Acquisition, AnalyticRenderer
    from lesiontrials.render.fidelity.fidelity import host_histograms

    for example, host, _ in real_hosts:
        if example.params.contrast_blood_hu is not None:
            continue  # the analytic renderer paints no enhanced blood: not comparable
        labels = host.labels.array
        bare = np.where(np.isin(labels, (BONE, STERNUM, SPINAL_CORD)), BODY, labels)
        acquisition = Acquisition.from_record({"slice_thickness_mm": 5.0, "kernel": "unknown"})
        for seed in (0, 1):
            scores = [host_histograms(AnalyticRenderer().render(
                labels=lab.astype(np.uint8), spacing_mm=example.ct.spacing_mm, lesions=[],
                acquisition=acquisition, seed=seed).hu, example.ct.array, lab)
                for lab in (labels, bare)]
            now, before = scores
            assert now["hist_intersection_body"] >= 0.75, (example.name, seed, now)
            assert now["hist_intersection_body"] >= before["hist_intersection_body"] + 0.02
            assert now["hist_intersection_lungs"] >= 0.70, (example.name, seed, now)


def test_host_facts_measure_the_lung_median() -> None:
    labels = np.zeros((6, 6, 4), dtype=np.uint8)
    labels[1:5, 1:5, :] = 200
    labels[2:4, 2:4, :2] = 30
    labels[2:4, 2:4, 2:] = 28
    ct = np.where(labels == 200, 40, -1000).astype(np.int16)
    ct[labels == 30] = -900
    ct[labels == 28] = -820
    ct[2, 2, 3] = 50  # a vessel does not move the median much
    facts = host_facts(Volume(ct, np.eye(4)), labels)
    assert facts["lung_density_hu"] == -860.0
    assert np.isnan(facts["psf_sigma_xy_mm"])  # a one-voxel vessel: no measurable edge


def test_host_facts_measure_the_vessels_blur() -> None:
    """Two 4–5 mm vessels blurred in-plane by 0.9 mm: the stored PSF is that blur. A third,
    sharp 'vessel' (the host's own lesion, blurred by 0.2 mm) counts unless it is given as
    the lesion, whose 20 mm surroundings are left out."""
    from scipy import ndimage

    spacing = (0.6, 0.6, 2.0)
    axis = np.arange(120) * spacing[0]
    x, y = np.meshgrid(axis, axis, indexing="ij")
    vessels = np.zeros((120, 120), np.float32)
    for cx, cy, r in ((15.0, 15.0, 2.5), (15.0, 45.0, 2.0)):
        vessels[np.hypot(x - cx, y - cy) <= r] = 1.0
    sharp = (np.hypot(x - 55.0, y - 55.0) <= 4.0).astype(np.float32)
    image = -850.0 + 890.0 * np.maximum(ndimage.gaussian_filter(vessels, 0.9 / spacing[0]),
                                        ndimage.gaussian_filter(sharp, 0.2 / spacing[0]))
    ct = np.rint(np.repeat(image[:, :, None], 6, axis=2)).astype(np.int16)
    labels = np.full(ct.shape, 28, np.uint8)
    volume = Volume(ct, np.diag([*spacing, 1.0]))
    lesion = np.repeat((sharp > 0)[:, :, None], 6, axis=2)
    with_lesion = host_facts(volume, labels)["psf_sigma_xy_mm"]
    assert host_facts(volume, labels, lesion=lesion)["psf_sigma_xy_mm"] == pytest.approx(
        0.9, rel=0.2)
    assert with_lesion < 0.8  # the sharp object would have counted as a vessel
    assert np.isnan(host_facts(Volume(ct, np.eye(4)), np.zeros_like(labels))[
        "lung_density_hu"])
