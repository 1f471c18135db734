"""A donor's own HU texture reaches the render: read from its scan's CT in the data root,
less the scan's noise; donors without a CT keep the descriptors' texture; renders with
either are repeatable, and lesion HU statistics follow their source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lesiontrials.donors import crop_volume
from lesiontrials.errors import InputError
from lesiontrials.geometry import NoduleMask
from lesiontrials.io import Volume, VolumeKind, write_volume
from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.paths import DataRoot
from lesiontrials.records.insert import InsertedNodule
from lesiontrials.render.appearance.lesion import lesion_layer, sample_lesion_params
from lesiontrials.render.appearance.texture_source import donor_texture
from lesiontrials.testing import ellipsoid_mask
from lesiontrials.testing_records import inserted_nodule, planned_nodule

SPACING = (0.7, 0.7, 2.5)
NOISE_SD = 10.0


def _scan(seed: int = 0) -> tuple[np.ndarray, NoduleMask]:
    """A 128×128×16 scan: soft tissue (40 HU) on the left half, lung (−850 HU) on the
    right with a 16 mm lesion whose HU are skewed (a 35 HU mass with 10 % low pockets
    near −300 HU), white noise of ``NOISE_SD``."""
    rng = np.random.default_rng(seed)
    ct = np.full((128, 128, 16), -850.0)
    ct[:64] = 40.0
    kernel = ellipsoid_mask((8.0, 8.0, 8.0), SPACING)
    lesion = NoduleMask(kernel, (96 - kernel.shape[0] // 2, 64 - kernel.shape[1] // 2,
                                 8 - kernel.shape[2] // 2))
    values = rng.normal(35.0, 25.0, int(kernel.sum()))
    pocket = rng.random(values.size) < 0.10
    values[pocket] = rng.normal(-300.0, 60.0, int(pocket.sum()))
    region = ct[lesion.box]
    region[kernel] = values
    ct += rng.normal(0.0, NOISE_SD, ct.shape)
    return np.rint(ct).astype(np.int16), lesion


def _world(root: Path, *, with_ct: bool = True, mask_spacing: float = SPACING[0]
           ) -> InsertedNodule:
    ct, lesion = _scan()
    affine = np.diag([*SPACING, 1.0])
    data = DataRoot(root)
    if with_ct:
        write_volume(data.raw_ct("REALX", "scan1"), Volume(ct, affine), kind=VolumeKind.CT)
    mask_affine = np.diag([mask_spacing, SPACING[1], SPACING[2], 1.0])
    write_volume(data.nodule_seg("REALX", "scan1_n1"), crop_volume(lesion, mask_affine),
                 kind=VolumeKind.MASK)
    data.profiles_csv("REALX").parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"PatientID": "x", "AnnotationID": "scan1_n1",
                   "ct_path": "REALX/scan1.nii.gz"}]).to_csv(data.profiles_csv("REALX"),
                                                            index=False)
    planned = planned_nodule(diameter_mm=16.0,
                             donor_mask_path=data.relative(data.nodule_seg("REALX",
                                                                           "scan1_n1")))
    return inserted_nodule(0, lesion, affine, lobe=None, donor_uid="REALX/scan1_n1",
                           planned=planned)


def test_a_donor_with_a_ct_gives_its_own_texture_less_the_noise(tmp_path: Path) -> None:
    nodule = _world(tmp_path)
    texture = donor_texture(tmp_path, nodule)
    assert texture is not None
    quantiles = np.asarray(texture.quantiles_hu)
    assert texture.ct_path == "REALX/scan1.nii.gz"
    assert texture.noise_sd_hu == pytest.approx(NOISE_SD, rel=0.2)
    assert abs(float(np.mean(quantiles))) < 15.0  # about the mean
    assert stats.skew(quantiles) < -1.5  # the low pockets: a long left tail
    # the true texture SD (≈ 105 HU) — the scan's 10 HU noise is taken out, not kept
    true_sd = float(np.std(np.r_[np.full(900, 35.0), np.full(100, -300.0)]))
    assert float(np.std(quantiles)) == pytest.approx(true_sd, rel=0.25)


def test_no_ct_means_the_descriptors_texture_and_a_misplaced_mask_is_an_error(
        tmp_path: Path) -> None:
    assert donor_texture(tmp_path / "a", _world(tmp_path / "a", with_ct=False)) is None
    nodule = _world(tmp_path / "a")
    unnamed = nodule.model_copy(update={"planned": nodule.planned.model_copy(
        update={"donor_mask_path": ""})})
    assert donor_texture(tmp_path / "a", unnamed) is None
    with pytest.raises(InputError, match="not on its scan's CT grid"):
        donor_texture(tmp_path / "b", _world(tmp_path / "b", mask_spacing=0.5))


def _core_hu(descriptors: LesionDescriptors, seed: int,
             quantiles: tuple[float, ...] = ()) -> np.ndarray:
    kernel = ellipsoid_mask((8.0, 8.0, 8.0), (0.7, 0.7, 1.0))
    shape = tuple(n + 30 for n in kernel.shape)
    nodule = NoduleMask(kernel, (15, 15, 15))
    params = sample_lesion_params(descriptors, rng=np.random.default_rng(seed),
                                  texture_quantiles_hu=quantiles)
    layer = lesion_layer(params, mask=nodule, spacing_mm=(0.7, 0.7, 1.0), shape=shape)  # type: ignore[arg-type]
    inside = layer.alpha > 0.99
    return layer.hu[inside]


def test_lesion_hu_follow_the_descriptor_or_the_donor(tmp_path: Path) -> None:
    solid = _core_hu(LesionDescriptors(heterogeneity=0.3), 1)
    varied = _core_hu(LesionDescriptors(heterogeneity=0.9), 1)
    glass = _core_hu(LesionDescriptors(attenuation="ground_glass", solid_fraction=0.0), 1)
    assert abs(float(np.mean(solid)) - 35.0) < 30.0 and float(np.mean(glass)) < -450.0
    assert float(np.std(varied)) == pytest.approx(3.0 * float(np.std(solid)), rel=0.1)
    assert abs(stats.skew(varied)) < 0.5  # the descriptors' texture is Gaussian
    texture = donor_texture(tmp_path, _world(tmp_path))
    assert texture is not None
    donor = _core_hu(LesionDescriptors(heterogeneity=1.0), 1, texture.quantiles_hu)
    assert stats.skew(donor) < -1.0  # the donor's skewed distribution, not a Gaussian
    assert float(np.std(donor)) == pytest.approx(float(np.std(texture.quantiles_hu)),
                                                 rel=0.3)
    again = _core_hu(LesionDescriptors(heterogeneity=1.0), 1, texture.quantiles_hu)
    assert np.array_equal(donor, again)  # seeded per case: the same case, the same bytes
    assert not np.array_equal(donor, _core_hu(LesionDescriptors(heterogeneity=1.0), 2,
                                              texture.quantiles_hu))
    params = sample_lesion_params(LesionDescriptors(), rng=np.random.default_rng(0),
                                  texture_quantiles_hu=texture.quantiles_hu)
    assert params.summary()["texture_source"] == "donor_hu"
    assert sample_lesion_params(LesionDescriptors(), rng=np.random.default_rng(0)
                                ).summary()["texture_source"] == "descriptor"


def test_a_profile_row_without_ct_path_is_an_error(tmp_path: Path) -> None:
    nodule = _world(tmp_path)
    profiles = DataRoot(tmp_path).profiles_csv("REALX")
    pd.DataFrame([{"PatientID": "x", "AnnotationID": "scan1_n1", "ct_path": ""}]).to_csv(
        profiles, index=False)
    with pytest.raises(InputError, match="no ct_path"):
        donor_texture(tmp_path, nodule)
