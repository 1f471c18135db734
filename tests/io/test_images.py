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
