"""PNG deflate codecs on real evaluation-set images (issue 24 item 2): encode and decode
CPU per image and file size, zlib (levels 1, 2, 6) against ISA-L (levels 0–3).

Reads ``--count`` PNGs sampled (seeded) from ``{workspace}/eval/*/*/images/``, decodes
them with the project's reader, re-encodes each with ``encode_png`` under every codec and
level (``time.process_time``, so load does not count), checks that every encoding decodes
to the same pixels, and prints JSON: per codec × level the mean encode and decode
milliseconds per image and the mean size in kB.

    python benchmarks/bench_png_codec.py --workspace /tmp/ws --count 200
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from lesiontrials.io.images import PngCodec, decode_png, encode_png, read_png

SETTINGS: tuple[tuple[PngCodec, int], ...] = (
    ("zlib", 1), ("zlib", 2), ("zlib", 6), ("isal", 0), ("isal", 1), ("isal", 2), ("isal", 3))


def measure(images: list[np.ndarray]) -> list[dict[str, object]]:
    """Encode/decode cost and size of ``images`` under every codec × level."""
    rows: list[dict[str, object]] = []
    for codec, level in SETTINGS:
        start = time.process_time()
        encoded = [encode_png(image, level=level, codec=codec) for image in images]
        encode_s = time.process_time() - start
        start = time.process_time()
        decoded = [decode_png(data) for data in encoded]
        decode_s = time.process_time() - start
        if not all(np.array_equal(a, b) for a, b in zip(images, decoded, strict=True)):
            raise SystemExit(f"{codec} level {level}: pixels changed in a round trip")
        rows.append({"codec": codec, "level": level,
                     "encode_ms": round(1e3 * encode_s / len(images), 2),
                     "decode_ms": round(1e3 * decode_s / len(images), 2),
                     "size_kb": round(sum(map(len, encoded)) / len(encoded) / 1e3, 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    files = sorted(args.workspace.glob("eval/*/*/images/*.png"))
    if not files:
        raise SystemExit(f"{args.workspace} has no evaluation-set images: build them first")
    chosen = random.Random(args.seed).sample(files, min(args.count, len(files)))
    images = [read_png(path) for path in chosen]
    print(json.dumps({"benchmark": "png_codec", "workspace": str(args.workspace),
                      "images": len(images),
                      "shapes": sorted({str(i.shape) for i in images}),
                      "results": measure(images)}))


if __name__ == "__main__":
    main()
