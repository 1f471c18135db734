"""Round trips must keep axis order and world coordinates, whatever the file's orientation."""

import gzip

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.io import Volume, VolumeKind, check_same_grid, read_volume, write_volume
from lesiontrials.io.volumes import read_volume_header


def _marker_volume(shape=(12, 10, 8)):
    """A volume with a single bright voxel at a known index."""
    array = np.zeros(shape, dtype=np.int16)
    array[2, 7, 5] = 1000
    affine = np.diag([0.8, 0.9, 2.5, 1.0])
    affine[:3, 3] = (-40.0, 20.0, -100.0)
    return Volume(array, affine)


def _world_of_marker(volume: Volume) -> np.ndarray:
    index = np.argwhere(volume.array == volume.array.max())[0]
    return volume.voxel_to_world(index)


def test_nifti_round_trip_keeps_axes_and_world(tmp_path):
    volume = _marker_volume()
    path = write_volume(tmp_path / "ct.nii.gz", volume, kind=VolumeKind.CT)
    back = read_volume(path)
    assert back.shape == volume.shape
    np.testing.assert_array_equal(back.array, volume.array)
    np.testing.assert_allclose(back.affine, volume.affine, atol=1e-5)
    np.testing.assert_allclose(back.spacing_mm, (0.8, 0.9, 2.5), atol=1e-6)


def test_non_canonical_nifti_is_reoriented_to_ras(tmp_path):
    volume = _marker_volume()
    # Store it as LPS-ordered axes (x and y flipped) with the matching affine.
    flipped = volume.array[::-1, ::-1, :]
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[0, 3] = volume.shape[0] - 1
    flip[1, 3] = volume.shape[1] - 1
    nib.save(nib.Nifti1Image(flipped, volume.affine @ flip), tmp_path / "lps.nii.gz")
    back = read_volume(tmp_path / "lps.nii.gz")
    np.testing.assert_array_equal(back.array, volume.array)
    np.testing.assert_allclose(_world_of_marker(back), _world_of_marker(volume), atol=1e-4)
    assert np.all(np.diag(back.affine)[:3] > 0)
    shape, affine = read_volume_header(tmp_path / "lps.nii.gz")
    assert shape == volume.shape
    np.testing.assert_allclose(affine, back.affine, atol=1e-5)


def test_lps_nrrd_reads_into_ras_world(tmp_path):
    # An ITK image: array (z, y, x), identity direction = LPS axes, origin in LPS mm.
    zyx = np.zeros((8, 10, 12), dtype=np.int16)
    zyx[5, 7, 2] = 1000  # x=2, y=7, z=5 in ITK index order
    image = sitk.GetImageFromArray(zyx)
    image.SetSpacing((0.8, 0.9, 2.5))
    image.SetOrigin((10.0, -20.0, -100.0))
    sitk.WriteImage(image, str(tmp_path / "ct.nrrd"))
    lps_world = np.array(image.TransformIndexToPhysicalPoint((2, 7, 5)))
    expected_ras = lps_world * np.array([-1, -1, 1])
    back = read_volume(tmp_path / "ct.nrrd")
    assert back.shape == (12, 10, 8)
    np.testing.assert_allclose(_world_of_marker(back), expected_ras, atol=1e-4)
    assert np.all(np.diag(back.affine)[:3] > 0)  # canonical RAS+
    # Patient-left voxels (low LPS x index) sit at high RAS x index after canonicalisation.
    assert np.argwhere(back.array == 1000)[0][0] == 12 - 1 - 2


def test_writes_are_deterministic_and_gzip_level_depends_on_kind(tmp_path):
    labels = Volume(np.random.default_rng(0).integers(0, 4, (30, 30, 30)).astype(np.uint8),
                    np.eye(4))
    a = write_volume(tmp_path / "a.nii.gz", labels, kind="labels").read_bytes()
    b = write_volume(tmp_path / "b.nii.gz", labels, kind="labels").read_bytes()
    assert a == b
    fast = write_volume(tmp_path / "c.nii.gz", Volume(labels.array.astype(np.int16), np.eye(4)),
                        kind="ct").read_bytes()
    assert gzip.decompress(a)[352:] .__len__() == 30 ** 3  # uint8 payload after the header
    assert len(fast) != len(a)
    assert not list(tmp_path.glob(".*.tmp"))


def test_label_kinds_refuse_values_outside_uint8(tmp_path):
    bad = Volume(np.full((2, 2, 2), 300, dtype=np.int16), np.eye(4))
    with pytest.raises(ValueError, match="0..255"):
        write_volume(tmp_path / "x.nii.gz", bad, kind="labels")
    assert not (tmp_path / "x.nii.gz").exists()


