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


@pytest.mark.parametrize(("codec", "level"), [("isal", 0), ("isal", 1), ("isal", 3),
                                              ("zlib", 1)])
def test_codecs_give_the_same_pixels_deterministically(codec, level, tmp_path):
    """Either deflate library writes an ordinary PNG: our decoder and Pillow read back the
    same pixels, and the same array gives the same bytes every time."""
    pil = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(2)
    image = np.cumsum(rng.integers(0, 3, (96, 80, 3)), axis=1).astype(np.uint8)
    data = encode_png(image, level=level, codec=codec)
    assert data == encode_png(image, level=level, codec=codec)
    assert np.array_equal(decode_png(data), image)
    assert np.array_equal(np.asarray(pil.open(io.BytesIO(data))), image)
    path = write_png(tmp_path / f"{codec}{level}.png", image, level=level, codec=codec)
    assert path.read_bytes() == data


@pytest.mark.parametrize(("codec", "level"), [("isal", 4), ("isal", -1), ("zlib", 10),
                                              ("gzip", 1)])
def test_unknown_codec_or_level_is_an_error(codec, level):
    with pytest.raises(ValueError, match="codec"):
        encode_png(np.zeros((4, 4), np.uint8), level=level, codec=codec)


def test_corrupt_deflate_stream_names_the_file(tmp_path):
    data = bytearray(encode_png(np.full((32, 32), 7, np.uint8), level=1, codec="isal"))
    start = data.index(b"IDAT") + 4
    data[start + 2:start + 8] = b"\xff" * 6  # damage the deflate stream, not the header
    path = tmp_path / "broken.png"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="cannot decode") as info:
        read_png(path)
    assert "broken.png" in str(info.value)
