"""What every volume-track run shares: reading a set's CTs (hash-checked) and ``run.json``.

A model sees one CT at a time, read from the file whose SHA-256 the set recorded (a changed
file is an error). ``run.json`` holds model, version, kind, set and the set's uid hash; a
run whose model version and set hash match it is reused. Wall time goes to
``run_timing.json``, outside the content record.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lesiontrials.errors import InputError
from lesiontrials.io import read_json, sha256_file, write_json
from lesiontrials.io.volumes import Volume, read_volume
from lesiontrials.slicing.volumes import VolumeSet

RUN_JSON = "run.json"
RUN_TIMING_JSON = "run_timing.json"


def scans(volume_set: VolumeSet) -> Iterator[tuple[str, Volume]]:
    for uid, digest in zip(volume_set.scans["scan_uid"].astype(str),
                           volume_set.scans["ct_sha256"].astype(str), strict=True):
        path = volume_set.ct_file(uid)
        if not path.is_file():
            raise InputError(f"volume set {volume_set.name!r}: CT of {uid} is missing",
                             path=path, fix="re-render the case or rebuild the volume set")
        if sha256_file(path) != digest:
            raise InputError(f"volume set {volume_set.name!r}: CT of {uid} changed since the "
                             "set was built", path=path,
                             fix=f"rebuild with `lesiontrials volumes build {volume_set.name}`")
        yield uid, read_volume(path)


def reusable(directory: Path, *, model: str, version: str, volume_set: VolumeSet,
              output: str) -> bool:
    info_path = directory / RUN_JSON
    if not info_path.is_file() or not (directory / output).is_file():
        return False
    info = read_json(info_path)
    return bool(info.get("model") == model and info.get("version") == version
                and info.get("set_sha256") == volume_set.sha256)


def record_run(directory: Path, *, model: str, version: str, kind: str, volume_set: VolumeSet,
            seconds: float) -> None:
    write_json({"model": model, "version": version, "kind": kind, "set": volume_set.name,
                "set_sha256": volume_set.sha256, "n_scans": len(volume_set.scans)},
               directory / RUN_JSON)
    # wall time is a run log, kept out of the content record (a rerun writes the same bytes)
    write_json({"seconds_per_scan": round(seconds / max(len(volume_set.scans), 1), 3)},
               directory / RUN_TIMING_JSON)
