"""A real host's lesion along z: its opacity on each slice is the continuous shape averaged
over that slice's own profile (a box of the slice thickness, then the rest of the host's
stored z spread as a Gaussian); an untrusted or missing reading falls back to the
slice-thickness model and the QC says so."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage

from lesiontrials import anatomy
from lesiontrials.geometry import NoduleMask
from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.render import Acquisition, HostCTRenderer, LesionSpec, ZSpread
from lesiontrials.render.appearance.lesion import MIN_EDGE_MM
from lesiontrials.render.backends.hostct import slice_profile
from lesiontrials.render.backends.scanner import psf_sigma_mm
from lesiontrials.shape_field import shape_from_mask
from lesiontrials.z_edge import Z_SPREAD_VERSION, z_spread_record

SPACING = (0.7, 0.7, 5.0)
SHAPE = (48, 48, 21)
HALF_MM = 6.5  # the slab's half thickness along z
SIDE_MM = 22.0  # the slab's side in-plane
CENTRE_Z = 10  # the slab is centred on this slice's centre
ACQ = Acquisition(slice_thickness_mm=5.0)
LUNG_HU, STEP_HU = -850.0, 900.0


@functools.cache
def _slab() -> LesionSpec:
    """A flat square slab, 22 × 22 mm in-plane and 13 mm thick, centred on slice 10: its
    continuous shape from a 0.25 mm mask, its host-grid mask on slices 9–11 (centroid on
    slice 10's centre). A sharp, smooth, solid lesion."""
    fine = 0.25
    n_xy, n_z = round(SIDE_MM / fine), round(2 * HALF_MM / fine)
    field = shape_from_mask(np.ones((n_xy, n_xy, n_z), bool), (fine, fine, fine))
    side = round(SIDE_MM / SPACING[0])
    start = (SHAPE[0] - side) // 2
    mask = NoduleMask(np.ones((side, side, 3), bool), (start, start, CENTRE_Z - 1))
    return LesionSpec(mask=mask, shape_field=field,
                      descriptors=LesionDescriptors(margin=5.0, lobulation=1.0,
                                                    spiculation=1.0))


def _opacity_profile(z_spread: ZSpread | None, seed: int = 3) -> tuple[np.ndarray, dict]:
    """Slices 8–12 of the inserted slab's opacity, read as the mean HU change over the
    slab's central 11 × 11 mm ÷ the change on the slab's middle slice (fully inside)."""
    labels = np.full(SHAPE, anatomy.LOBE_LABELS[0], dtype=np.uint8)
    labels[:, :4] = anatomy.BODY
    ct = np.full(SHAPE, LUNG_HU, dtype=np.int16)
    ct[:, :4] = LUNG_HU + STEP_HU
    result = HostCTRenderer(ct=ct, psf_sigma_xy_mm=0.8, z_spread=z_spread).render(
        labels=labels, spacing_mm=SPACING, lesions=[_slab()], acquisition=ACQ, seed=seed)
    centre = slice(SHAPE[0] // 2 - 8, SHAPE[0] // 2 + 8)
    change = (result.hu[centre, centre].astype(float) - LUNG_HU).mean(axis=(0, 1))
    return change[CENTRE_Z - 2:CENTRE_Z + 3] / change[CENTRE_Z], result.qc


def _expected(box_mm: float, gauss_mm: float) -> np.ndarray:
    """The slab's indicator averaged over a box of ``box_mm`` convolved with a Gaussian of
    ``gauss_mm``, at slices −10 … +10 mm from its centre (numerically, 0.01 mm steps)."""
    z = np.arange(-40.0, 40.0, 0.01)
    slab = (np.abs(z) <= HALF_MM).astype(float)
    box = ndimage.uniform_filter1d(slab, max(1, round(box_mm / 0.01)), mode="constant")
    sampled = ndimage.gaussian_filter1d(box, gauss_mm / 0.01, mode="constant")
    return np.interp(np.arange(-2, 3) * SPACING[2], z, sampled)


def _stored(sigma_mm: float, *, trusted: bool = True, version: int = Z_SPREAD_VERSION
            ) -> ZSpread:
    return ZSpread(sigma_mm=sigma_mm, trusted=trusted, version=version,
                   note="" if trusted else "test: not trusted")


@pytest.mark.parametrize("sigma_mm", [1.0, 3.0])
def test_a_slab_renders_with_the_stored_spreads_partial_volume_along_z(sigma_mm: float) -> None:
    """A 13 mm slab centred on a slice: the slices 5 mm either side see it through the
    slice's profile. A stored spread of 1.0 mm (under the 5 mm box's own 1.44 mm: slices
    thinner than their spacing, a 3.5 mm box) and of 3.0 mm (a 5 mm box and a 2.63 mm
    Gaussian) each render the fraction the profile predicts, which the model's
    (FWHM = 5 mm: a 5 mm box and a 1.59 mm Gaussian) does not."""
    profile, qc = _opacity_profile(_stored(sigma_mm))
    box, gauss, source = slice_profile(ACQ, _stored(sigma_mm), SPACING[2])
    assert source.startswith("host z spread")
    assert np.hypot(box / np.sqrt(12), gauss) == pytest.approx(sigma_mm, rel=1e-6)
    expected = _expected(box, max(gauss, MIN_EDGE_MM))
    model = _expected(SPACING[2], float(np.sqrt(psf_sigma_mm(ACQ)[2] ** 2 - 25.0 / 12)))
    assert profile == pytest.approx(expected, abs=0.03)
    assert np.abs(profile - model).max() > 0.06  # the test tells the two profiles apart
    assert qc["slice_profile"]["box_mm"] == pytest.approx(box, abs=1e-3)


@pytest.mark.parametrize("z_spread", [None, ZSpread(), _stored(1.0, trusted=False),
                                      _stored(1.0, version=Z_SPREAD_VERSION + 1)])
def test_without_a_usable_reading_the_model_draws_and_the_qc_says_why(
        z_spread: ZSpread | None) -> None:
    """No reading, none stored (an older world), an untrusted one and one of another
    version all render exactly as the slice-thickness model, and the QC names the reason."""
    profile, qc = _opacity_profile(z_spread)
    model, _ = _opacity_profile(ZSpread())
    assert np.array_equal(profile, model)
    source = qc["slice_profile"]["source"]
    assert source.startswith("slice-thickness model (")
    if z_spread is not None and z_spread.version is not None:
        assert ("not trusted" in source) != ("version" in source)
    expected = _expected(SPACING[2], float(np.sqrt(psf_sigma_mm(ACQ)[2] ** 2 - 25.0 / 12)))
    assert profile == pytest.approx(expected, abs=0.03)


def test_the_stored_spread_round_trips_through_the_acquisition_row() -> None:
    """The world build's row (z_spread_record) read back by ZSpread.from_record, as the
    registry does; a NaN reading or a missing column is not usable."""
    x, y, z = np.meshgrid(*[np.arange(n) for n in (40, 40, 24)], indexing="ij")
    height = 8.0 + 0.002 * ((x - 20.0) ** 2 + (y - 20.0) ** 2)  # dome top, in slices
    fine = np.where(z[..., None] + np.linspace(-0.5, 0.5, 9) < height[..., None], 40.0, -850.0)
    ct = ndimage.gaussian_filter1d(fine.mean(axis=3), 0.6, axis=2)
    ct += np.random.default_rng(0).normal(0.0, 10.0, ct.shape)
    row = z_spread_record(ct, ct < -400, (0.7, 0.7, 1.25))
    stored = ZSpread.from_record(row)
    assert stored.version == Z_SPREAD_VERSION and stored.sigma_mm == row["z_spread_sigma_mm"]
    assert stored.trusted == bool(row["z_spread_trusted"]) and stored.unusable_because() is None
    assert ZSpread.from_record({}).unusable_because() is not None
    flat = z_spread_record(np.full((30, 30, 20), -850.0), np.ones((30, 30, 20), bool),
                           (0.7, 0.7, 5.0))
    assert "no flat" in ZSpread.from_record(flat).unusable_because()  # type: ignore[operator]


def test_the_render_with_a_stored_spread_is_deterministic() -> None:
    first, _ = _opacity_profile(_stored(1.0), seed=8)
    again, _ = _opacity_profile(_stored(1.0), seed=8)
    assert np.array_equal(first, again)


def test_slice_profile_samples_integrate_the_box_and_gaussian() -> None:
    """Weights sum to 1; their variance is the profile's (box²/12 + SD², to the lattice's
    own pitch²/12); SD 0 is the voxel lattice; a non-positive box is an error."""
    from lesiontrials.shape_field import slice_profile_samples, subsample_shifts_mm

    z, w = slice_profile_samples(5.0, 1.56)
    assert w.sum() == pytest.approx(1.0) and (w > 0).all()
    assert float((w * z**2).sum()) == pytest.approx(25.0 / 12 + 1.56**2, rel=0.03)
    z0, w0 = slice_profile_samples(5.0, 0.0)
    assert np.allclose(z0, np.unique(subsample_shifts_mm((1.0, 1.0, 5.0))[:, 2]))
    assert np.allclose(w0, 1.0 / len(z0))
    with pytest.raises(ValueError, match="box"):
        slice_profile_samples(0.0, 1.0)


def test_a_known_volume_replaces_the_voxel_count() -> None:
    """shape_from_mask(volume_mm3=…) draws the shape with that volume (its partial volume
    on a fine grid sums to it), not the coarse mask's count; a non-positive one is an error."""
    from lesiontrials.shape_field import covered_fraction
    from lesiontrials.testing import ellipsoid_mask

    radii, source = (6.0, 5.0, 4.5), (3.0, 3.0, 3.0)
    mask = ellipsoid_mask(radii, source, centre_mm=(0.4, -0.7, 1.1))
    true = 4.0 / 3.0 * np.pi * float(np.prod(radii))
    count = float(mask.sum()) * 27.0
    assert abs(count / true - 1) > 0.05  # the count is off for this position
    field = shape_from_mask(mask, source, volume_mm3=true)
    drawn = float(covered_fraction(field, (0.5, 0.5, 0.5)).sum()) * 0.125
    assert field.volume_mm3 == true and drawn == pytest.approx(true, rel=0.02)
    with pytest.raises(ValueError, match="volume"):
        shape_from_mask(mask, source, volume_mm3=0.0)
