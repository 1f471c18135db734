"""PNG encoding: lossless round trips, deterministic bytes, readable by Pillow."""

from __future__ import annotations

import io

import numpy as np
import pytest

from lesiontrials.errors import InputError
from lesiontrials.io import decode_png, encode_png, read_png, write_png


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (64, 33, 3)])
def test_round_trip_and_determinism(shape, tmp_path):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(image)
    assert data == encode_png(image)
    assert np.array_equal(decode_png(data), image)
    path = write_png(tmp_path / "a" / "x.png", image)
    assert np.array_equal(read_png(path), image)


def test_pillow_reads_ours_and_we_read_pillows():
    pil = pytest.importorskip("PIL.Image")
    image = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(pil.open(io.BytesIO(encode_png(image)))), image)
    buffer = io.BytesIO()
    pil.fromarray(image).save(buffer, format="png")
    assert np.array_equal(decode_png(buffer.getvalue()), image)


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((3, 3), np.float32))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="cannot decode"):
        read_png(tmp_path / "bad.png")


def test_png_cache_decodes_each_file_once_and_notices_rewrites(tmp_path):
    from lesiontrials.io import PngCache

    rng = np.random.default_rng(2)
    first, second = (rng.integers(0, 256, (16, 16), dtype=np.uint8) for _ in range(2))
    path = write_png(tmp_path / "a.png", first)
    cache = PngCache()
    assert np.array_equal(cache.read(path), first)
    again = cache.read(path)
    assert np.array_equal(again, first) and (cache.hits, cache.misses) == (1, 1)
    with pytest.raises(ValueError, match="read-only"):
        again[0, 0] = 1  # a model writing into its input must not change the next item
    write_png(path, np.pad(second, 1))  # rewritten: new size → decoded again
    assert np.array_equal(cache.read(path), np.pad(second, 1)) and cache.misses == 2
    with pytest.raises(InputError, match="not found"):
        cache.read(tmp_path / "missing.png")


def test_png_cache_is_bounded_by_bytes(tmp_path):
    from lesiontrials.io import PngCache

    paths = [write_png(tmp_path / f"{n}.png", np.full((32, 32), n, np.uint8)) for n in range(5)]
    cache = PngCache(max_bytes=3 * 32 * 32)
    for path in paths:
        cache.read(path)
    assert cache._bytes <= 3 * 32 * 32 and len(cache._images) == 3
    cache.read(paths[-1])  # still cached
    cache.read(paths[0])  # evicted long ago: decoded again
    assert (cache.hits, cache.misses) == (1, 6)
