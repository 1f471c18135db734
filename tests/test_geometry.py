import numpy as np

from lesiontrials.geometry import NoduleMask, bounding_box, mask_in_host_grid, surface_voxels
from lesiontrials.testing import sphere_mask


def test_mask_partly_outside_host_is_clipped():
    mask = np.ones((4, 4, 4), dtype=bool)
    affine = np.eye(4)
    affine[:3, 3] = (-2, 0, 0)  # mask voxel 0 sits at host voxel -2
    nodule = mask_in_host_grid(mask, affine, np.eye(4), (10, 10, 10))
    assert nodule.offset == (0, 0, 0) and nodule.mask.shape == (2, 4, 4)


def test_rotated_mask_is_resampled_onto_host_voxels():
    # Mask grid flipped in x (LPS-like) but describing the same world box.
    host_affine = np.eye(4)
    mask = np.zeros((6, 6, 6), dtype=bool)
    mask[1:3, 2:5, 2:4] = True
    flipped = mask[::-1]
    flip_affine = np.diag([-1.0, 1, 1, 1])
    flip_affine[0, 3] = 5 + 10  # mask voxel i ↔ host x = 15 - i
    nodule = mask_in_host_grid(flipped, flip_affine, host_affine, (30, 30, 30))
    assert nodule.voxel_count == mask.sum()
    expected_x = sorted({15 - (5 - i) for i in (1, 2)})
    assert sorted(set(nodule.voxel_indices()[:, 0])) == expected_x


def test_surface_and_full_volume():
    sphere = sphere_mask((40, 40, 40), (20, 20, 20), 6.0, (1.0, 1.0, 1.0))
    surface = surface_voxels(sphere.mask)
    assert 0 < surface.sum() < sphere.voxel_count
    full = sphere.to_full((40, 40, 40))
    assert full.sum() == sphere.voxel_count
    np.testing.assert_allclose(sphere.centroid_voxel(), (20, 20, 20))
    assert NoduleMask(full, (0, 0, 0)).tight().mask.shape == sphere.mask.shape


def test_bounding_box_equals_find_objects_in_any_memory_order() -> None:
    """The projection box is the one ``ndimage.find_objects`` gives, for C- and
    Fortran-ordered, non-contiguous and non-bool inputs; an all-zero mask has none."""
    from scipy import ndimage

    rng = np.random.default_rng(4)
    for trial in range(40):
        shape = tuple(int(v) for v in rng.integers(1, 14, size=3))
        mask = rng.random(shape) < rng.choice([0.0, 0.005, 0.05, 0.5])
        expected = ndimage.find_objects(mask.view(np.uint8))
        want = expected[0] if expected else None
        for variant in (mask, np.asfortranarray(mask), mask.astype(np.uint8) * 7,
                        np.asfortranarray(mask.astype(np.float32))):
            assert bounding_box(variant) == want, (trial, variant.dtype, variant.flags)
        strided = np.zeros((shape[0] * 2, shape[1], shape[2] * 3), bool)
        strided[::2, :, ::3] = mask
        assert bounding_box(strided[::2, :, ::3]) == want
