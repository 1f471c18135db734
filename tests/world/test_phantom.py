"""Procedural thorax phantoms: determinism, label set, anatomy, volumes, grids, QC."""

from __future__ import annotations

import time
from dataclasses import replace

import cc3d
import edt
import numpy as np
import pytest
from scipy import ndimage

from lesiontrials.anatomy import (
    AIRWAY,
    AORTA,
    BODY,
    ESOPHAGUS,
    HEART,
    LABEL_IDS,
    LEFT_RIBS,
    LOBE_LABELS,
    NODULE,
    PULMONARY_VEIN,
    RIGHT_RIBS,
    SPINAL_CORD,
    STERNUM,
    SUPERIOR_VENA_CAVA,
    TRACHEA,
)
from lesiontrials.io import Volume
from lesiontrials.world.phantom import (
    REFERENCE_LOBE_FRACTIONS,
    PhantomParams,
    generate_phantom,
    lobe_volumes_ml,
    phantom_grid,
    qc_montage,
    sample_phantom_params,
)

DEMO = phantom_grid("coarse")  # the fast grid these shape tests run on
RIGHT_LOBES = (30, 31, 32)
LEFT_LOBES = (28, 29)
HOSTS = (
    PhantomParams("M", 62.0, 178.0, 27.0, shape_seed=11),
    PhantomParams("F", 68.0, 160.0, 31.0, shape_seed=12),
    PhantomParams("M", 71.0, 170.0, 22.0, shape_seed=13),
)


def _demo(params: PhantomParams) -> Volume:
    return generate_phantom(params, shape=DEMO.shape, spacing_mm=DEMO.spacing_mm)


@pytest.fixture(scope="module")
def demo_hosts() -> list[Volume]:
    return [_demo(p) for p in HOSTS]


def _centroid_mm(volume: Volume, labels: tuple[int, ...]) -> np.ndarray:
    idx = np.argwhere(np.isin(volume.array, labels))
    assert len(idx), f"labels {labels} missing"
    return volume.voxel_to_world(idx.mean(axis=0))


# --- parameters and grids -----------------------------------------------------------
def test_sample_params_are_realistic_and_seeded() -> None:
    rng = np.random.default_rng(0)
    hosts = [sample_phantom_params(rng) for _ in range(400)]
    assert {h.sex for h in hosts} == {"M", "F"}
    assert all(55.0 <= h.age_years <= 75.0 for h in hosts)
    assert all(17.0 <= h.bmi <= 45.0 for h in hosts)
    men = np.mean([h.height_cm for h in hosts if h.sex == "M"])
    women = np.mean([h.height_cm for h in hosts if h.sex == "F"])
    assert 170.0 < men < 180.0 and 155.0 < women < 166.0
    again = [sample_phantom_params(np.random.default_rng(0)) for _ in range(1)]
    assert again[0] == hosts[0]
    only_women = sample_phantom_params(np.random.default_rng(1), sex="F", age_range=(40, 45))
    assert only_women.sex == "F" and 40.0 <= only_women.age_years <= 45.0


def test_params_validation() -> None:
    with pytest.raises(ValueError, match="sex"):
        PhantomParams("X", 60.0, 170.0, 25.0, 0)
    with pytest.raises(ValueError, match="bmi"):
        PhantomParams("M", 60.0, 170.0, 99.0, 0)
    with pytest.raises(ValueError, match="shape_seed"):
        PhantomParams("M", 60.0, 170.0, 25.0, -1)


def test_named_grids() -> None:
    full = phantom_grid("full")
    assert full.shape[:2] == (512, 512) and 280 <= full.shape[2] <= 340
    assert np.allclose(full.extent_mm, DEMO.extent_mm)
    with pytest.raises(ValueError, match="coarse"):
        phantom_grid("huge")


# --- determinism ----------------------------------------------------------------------
def test_same_params_same_bytes_and_seed_changes_shape(demo_hosts: list[Volume]) -> None:
    again = _demo(HOSTS[0])
    assert again.array.tobytes() == demo_hosts[0].array.tobytes()
    assert np.array_equal(again.affine, demo_hosts[0].affine)
    other = _demo(replace(HOSTS[0], shape_seed=HOSTS[0].shape_seed + 1))
    assert (other.array != demo_hosts[0].array).mean() > 0.005


