"""A cache of decoded volumes: each gzipped NIfTI/NRRD decoded once per workspace.

Many cases read the same host label map, host CT and native masks; decoding a
512×512×300 ``.nii.gz`` costs 0.2–1.5 s each time. The cache keeps the canonical (RAS+)
array as an uncompressed ``.npy`` file, memory-mapped copy-on-write on use, so a hit
costs a page-cache read and every worker process shares the pages.

Layout: ``<root>/<sha[:2]>/<sha>.npy`` and ``<sha>.json`` (affine, shape, dtype, CRC-32
of the ``.npy`` file), keyed by the **SHA-256 of the source file**, so an edited source
never meets a stale entry. It is an implementation detail:

* safe to delete at any time (a missing entry is decoded again);
* verified on use: an entry whose CRC-32, size, shape or dtype disagrees with its record
  is logged, deleted and rebuilt from the source, never used (CRC-32 rather than SHA-256
  because it catches damage at ~10 GB/s; the key is already a SHA-256);
* bounded: after a new entry is written, the least recently used entries are removed
  until the cache holds at most ``max_bytes`` (``LESIONTRIALS_DECODED_CACHE_GB``), and
  temporary files of writers killed mid-write are removed once stale.

It is not an output: byte-identity comparisons of workspaces leave ``cache/`` out.

A read through the cache returns the same array values, dtype, memory order and affine as
:func:`~lesiontrials.io.volumes.read_volume`, so outputs are byte-identical with or
without it (tested).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from isal import isal_zlib

from lesiontrials.geometry import bounding_box
from lesiontrials.io.atomic import atomic_path, sha256_file, write_text_atomic
from lesiontrials.io.volumes import Volume, canonical_view, read_stored_array, read_volume

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
DEFAULT_MAX_BYTES = 8 << 30  # 8 GiB: ~30 decoded 512×512×300 CTs
_CRC_CHUNK = 64 << 20
STALE_TEMP_S = 600.0

_sha_memo: dict[tuple[str, int, int, int], str] = {}


def source_sha256(path: str | Path) -> str:
    """SHA-256 of a file, remembered in this process by (path, inode, size, mtime ns), so
    the stage that hashes its inputs and the cache lookup hash each file once."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _sha_memo:
        if len(_sha_memo) > 4096:
            _sha_memo.clear()
        _sha_memo[key] = sha256_file(path)
    return _sha_memo[key]


def _crc32_file(path: Path) -> int:
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CRC_CHUNK):
            crc = isal_zlib.crc32(chunk, crc)
    return crc


@dataclass(frozen=True)
class MaskCrop:
    """The nonzero voxels of a mask file: ``mask[i, j, k]`` is voxel ``offset + (i, j, k)``
    of the file's canonical grid, whose voxel → RAS world mm map is ``affine``."""

    mask: np.ndarray
    offset: tuple[int, int, int]
    affine: np.ndarray

    @property
    def crop_affine(self) -> np.ndarray:
        """The voxel → world map of the crop itself (the file's, moved by ``offset``)."""
        affine = np.array(self.affine, dtype=float)
        affine[:3, 3] = self.affine[:3, :3] @ np.asarray(self.offset, float) + self.affine[:3, 3]
        return affine


def mask_crop(volume: Volume) -> MaskCrop:
    """The tight crop of ``volume.array > 0`` (an empty mask gives a 0-sized crop)."""
    return _nonzero_crop(np.asarray(volume.array), np.asarray(volume.affine, dtype=float))


def read_mask_crop(path: str | Path) -> MaskCrop:
    """:func:`mask_crop` of the volume file at ``path`` (checked as :func:`read_volume`
    checks it), found on a strided RAS+ view of the stored voxels: only the crop is
    copied, not the whole (e.g. 512×512×300, LPS-stored) grid."""
    array, affine = canonical_view(*read_stored_array(path))
    return _nonzero_crop(array, affine)


def _nonzero_crop(array: np.ndarray, affine: np.ndarray) -> MaskCrop:
    positive = array if array.dtype.kind in "bu" else array > 0  # unsigned: > 0 is != 0
    box = bounding_box(positive)
    if box is None:
        return MaskCrop(np.zeros((0, 0, 0), dtype=bool), (0, 0, 0), affine)
    return MaskCrop(np.ascontiguousarray(array[box] > 0),
                    (box[0].start, box[1].start, box[2].start), affine)


