"""The decoded-volume cache: same volumes as a plain read, damage detected, size bounded."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from lesiontrials.errors import MissingPathError
from lesiontrials.io import Volume, read_volume, write_volume
from lesiontrials.io.decoded import DecodedCache, mask_crop, source_sha256


def _lps_volume(seed: int = 0, shape=(20, 16, 12)) -> Volume:
    array = np.random.default_rng(seed).integers(-1000, 400, shape).astype(np.int16)
    affine = np.diag([-0.7, -0.7, 1.25, 1.0])  # LPS-like: the read flips two axes
    affine[:3, 3] = (10.0, -20.0, 30.0)
    return Volume(array, affine)


def test_cached_reads_equal_plain_reads_cold_and_warm(tmp_path):
    path = write_volume(tmp_path / "ct.nii.gz", _lps_volume(), kind="ct")
    plain = read_volume(path)
    cache = DecodedCache(tmp_path / "cache")
    for _ in range(2):  # miss (decode + store), then hit (memory-mapped .npy)
        got = cache.read(path)
        assert np.array_equal(got.array, plain.array) and got.array.dtype == plain.array.dtype
        assert got.array.flags.f_contiguous == plain.array.flags.f_contiguous
        assert np.array_equal(got.affine, plain.affine)
    [(_, size, sha)] = cache.entries()
    assert sha == source_sha256(path) and size > plain.array.nbytes
    got.array[0, 0, 0] = 5  # copy-on-write: writable, the entry stays intact
    assert cache.read(path).array[0, 0, 0] == plain.array[0, 0, 0]


def test_a_damaged_entry_is_detected_and_rebuilt_not_used(tmp_path, caplog):
    path = write_volume(tmp_path / "ct.nii.gz", _lps_volume(), kind="ct")
    plain = read_volume(path)
    cache = DecodedCache(tmp_path / "cache")
    cache.read(path)
    [npy] = (tmp_path / "cache").glob("??/*.npy")
    data = bytearray(npy.read_bytes())
    data[-100] ^= 0xFF  # one voxel changed, size unchanged: only the CRC can tell
    npy.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="lesiontrials.io.decoded"):
        got = cache.read(path)
    assert np.array_equal(got.array, plain.array)
    assert "CRC-32 mismatch" in caplog.text
    assert np.array_equal(np.load(npy), plain.array)  # rebuilt with the right voxels
    npy.write_bytes(npy.read_bytes()[:200])  # truncated
    assert np.array_equal(cache.read(path).array, plain.array)


def test_an_edited_source_never_meets_the_old_entry(tmp_path):
    path = tmp_path / "ct.nii.gz"
    cache = DecodedCache(tmp_path / "cache")
    write_volume(path, _lps_volume(0), kind="ct")
    cache.read(path)
    write_volume(path, _lps_volume(1), kind="ct")
    assert np.array_equal(cache.read(path).array, read_volume(path).array)


def test_least_recently_used_entries_go_when_the_bound_is_passed(tmp_path):
    paths = [write_volume(tmp_path / f"v{k}.nii.gz", _lps_volume(k), kind="ct")
             for k in range(3)]
    one_entry = DecodedCache(tmp_path / "probe")
    one_entry.read(paths[0])
    size = one_entry.entries()[0][1]
    cache = DecodedCache(tmp_path / "cache", max_bytes=2 * size)
    for path in paths:
        cache.read(path)
        time.sleep(0.03)  # file times tick at the kernel's coarse clock (a few ms)
    kept = {sha for _, _, sha in cache.entries()}
    assert kept == {source_sha256(paths[1]), source_sha256(paths[2])}
    assert sum(s for _, s, _ in cache.entries()) <= cache.max_bytes


def test_missing_source_is_the_usual_error(tmp_path):
    with pytest.raises(MissingPathError):
        DecodedCache(tmp_path / "cache").read(tmp_path / "absent.nii.gz")


def test_mask_crops_are_the_nonzero_box_of_the_canonical_grid(tmp_path):
    array = np.zeros((30, 20, 10), np.uint8)
    array[3:7, 5:6, 2:9] = 1
    array[10, 15, 4] = 2
    path = write_volume(tmp_path / "m.nii.gz", Volume(array, np.diag([-1.0, -1, 2, 1])),
                        kind="mask")
    plain = read_volume(path)
    cache = DecodedCache(tmp_path / "cache")
    for crop in (mask_crop(plain), cache.read_mask_crop(path), cache.read_mask_crop(path)):
        box = tuple(slice(o, o + n) for o, n in zip(crop.offset, crop.mask.shape, strict=True))
        full = np.zeros(plain.shape, bool)
        full[box] = crop.mask
        assert np.array_equal(full, plain.array > 0)
        assert np.array_equal(crop.affine, plain.affine)
        assert np.allclose(crop.crop_affine[:3, 3], plain.voxel_to_world(np.array(crop.offset)))


@pytest.mark.parametrize("kind", ["uint8_lps", "int16_signed", "float_ras", "empty"])
def test_a_crop_read_of_a_file_equals_the_crop_of_its_full_read(tmp_path, kind):
    """``read_mask_crop`` (strided view, only the crop copied) gives the crop, offset and
    affine that cropping the whole canonical read gives: ``> 0`` in every dtype."""
    from lesiontrials.io.decoded import read_mask_crop

    rng = np.random.default_rng(5)
    affine = np.diag([-0.7, -0.8, 1.5, 1.0]) if kind != "float_ras" else np.diag(
        [0.7, 0.8, 1.5, 1.0])
    array = np.zeros((21, 17, 13), np.float32 if kind == "float_ras" else np.int16)
    if kind != "empty":
        array[4:9, 6:15, 2:5] = rng.integers(-3, 4, (5, 9, 3))  # negatives are not mask
        array[17, 1, 11] = -5
    if kind == "uint8_lps":
        array = np.clip(array, 0, None).astype(np.uint8)
    path = write_volume(tmp_path / f"{kind}.nii.gz", Volume(array, affine),
                        kind="mask" if kind == "uint8_lps" else "ct")
    full, crop = mask_crop(read_volume(path)), read_mask_crop(path)
    assert crop.mask.dtype == bool and crop.mask.flags.c_contiguous
    assert np.array_equal(crop.mask, full.mask) and crop.offset == full.offset
    assert np.array_equal(crop.affine, full.affine)
    if kind == "empty":
        assert crop.mask.size == 0


def test_the_process_crop_memo_is_bounded_read_only_and_keyed_by_content(tmp_path,
                                                                       monkeypatch):
    """Crops are remembered by file hash: a second read is the same object, an edited
    file its new crop, the memo never holds more than its byte bound, and a reader cannot
    change what the next one gets."""
    from lesiontrials.io import decoded

    monkeypatch.setattr(decoded, "_CROP_MEMO", type(decoded._CROP_MEMO)())
    monkeypatch.setattr(decoded, "CROP_MEMO_MAX_BYTES", 2 * 6 * 6 * 6)
    paths = []
    for k in range(4):
        array = np.zeros((20, 20, 20), np.uint8)
        array[k:k + 6, 2:8, 3:9] = 1
        paths.append(write_volume(tmp_path / f"m{k}.nii.gz", Volume(array, np.eye(4)),
                                  kind="mask"))
    first = decoded.read_mask_crop_cached(paths[0], None)
    assert decoded.read_mask_crop_cached(paths[0], None) is first
    with pytest.raises(ValueError, match="read-only"):
        first.mask[0, 0, 0] = False
    for path in paths:
        crop = decoded.read_mask_crop_cached(path, None)
        assert sum(c.mask.nbytes for c in decoded._CROP_MEMO.values()) <= 2 * 6 * 6 * 6
    assert crop.offset == (3, 2, 3) and len(decoded._CROP_MEMO) == 2
    edited = np.zeros((20, 20, 20), np.uint8)
    edited[10:12, 10:12, 10:12] = 1
    write_volume(paths[3], Volume(edited, np.eye(4)), kind="mask")
    again = decoded.read_mask_crop_cached(paths[3], None)
    assert again.offset == (10, 10, 10) and again.mask.shape == (2, 2, 2)
