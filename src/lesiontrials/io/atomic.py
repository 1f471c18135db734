"""Atomic file writes: write to a temporary file beside the target, then rename.

A reader never sees a half-written file, and an interrupted run leaves the previous
version (or nothing) in place. Temporary files are named ``.{name}.*.tmp`` (see
:data:`TEMP_GLOB`) so a later run can find and remove the leftovers of a killed one.
The renamed file gets the mode an ordinary ``open()`` would give it (``0o666`` less the
process umask), not the ``0o600`` of :func:`tempfile.mkstemp`, so results can be shared
on a group server when the umask allows it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

TEMP_GLOB = ".*.tmp"
"""Glob matching the temporary files of :func:`atomic_path` (leftovers of a killed run)."""


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Delete the atomic-write leftovers (``.*.tmp``) under ``folder``; return them.

    Call it only where no other process is writing (under the stage's lock).
    """
    removed = []
    for temp in sorted(Path(folder).rglob(TEMP_GLOB)):
        if temp.is_file():
            temp.unlink(missing_ok=True)
            removed.append(temp)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file for writing; rename it onto ``path`` when the block ends."""
    if "r" in mode or "a" in mode:
        raise ValueError("atomic_open is for writing whole files ('w' or 'wb')")
    with atomic_path(path) as tmp, open(tmp, mode) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def sha256_file(path: str | Path, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def file_record(path: str | Path) -> dict[str, int | str]:
    """``{"bytes": size, "sha256": hex}`` of a file, for a stage record to list its outputs."""
    return {"bytes": Path(path).stat().st_size, "sha256": sha256_file(path)}


def matches_record(path: str | Path, record: object) -> bool:
    """Whether ``path`` exists and has the size and SHA-256 in ``record``
    (:func:`file_record`); the size is compared first, so a truncated file costs no hash."""
    path = Path(path)
    if not isinstance(record, dict) or not path.is_file():
        return False
    if path.stat().st_size != record.get("bytes"):
        return False
    return sha256_file(path) == record.get("sha256")


def uid_hash(uids: Iterable[str]) -> str:
    """SHA-256 of the sorted uids, one per line (each line ending in a newline): the
    identity of a set of cases or scans, recorded by splits, calibration folds and
    volume sets."""
    text = "".join(f"{uid}\n" for uid in sorted(uids))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