# --- labels and grid ------------------------------------------------------------------
def test_label_set(demo_hosts: list[Volume]) -> None:
    vertebrae = {LABEL_IDS[f"vertebrae T{i}"] for i in range(1, 13)}
    required = {*LOBE_LABELS, TRACHEA, AIRWAY, HEART, AORTA, ESOPHAGUS, SUPERIOR_VENA_CAVA,
                PULMONARY_VEIN, SPINAL_CORD, STERNUM, BODY, *LEFT_RIBS, *RIGHT_RIBS,
                *vertebrae}
    for volume in demo_hosts:
        assert volume.array.dtype == np.uint8
        present = set(np.unique(volume.array).tolist())
        assert required <= present, sorted(required - present)
        assert NODULE not in present
        assert present <= {0, *range(1, 133), BODY}


def test_spacing_affine_and_centring(demo_hosts: list[Volume]) -> None:
    volume = demo_hosts[0]
    assert volume.shape == DEMO.shape
    assert np.allclose(volume.spacing_mm, DEMO.spacing_mm)
    assert np.allclose(volume.affine[:3, :3], np.diag(DEMO.spacing_mm))
    centre = volume.voxel_to_world((np.array(DEMO.shape) - 1) / 2.0)
    assert np.allclose(centre, 0.0)
    body = _centroid_mm(volume, tuple(range(1, 256)))
    assert abs(body[0]) < 10.0 and abs(body[1]) < 20.0


def test_other_grid_gives_the_same_anatomy(demo_hosts: list[Volume]) -> None:
    spacing = (4.0, 3.5, 5.0)
    volume = generate_phantom(HOSTS[0], shape=(96, 110, 64), spacing_mm=spacing)
    assert np.allclose(volume.spacing_mm, spacing)
    total = sum(lobe_volumes_ml(volume.array, spacing).values())
    reference = sum(lobe_volumes_ml(demo_hosts[0].array, DEMO.spacing_mm).values())
    assert abs(total / reference - 1.0) < 0.05


# --- volumes --------------------------------------------------------------------------
def _check_lung_volumes(labels: np.ndarray, spacing: tuple[float, float, float]) -> None:
    volumes = lobe_volumes_ml(labels, spacing)
    total = sum(volumes.values())
    assert 4000.0 <= total <= 7000.0, total
    for name, reference in REFERENCE_LOBE_FRACTIONS.items():
        assert abs(volumes[name] / total - reference) <= 0.05, (name, volumes[name] / total)


def test_lung_volume_and_lobe_fractions_demo(demo_hosts: list[Volume]) -> None:
    for volume in demo_hosts:
        _check_lung_volumes(volume.array, DEMO.spacing_mm)


def test_size_follows_the_host() -> None:
    small = _demo(PhantomParams("F", 65.0, 152.0, 24.0, shape_seed=5))
    large = _demo(PhantomParams("M", 65.0, 188.0, 24.0, shape_seed=5))
    lungs = [sum(lobe_volumes_ml(v.array, DEMO.spacing_mm).values()) for v in (small, large)]
    assert lungs[1] > 1.25 * lungs[0]
    obese = _demo(PhantomParams("M", 65.0, 188.0, 38.0, shape_seed=5))
    body = [np.count_nonzero(v.array) for v in (large, obese)]
    assert body[1] > 1.1 * body[0]


def test_lobe_volumes_ml_counts_voxels() -> None:
    labels = np.zeros((4, 4, 4), dtype=np.uint8)
    labels[0, 0, :2] = 30
    labels[1] = 28
    volumes = lobe_volumes_ml(labels, (2.0, 2.0, 2.5))
    assert volumes["right_lung_upper_lobe"] == pytest.approx(2 * 10.0 / 1000.0)
    assert volumes["left_lung_upper_lobe"] == pytest.approx(16 * 10.0 / 1000.0)
    assert volumes["right_lung_middle_lobe"] == 0.0


# --- anatomy --------------------------------------------------------------------------
def test_each_lobe_is_one_component(demo_hosts: list[Volume]) -> None:
    for volume in demo_hosts:
        for label in LOBE_LABELS:
            _, n = cc3d.connected_components(volume.array == label, connectivity=6,
                                             return_N=True)
            assert n == 1, (label, n)


