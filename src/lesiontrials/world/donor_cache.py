"""The LIDC donor library remembered on disk, so a world build derives it once.

Deriving the demo library (:func:`~lesiontrials.world.donors.load_donor_library`: ~1,190
donors, every reader's polygons rasterised at sub-pixel accuracy) costs ~12 CPU-s, and
every process that builds or resumes a world paid it again: a resumed build after a kill,
the world stage of each ``lesiontrials run`` that builds one, each test that builds a
world. The library depends only on the LIDC database file, the library size and the code
that derives it, so it is kept under ``<cache_dir>/donor_library/`` keyed by

* the SHA-256 of the database file,
* the size (``demo`` / ``full``),
* the source bytes of every module that derives it (:data:`DERIVING_MODULES`), and the
  numpy, scipy and Python versions,

so an edited database, an edited rasteriser or another numpy never meets a stale entry.
It is an implementation detail, like the decoded-volume cache:

* safe to delete at any time (a missing entry is derived again);
* verified on use: an entry whose SHA-256 or size disagrees with its record is logged,
  deleted and derived again, never used;
* bounded: after a new entry is written only the :data:`KEEP_ENTRIES` most recently used
  are kept.

A library read from the cache equals the one derived (same donors, masks, affines and
reader statistics, tested), so world files are byte-identical with or without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy

from lesiontrials.io.atomic import sha256_file, write_bytes_atomic, write_text_atomic
from lesiontrials.io.decoded import source_sha256
from lesiontrials.world.donors import DonorLibrary, load_donor_library

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
KEEP_ENTRIES = 4  # both sizes and an older code or two (the demo library: ≈ 93 MB)
STALE_TEMP_S = 600.0  # a writer's temporary file this old was left by a killed process
#: the modules whose code decides the library (their source bytes are in the key)
DERIVING_MODULES = ("lesiontrials.world.donors", "lesiontrials.world.lidc",
                    "lesiontrials.world.lidc_clusters", "lesiontrials.world.lidc_masks",
                    "lesiontrials.world.lidc_subpixel", "lesiontrials.anatomy",
                    "lesiontrials.io.volumes", "lesiontrials.world.donor_cache")


def library_key(sqlite_path: Path, *, size: str) -> str:
    """SHA-256 naming the library derived from ``sqlite_path`` at ``size`` by this code."""
    digest = hashlib.sha256()
    parts = [f"format {CACHE_FORMAT}", f"size {size}", source_sha256(sqlite_path),
             f"numpy {np.__version__}", f"scipy {scipy.__version__}",
             f"python {platform.python_version()}"]
    for name in DERIVING_MODULES:
        __import__(name)
        source = Path(str(sys.modules[name].__file__))
        parts.append(f"{name} {hashlib.sha256(source.read_bytes()).hexdigest()}")
    digest.update("\n".join(parts).encode())
    return digest.hexdigest()


def load_donor_library_cached(sqlite_path: Path, *, size: str,
                              cache_dir: Path) -> DonorLibrary:
    """The donor library of :func:`load_donor_library`, read from ``cache_dir`` when an
    entry for this database, size and code exists and checks out, else derived and
    stored there (atomically: concurrent builds write the same bytes)."""
    folder = Path(cache_dir) / "donor_library"
    key = library_key(sqlite_path, size=size)
    data, record = folder / f"{key}.pickle", folder / f"{key}.json"
    library = _read_entry(data, record)
    if library is not None:
        os.utime(record)  # most recently used
        return library
    library = load_donor_library(sqlite_path, size=size)
    payload = pickle.dumps(library, protocol=pickle.HIGHEST_PROTOCOL)
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(data, payload)
    write_text_atomic(record, json.dumps({
        "format": CACHE_FORMAT, "size": size, "bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(), "donors": len(library.masks)}))
    _evict(folder, keep=KEEP_ENTRIES)
    return library


def _read_entry(data: Path, record: Path) -> DonorLibrary | None:
    """The cached library, or ``None`` when absent; a damaged entry is removed."""
    if not (data.is_file() and record.is_file()):
        return None
    try:
        meta: dict[str, Any] = json.loads(record.read_text(encoding="utf-8"))
        problem = ("size differs from its record" if data.stat().st_size != meta["bytes"]
                   else "SHA-256 differs from its record" if sha256_file(data) != meta["sha256"]
                   else "")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problem = f"unreadable record ({exc})"
    if problem:
        log.warning("donor library cache entry %s: %s; removed, deriving it again", data,
                    problem)
        data.unlink(missing_ok=True)
        record.unlink(missing_ok=True)
        return None
    library = pickle.loads(data.read_bytes())  # our own entry, its SHA-256 just checked
    if not isinstance(library, DonorLibrary):
        raise TypeError(f"{data} holds a {type(library).__name__}, not a DonorLibrary")
    return library


def _evict(folder: Path, *, keep: int) -> None:
    """Keep the ``keep`` most recently used entries (by their record's mtime); remove
    temporary files of writers killed mid-write once stale."""
    for temp in folder.glob(".*.tmp"):
        try:
            if time.time() - temp.stat().st_mtime > STALE_TEMP_S:
                temp.unlink(missing_ok=True)
        except OSError:  # renamed into place or removed meanwhile by another build
            continue
    used = []
    for record in folder.glob("*.json"):
        try:
            used.append((record.stat().st_mtime_ns, record))
        except OSError:  # evicted meanwhile by another build
            continue
    for _, stale in sorted(used, reverse=True)[keep:]:
        stale.with_suffix(".pickle").unlink(missing_ok=True)
        stale.unlink(missing_ok=True)
