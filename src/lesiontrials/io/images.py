"""8-bit PNG images: deterministic encoding (numpy + zlib or ISA-L) and decoding, atomic
writes.

The encoder writes grey (colour type 0) or RGB (colour type 2) 8-bit PNGs with the
"Up" filter on every row, so encoding and decoding are vectorised and the same array
always gives the same bytes. The deflate stream comes from zlib (``codec="zlib"``, levels
0–9) or from ISA-L (``codec="isal"``, levels 0–3; ``isal`` is a base dependency, as for
the volumes): at level 1 on the evaluation sets' 512² slices ISA-L encodes 4.6× faster
than zlib level 1 for 3 % smaller files (``benchmarks/RESULTS.md``, session 8). Either
is an ordinary PNG; decoding uses ISA-L's inflate (≈ 2× zlib's, the same pixels). PNGs
written by other tools are decoded with Pillow when it is installed.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Literal, cast

import numpy as np
from isal import isal_zlib

from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.io.atomic import atomic_path

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_UP = 2
#: the deflate libraries a PNG may be written with, and their levels
PngCodec = Literal["zlib", "isal"]
CODEC_LEVELS: dict[str, range] = {"zlib": range(0, 10), "isal": range(0, 4)}
_ISAL_ERROR = cast(type[Exception], isal_zlib.IsalError)  # the stubs type it as an instance


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(image: np.ndarray, *, level: int = 6, codec: PngCodec = "zlib") -> bytes:
    """PNG bytes of a uint8 image ``(H, W)`` (grey) or ``(H, W, 3)`` (RGB), deflated by
    ``codec`` at ``level`` (zlib 0–9, ISA-L 0–3; other levels are a ``ValueError``)."""
    if codec not in CODEC_LEVELS or level not in CODEC_LEVELS[codec]:
        raise ValueError(f"PNG codec {codec!r} at level {level}: use zlib 0–9 or isal 0–3")
    image = np.ascontiguousarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (
            image.ndim == 3 and image.shape[2] != 3) or 0 in image.shape:
        raise ValueError(f"expected a non-empty uint8 (H, W) or (H, W, 3) image, got "
                         f"{image.dtype} {image.shape}")
    height, width = image.shape[:2]
    colour_type = 0 if image.ndim == 2 else 2
    rows = image.reshape(height, -1)
    filtered = rows.copy()
    filtered[1:] = rows[1:] - rows[:-1]  # uint8 arithmetic wraps modulo 256 (the Up filter)
    raw = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    raw[:, 0] = _UP
    raw[:, 1:] = filtered
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", _deflate(raw.tobytes(), level, codec)) + _chunk(b"IEND", b""))


def _deflate(data: bytes, level: int, codec: PngCodec) -> bytes:
    if codec == "isal":
        return isal_zlib.compress(data, level)
    return zlib.compress(data, level)


def _chunks(data: bytes) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    pos = len(_SIGNATURE)
    while pos + 8 <= len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        found[kind] = found.get(kind, b"") + body
        pos += 12 + length
    return found


def decode_png(data: bytes) -> np.ndarray:
    """Decode PNG bytes to a uint8 ``(H, W)`` or ``(H, W, 3)`` array.

    Up/None-filtered 8-bit grey/RGB PNGs are decoded here; others go through Pillow.
    """
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG file")
    chunks = _chunks(data)
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB",
                                                                      chunks[b"IHDR"])
    if depth == 8 and colour_type in (0, 2) and interlace == 0:
        channels = 1 if colour_type == 0 else 3
        raw = np.frombuffer(isal_zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8)
        raw = raw.reshape(height, width * channels + 1)
        filters = raw[:, 0]
        if np.all((filters == _UP) | (filters == 0)):
            if np.all(filters == _UP):  # every row adds the one above: a running sum mod 256
                rows = np.cumsum(raw[:, 1:], axis=0, dtype=np.uint8)
            else:
                rows = raw[:, 1:].copy()
                for r in range(1, height):
                    if filters[r] == _UP:
                        rows[r] += rows[r - 1]
            shape = (height, width) if channels == 1 else (height, width, 3)
            return rows.reshape(shape)
    return _decode_with_pillow(data)


def _decode_with_pillow(data: bytes) -> np.ndarray:
    import io

    from PIL import Image  # a base dependency

    with Image.open(io.BytesIO(data)) as img:
        mode = "L" if img.mode in ("L", "I", "I;16", "1") else "RGB"
        return np.asarray(img.convert(mode), dtype=np.uint8)


def write_png(path: str | Path, image: np.ndarray, *, level: int = 6,
              codec: PngCodec = "zlib") -> Path:
    """Write ``image`` as a PNG atomically (temporary file + rename; no fsync, like the
    Parquet writer: images are many and cheap to rebuild); returns the path."""
    path = Path(path)
    data = encode_png(image, level=level, codec=codec)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def read_png(path: str | Path) -> np.ndarray:
    """Read a PNG into a uint8 array; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise MissingPathError("image not found", path=path, fix="rebuild the evaluation set")
    try:
        return decode_png(path.read_bytes())
    except (ValueError, KeyError, zlib.error, _ISAL_ERROR, struct.error) as exc:
        raise InputError(f"cannot decode PNG ({exc})", path=path,
                         fix="the file is corrupt; delete it and rebuild") from exc


class PngCache:
    """Decoded PNGs of one process, bounded by ``max_bytes`` (least recently used first
    out), keyed by path, size and modification time so a rewritten file is read again.

    The scorer asks each slice several tasks under four conditions that share the same
    neighbour slices: with the cache each file is decoded once. Arrays handed out are
    read-only (a model that writes into its input fails loudly instead of changing what
    the next item sees).
    """

    def __init__(self, *, max_bytes: int = 96 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._images: dict[tuple[str, int, int], np.ndarray] = {}
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def read(self, path: str | Path) -> np.ndarray:
        """:func:`read_png` of ``path``, decoded once while it stays in the cache."""
        path = Path(path)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return read_png(path)  # names the file and the fix
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        image = self._images.pop(key, None)
        if image is None:
            self.misses += 1
            image = read_png(path)
            view: object = image
            while isinstance(view, np.ndarray):  # the array and the buffers it views
                view.flags.writeable = False
                view = view.base
            self._bytes += image.nbytes
            while self._images and self._bytes > self.max_bytes:
                oldest = next(iter(self._images))
                self._bytes -= self._images.pop(oldest).nbytes
        else:
            self.hits += 1
        self._images[key] = image  # most recently used last
        return image
