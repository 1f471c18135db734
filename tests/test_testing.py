"""The byte-identity helpers say what differs: decoded content or only compression."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from lesiontrials.io.images import encode_png
from lesiontrials.testing import assert_same_outputs, explain_difference


def test_a_png_recompressed_is_the_same_content_in_other_bytes():
    image = np.arange(96 * 80, dtype=np.uint8).reshape(80, 96)
    zlib_bytes = encode_png(image, level=6, codec="zlib")
    isal_bytes = encode_png(image, level=1, codec="isal")
    assert zlib_bytes != isal_bytes
    assert "same decoded content" in explain_difference("a.png", isal_bytes, zlib_bytes)


def test_a_changed_pixel_is_located():
    image = np.zeros((8, 9), dtype=np.uint8)
    changed = image.copy()
    changed[3, 4] = 7
    message = explain_difference("a.png", encode_png(changed), encode_png(image))
    assert "1 decoded values differ, first at (3, 4) (7 vs 0)" in message


def test_gzip_members_are_compared_decompressed():
    raw = bytes(range(256)) * 40
    message = explain_difference("v.nii.gz", gzip.compress(raw, 1, mtime=0),
                                 gzip.compress(raw, 9, mtime=0))
    assert "same decoded content" in message


def test_assert_same_outputs_names_every_differing_file():
    same = {"x.json": b"{}"}
    with pytest.raises(AssertionError, match=r"2 files differ:\na.bin: 1 decoded values"):
        assert_same_outputs({**same, "a.bin": b"ab", "b.bin": b"c"},
                            {**same, "a.bin": b"aa", "b.bin": b"d"})
    assert_same_outputs(same, dict(same))