def test_missing_corrupt_empty_and_2d_files_give_clear_errors(tmp_path):
    with pytest.raises(MissingPathError, match="not found"):
        read_volume(tmp_path / "nope.nii.gz", setting="LESIONTRIALS_DATA_ROOT")
    corrupt = tmp_path / "corrupt.nii.gz"
    good = write_volume(tmp_path / "good.nii.gz", _marker_volume(), kind="ct").read_bytes()
    corrupt.write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError, match=r"corrupt\.nii\.gz.*Fix"):
        read_volume(corrupt)
    nib.save(nib.Nifti1Image(np.zeros((4, 4), np.int16), np.eye(4)), tmp_path / "flat.nii.gz")
    with pytest.raises(InputError, match="3-D"):
        read_volume(tmp_path / "flat.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((4, 0, 3), np.int16), np.eye(4)), tmp_path / "empty.nii.gz")
    with pytest.raises(InputError, match="empty|3-D|cannot read"):
        read_volume(tmp_path / "empty.nii.gz")


def test_grid_disagreement_names_both_files():
    a = _marker_volume()
    shifted = a.affine.copy()
    shifted[0, 3] += 5
    with pytest.raises(InputError, match="seg.nii.gz.*grid disagrees with ct.nii.gz"):
        check_same_grid(a, Volume(a.array, shifted), path_a="ct.nii.gz", path_b="seg.nii.gz")
    with pytest.raises(InputError, match="shape"):
        check_same_grid(a, Volume(a.array[:5], a.affine), path_a="ct.nii.gz", path_b="seg.nii.gz")


def test_reoriented_arrays_are_writable_copies_in_the_source_memory_order():
    from lesiontrials.io.volumes import to_canonical

    source = np.asfortranarray(np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6))
    source.flags.writeable = False  # as nibabel's arrays decoded from bytes
    lps = np.diag([-1.0, -1.0, 1.0, 1.0])
    array, affine = to_canonical(source, lps)
    assert np.array_equal(array, source[::-1, ::-1, :])
    assert array.flags.writeable and array.flags.f_contiguous and array.base is None
    assert np.allclose(affine[:3, :3], np.eye(3))


def _canonical_nibabel_read(path):
    """What nibabel's own reader gives, brought to RAS+ (the reference for the view)."""
    from lesiontrials.io.volumes import to_canonical

    image = nib.load(str(path))
    return to_canonical(np.asanyarray(image.dataobj), image.affine)


@pytest.mark.parametrize("case", ["uint8_ras", "int16_lps", "big_endian", "scaled", "nifti2"])
def test_nifti_voxels_read_as_a_view_equal_nibabels_read(tmp_path, case):
    """The voxels taken as a view of the gunzipped bytes are nibabel's values, dtype and
    memory order, writable; scaled data still goes through nibabel's scaling."""
    rng = np.random.default_rng(3)
    affine = np.diag([0.7, 0.7, 1.0, 1.0]) if case == "uint8_ras" else \
        np.diag([-0.7, -0.7, 1.0, 1.0])
    if case == "uint8_ras":
        array = rng.integers(0, 30, (9, 7, 5)).astype(np.uint8)
    else:
        array = rng.integers(-1000, 400, (9, 7, 5)).astype(np.int16)
    if case == "big_endian":
        array = array.astype(">i2")
    klass = nib.Nifti2Image if case == "nifti2" else nib.Nifti1Image
    image = klass(array, affine)
    if case == "scaled":
        image.header.set_slope_inter(2.0, -1.0)
    path = tmp_path / f"{case}.nii.gz"
    nib.save(image, path)
    got = read_volume(path)
    want, want_affine = _canonical_nibabel_read(path)
    assert got.array.dtype == want.dtype and np.array_equal(got.array, want)
    assert got.array.strides == want.strides and got.array.flags.writeable
    assert np.array_equal(got.affine, want_affine)
    if case == "scaled":
        assert got.array.dtype.kind == "f" and np.allclose(got.array[::-1, ::-1], 2.0 * array - 1)


def test_a_nifti_stream_shorter_than_its_header_says_is_refused(tmp_path):
    """A complete gzip stream whose voxel bytes stop early: an error naming the file."""
    path = write_volume(tmp_path / "full.nii.gz", _marker_volume(), kind="ct")
    short = tmp_path / "short.nii.gz"
    short.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-100]))
    with pytest.raises(InputError, match=r"short\.nii\.gz"):
        read_volume(short)


@pytest.mark.parametrize("shape", [(37, 19, 5), (16, 16, 1), (64, 40, 9), (3, 70, 2)])
def test_fortran_order_is_the_same_array_in_nifti_layout(shape) -> None:
    from lesiontrials.io.volumes import fortran_order

    array = np.random.default_rng(sum(shape)).integers(-900, 900, shape).astype(np.int16)
    ordered = fortran_order(array)
    assert ordered.flags.f_contiguous
    np.testing.assert_array_equal(ordered, array)
    assert ordered.tobytes(order="F") == array.tobytes(order="F")