@dataclass(frozen=True)
class DecodedCache:
    """Decoded volumes under ``root`` keyed by their source file's SHA-256."""

    root: Path
    max_bytes: int = DEFAULT_MAX_BYTES

    def read(self, path: str | Path, *, setting: str | None = None,
             store: bool = True) -> Volume:
        """The volume at ``path`` (as :func:`read_volume` returns it), from the cache when
        a verified entry exists, else decoded (and stored unless ``store`` is false: a
        reader that is the file's only reader need not pay for writing the entry)."""
        path = Path(path)
        if not path.is_file():
            return read_volume(path, setting=setting)  # raises the usual missing-file error
        sha = source_sha256(path)
        cached = self._load(sha)
        if cached is not None:
            return Volume(array=cached[0], affine=np.asarray(cached[1]["affine"], dtype=float))
        volume = read_volume(path, setting=setting)
        if store:
            self._store(sha, volume.array, {"affine": np.asarray(volume.affine).tolist()})
        return volume

    def read_mask_crop(self, path: str | Path) -> MaskCrop:
        """The nonzero voxels of the mask file at ``path`` as a tight boolean crop with its
        offset on the file's (canonical) grid: what a donor read needs from a mask stored
        on a whole CT grid, without decoding or scanning the whole grid again."""
        path = Path(path)
        if not path.is_file():
            return read_mask_crop(path)  # raises the usual missing-file error
        key = f"{source_sha256(path)}-nonzero"
        cached = self._load(key)
        if cached is not None:
            array, meta = cached
            return MaskCrop(array, tuple(meta["offset"]),
                            np.asarray(meta["affine"], dtype=float))
        crop = read_mask_crop(path)
        self._store(key, crop.mask, {"affine": crop.affine.tolist(),
                                     "offset": list(crop.offset)})
        return crop

    def _paths(self, sha: str) -> tuple[Path, Path]:
        folder = self.root / sha[:2]
        return folder / f"{sha}.npy", folder / f"{sha}.json"

    def _load(self, sha: str) -> tuple[np.ndarray, dict[str, Any]] | None:
        npy, meta_path = self._paths(sha)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # no entry (or its record is damaged: rebuilt below)
        try:
            problem = self._problem(npy, meta, sha)
            array = None if problem else np.load(npy, mmap_mode="c", allow_pickle=False)
        except (OSError, ValueError) as exc:
            problem, array = f"unreadable ({exc})", None
        if array is not None and (list(array.shape) != meta["shape"]
                                  or str(array.dtype) != meta["dtype"]):
            problem = "shape or dtype disagrees with its record"
        if problem or array is None:
            log.warning("decoded cache entry %s is damaged (%s): rebuilding it", npy, problem)
            self._remove(sha)
            return None
        os.utime(meta_path)  # least recently used = oldest modification time
        return array.view(np.ndarray), meta  # copy-on-write: writes stay in this process

    @staticmethod
    def _problem(npy: Path, meta: dict[str, Any], sha: str) -> str:
        if meta.get("format") != CACHE_FORMAT or meta.get("source_sha256") != sha:
            return "written by another cache format"
        if npy.stat().st_size != meta["bytes"]:
            return f"size {npy.stat().st_size} bytes, recorded {meta['bytes']}"
        if _crc32_file(npy) != meta["crc32"]:
            return "CRC-32 mismatch"
        return ""

    def _store(self, sha: str, array: np.ndarray, extra: dict[str, Any]) -> None:
        npy, meta_path = self._paths(sha)
        npy.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(npy) as temp, open(temp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        meta = {**extra, "format": CACHE_FORMAT, "source_sha256": sha,
                "shape": list(array.shape), "dtype": str(array.dtype),
                "bytes": npy.stat().st_size, "crc32": _crc32_file(npy)}
        write_text_atomic(meta_path, json.dumps(meta, sort_keys=True))
        self.evict(keep=sha)

    def _remove(self, sha: str) -> None:
        for file in self._paths(sha):
            file.unlink(missing_ok=True)

    def entries(self) -> list[tuple[float, int, str]]:
        """``(last use, bytes, sha)`` of every entry, oldest first."""
        found = []
        for meta_path in self.root.glob("??/*.json"):
            npy = meta_path.with_suffix(".npy")
            try:
                found.append((meta_path.stat().st_mtime, npy.stat().st_size, meta_path.stem))
            except OSError:  # removed meanwhile by another worker
                continue
        return sorted(found)

    def evict(self, *, keep: str = "") -> int:
        """Remove least recently used entries until at most ``max_bytes`` remain (never
        ``keep``), and temporary files a killed writer left over ten minutes ago (a live
        writer finishes in seconds); return the entry bytes removed."""
        stale = time.time() - STALE_TEMP_S
        for temp in self.root.glob("??/.*.tmp"):
            try:
                if temp.stat().st_mtime < stale:
                    temp.unlink()
            except OSError:  # finished or removed meanwhile
                continue
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, sha in entries:
            if total - removed <= self.max_bytes:
                break
            if sha != keep:
                self._remove(sha)
                removed += size
        return removed


def decoded_cache_for(workspace_root: Path, *, max_gb: float) -> DecodedCache | None:
    """The workspace's cache (``<workspace>/cache/decoded``); ``None`` when ``max_gb`` is 0
    (the cache turned off)."""
    if max_gb < 0:
        raise ValueError(f"the decoded cache size must be >= 0 GB, got {max_gb}")
    if max_gb == 0:
        return None
    return DecodedCache(Path(workspace_root) / "cache" / "decoded", int(max_gb * (1 << 30)))


def read_volume_cached(path: str | Path, cache: DecodedCache | None, *,
                       setting: str | None = None, store: bool = True) -> Volume:
    """:func:`read_volume` through ``cache`` (directly when it is ``None``); ``store``:
    see :meth:`DecodedCache.read`."""
    if cache is None:
        return read_volume(path, setting=setting)
    return cache.read(path, setting=setting, store=store)


#: Mask crops this process has read, by source file (SHA-256 and suffix), least recently
#: used first: every case of a trial on one host reads that host's native masks again, and
#: donors recur across cases. A crop is a pure function of the file's bytes and holds a
#: nodule (kB), so the memo is bounded by bytes and entries rather than being a cache to
#: manage; its arrays are read-only, so no reader can change what the next one gets.
_CROP_MEMO: OrderedDict[str, MaskCrop] = OrderedDict()
CROP_MEMO_MAX_BYTES = 64 << 20
CROP_MEMO_MAX_ENTRIES = 1024


def read_mask_crop_cached(path: str | Path, cache: DecodedCache | None) -> MaskCrop:
    """:meth:`DecodedCache.read_mask_crop` (decoding the file when ``cache`` is ``None``),
    remembered in this process (``_CROP_MEMO``) by the file's SHA-256."""
    path = Path(path)
    if not path.is_file():
        return read_mask_crop(path)  # raises the usual missing-file error
    key = f"{source_sha256(path)}:{''.join(path.suffixes).lower()}"
    crop = _CROP_MEMO.pop(key, None)
    if crop is None:
        crop = read_mask_crop(path) if cache is None else cache.read_mask_crop(path)
        crop = MaskCrop(_read_only(crop.mask), crop.offset, _read_only(crop.affine))
    _CROP_MEMO[key] = crop  # (again) the most recently used
    _bound_crop_memo()
    return crop


def forget_remembered_crops() -> None:
    """Empty this process's crop memo (so a comparison of reads with and without a
    cache makes each read its files itself)."""
    _CROP_MEMO.clear()


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array)  # own copy (not a view of a memory-mapped cache entry)
    array.flags.writeable = False
    return array


def _bound_crop_memo() -> None:
    total = sum(c.mask.nbytes for c in _CROP_MEMO.values())
    while _CROP_MEMO and (total > CROP_MEMO_MAX_BYTES or
                          len(_CROP_MEMO) > CROP_MEMO_MAX_ENTRIES):
        _, dropped = _CROP_MEMO.popitem(last=False)
        total -= dropped.mask.nbytes
