"""Per-stage lock files: two runs on one workspace must not do the same work twice.

A stage holds ``{folder}/.locks/{stage}.lock`` while it runs. The file is created with
``O_CREAT | O_EXCL`` (atomic on local and NFSv3+ file systems) and holds the holder's pid,
host name and start time as JSON. A second run finds it and:

* refuses with :class:`~lesiontrials.errors.LockHeldError` when the holder is a live
  process on this host, or runs on another host (whose pids cannot be checked here);
* takes it over when the holder was on this host and its pid is gone (a killed run),
  saying so through ``on_takeover``.

The lock is removed when the stage ends, also on error; a ``kill -9`` leaves it behind,
which the next run on the same host recognises as stale.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lesiontrials.errors import LockHeldError

LOCK_DIR = ".locks"


def lock_path(folder: str | Path, stage: str) -> Path:
    """Where ``stage``'s lock lives under ``folder`` (a workspace or a world root)."""
    return Path(folder) / LOCK_DIR / f"{stage}.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _read_holder(path: Path) -> dict[str, Any] | None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # half-written by a killed run: treat as stale
        return {}
    return holder if isinstance(holder, dict) else {}


def _is_stale(holder: dict[str, Any]) -> bool:
    pid = holder.get("pid")
    if not isinstance(pid, int) or holder.get("host") != socket.gethostname():
        return not isinstance(pid, int)  # unreadable: stale; another host: assume live
    return pid != os.getpid() and not _pid_alive(pid)


def _try_create(path: Path, record: dict[str, Any]) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    return True


@contextlib.contextmanager
def stage_lock(folder: str | Path, stage: str, *,
               on_takeover: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold ``stage``'s lock under ``folder`` for the block; see the module docstring."""
    path = lock_path(folder, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for _ in range(3):  # a racing taker may remove/recreate between our steps
        if _try_create(path, record):
            break
        holder = _read_holder(path)
        if holder is None:
            continue
        if not _is_stale(holder):
            raise LockHeldError(
                f"{path}: the {stage} stage is already running here (pid {holder.get('pid')} "
                f"on {holder.get('host')}, since {holder.get('started')}). Fix: wait for that "
                "run to finish; if it is gone (e.g. another machine that crashed), delete "
                "the lock file and run again")
        if on_takeover:
            on_takeover(f"taking over the stale {stage} lock of pid {holder.get('pid')} "
                        f"on {holder.get('host')} (that process is gone)")
        path.unlink(missing_ok=True)
    else:
        raise LockHeldError(f"{path}: could not take the {stage} lock. Fix: run again")
    try:
        yield path
    finally:
        holder = _read_holder(path)
        if holder and holder.get("pid") == os.getpid():
            path.unlink(missing_ok=True)