def _base_height_mm(volume: Volume, lobes: tuple[int, ...]) -> float:
    """Median z of the lung base under the lateral half of one lung (the dome)."""
    lung = np.isin(volume.array, lobes)
    columns = lung.any(axis=2)
    lowest = np.argmax(lung, axis=2).astype(float)
    xs = np.nonzero(columns.any(axis=1))[0]
    centre_x = np.abs(volume.voxel_to_world(np.stack(
        [xs, np.zeros_like(xs), np.zeros_like(xs)], axis=1))[:, 0])
    lateral = xs[centre_x > np.median(centre_x)]
    values = lowest[lateral][columns[lateral]]
    return float(np.median(values) * volume.spacing_mm[2] + volume.affine[2, 3])


def test_right_dome_higher_than_left(demo_hosts: list[Volume]) -> None:
    for volume in demo_hosts:
        assert _base_height_mm(volume, RIGHT_LOBES) > _base_height_mm(volume, LEFT_LOBES) + 4.0


def test_orientation_right_lung_at_higher_x_and_heart_left(demo_hosts: list[Volume]) -> None:
    for volume in demo_hosts:
        right, left = _centroid_mm(volume, RIGHT_LOBES), _centroid_mm(volume, LEFT_LOBES)
        assert right[0] > 40.0 and left[0] < -40.0
        assert _centroid_mm(volume, (HEART,))[0] < -5.0
        spine = _centroid_mm(volume, (SPINAL_CORD,))
        assert spine[1] < right[1] and spine[1] < _centroid_mm(volume, (STERNUM,))[1]


def test_lungs_are_enclosed_and_bones_ordered(demo_hosts: list[Volume]) -> None:
    for volume in demo_hosts:
        labels = volume.array
        lung = np.isin(labels, LOBE_LABELS)
        rim = ndimage.binary_dilation(lung) & ~lung
        assert not np.any(labels[rim] == 0)  # lungs never touch the air outside the body
        z = [_centroid_mm(volume, (LABEL_IDS[f"vertebrae T{i}"],))[2] for i in range(1, 13)]
        assert np.all(np.diff(z) < 0)  # T1 on top, T12 at the bottom
        for ids, sign in ((RIGHT_RIBS, 1.0), (LEFT_RIBS, -1.0)):
            first, last = _centroid_mm(volume, (ids[0],)), _centroid_mm(volume, (ids[-1],))
            assert sign * first[0] > 0 and sign * last[0] > 0
            assert first[2] > last[2]


def test_trachea_carina_and_airways(demo_hosts: list[Volume]) -> None:
    for volume in demo_hosts:
        labels = volume.array
        trachea = np.argwhere(labels == TRACHEA)
        airway = np.argwhere(labels == AIRWAY)
        assert trachea[:, 2].max() == labels.shape[2] - 1  # leaves the top of the scan
        carina_k = trachea[:, 2].min()
        assert carina_k > np.median(airway[:, 2])  # bronchi branch below the carina
        lung = np.isin(labels, LOBE_LABELS)
        lung_k = np.nonzero(lung.any(axis=(0, 1)))[0]
        assert lung_k[0] < carina_k < lung_k[-1]
        distance = edt.edt(~lung, anisotropy=volume.spacing_mm)
        near = distance[labels == AIRWAY] <= 6.0
        assert near.mean() > 0.8
        vessel = distance[labels == PULMONARY_VEIN] <= 6.0
        assert vessel.mean() > 0.6


# --- QC -------------------------------------------------------------------------------
def test_qc_montage_writes_png(tmp_path, demo_hosts: list[Volume]) -> None:
    path = qc_montage(demo_hosts[:2], tmp_path / "qc.png", titles=["a", "b"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        qc_montage(demo_hosts[:2], tmp_path / "bad.png", titles=["only one"])


# --- full size ------------------------------------------------------------------------
@pytest.mark.slow
def test_full_size_host() -> None:
    grid = phantom_grid("full")
    start = time.perf_counter()
    volume = generate_phantom(HOSTS[0], shape=grid.shape, spacing_mm=grid.spacing_mm)
    elapsed = time.perf_counter() - start
    assert elapsed < 60.0
    _check_lung_volumes(volume.array, grid.spacing_mm)
    for label in LOBE_LABELS:
        _, n = cc3d.connected_components(volume.array == label, connectivity=6, return_N=True)
        assert n == 1, (label, n)
    demo = sum(lobe_volumes_ml(_demo(HOSTS[0]).array, DEMO.spacing_mm).values())
    full = sum(lobe_volumes_ml(volume.array, grid.spacing_mm).values())
    assert abs(full / demo - 1.0) < 0.04
