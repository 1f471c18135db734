"""Volume I/O hot paths before/after issue 24, side by side in one process. JSON out.

On a 512×512×300 phantom label map and a CT made from it (air −1024 HU outside the body,
20 HU Gaussian noise inside, as a real scan's noise floor), best of ``--repeats``:

* gzip write: zlib at the old levels (6 labels, 1 CT) vs ISA-L at the new ones (1, 3),
  with the file sizes;
* gzip read: ``gzip`` vs ISA-L's ``igzip`` (both verify CRC and length);
* reorientation of an LPS (Fortran-ordered) array: ``np.ascontiguousarray`` vs
  ``copy(order="K")``;
* a CT read: decode (``read_volume``) vs a warm decoded-cache hit.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from isal import igzip, isal_zlib

from lesiontrials.io import Volume, read_volume, write_volume
from lesiontrials.io.decoded import DecodedCache
from lesiontrials.world.phantom import PhantomParams, generate_phantom


def best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return round(min(times), 3), out


def _gzip(lib: Any, raw: bytes, level: int) -> bytes:
    compressor = lib.compressobj(level, lib.DEFLATED, 31)
    return bytes(compressor.compress(raw) + compressor.flush())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    n = parser.parse_args().repeats
    host = generate_phantom(PhantomParams("M", 62, 176, 27, shape_seed=3),
                            shape=(512, 512, 300), spacing_mm=(0.7, 0.7, 1.0))
    labels = np.asarray(host.array, dtype=np.uint8)
    rng = np.random.default_rng(0)
    ct = np.where(labels > 0, 40.0, -1024.0)
    ct[labels > 0] += rng.normal(0.0, 20.0, int((labels > 0).sum()))
    ct = np.rint(ct).astype(np.int16)
    out: dict[str, Any] = {"benchmark": "io", "shape": list(labels.shape),
                           "load_average_1min": round(os.getloadavg()[0], 2)}
    for name, array, old, new in (("labels", labels, 6, 1), ("ct", ct, 1, 3)):
        raw = nib.Nifti1Image(array, np.eye(4)).to_bytes()
        t_old, z_old = best(lambda r=raw, lv=old: _gzip(zlib, r, lv), n)
        t_new, z_new = best(lambda r=raw, lv=new: _gzip(isal_zlib, r, lv), n)
        out[f"{name}_write"] = {"zlib_s": t_old, "zlib_level": old, "zlib_mb": len(z_old) / 1e6,
                                "isal_s": t_new, "isal_level": new, "isal_mb": len(z_new) / 1e6}
        out[f"{name}_read"] = {"gzip_s": best(lambda d=z_new: gzip.decompress(d), n)[0],
                               "igzip_s": best(lambda d=z_new: igzip.decompress(d), n)[0]}
    flipped = np.asfortranarray(labels)[::-1, ::-1, :]
    out["reorient_uint8"] = {"ascontiguousarray_s": best(lambda: np.ascontiguousarray(flipped),
                                                         n)[0],
                             "copy_order_K_s": best(lambda: flipped.copy(order="K"), n)[0]}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_volume(Path(tmp) / "ct.nii.gz", Volume(ct, host.affine), kind="ct")
        cache = DecodedCache(Path(tmp) / "cache")
        cache.read(path)
        out["ct_read"] = {"read_volume_s": best(lambda: read_volume(path), n)[0],
                          "decoded_cache_hit_s": best(lambda: cache.read(path), n)[0],
                          "file_mb": round(path.stat().st_size / 1e6, 1)}
    out["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
