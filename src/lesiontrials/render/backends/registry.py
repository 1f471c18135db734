"""Backend registry: resolve a backend name for a case, build it, find the acquisition.

``auto`` renders real hosts (those with a ``ct_path``) through ``host-ct`` and phantoms
through ``analytic``. The MAISI backend is built once per worker process and reused.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.io import Volume, check_same_grid, read_csv_table, read_volume
from lesiontrials.io.decoded import DecodedCache, read_volume_cached
from lesiontrials.paths import DataRoot
from lesiontrials.render.interface import Acquisition, HostFacts, Renderer, ZSpread

BACKEND_NAMES: tuple[str, ...] = ("auto", "analytic", "physics", "host-ct", "maisi")


def host_ct_path(root: DataRoot, host: dict[str, Any]) -> Path | None:
    """The host's real CT file when it has one (``ct_path`` relative to the data root)."""
    relative = str(host.get("ct_path") or "")
    if not relative:
        return None
    candidates = [root.root / relative]
    if not relative.startswith("raw_ct/"):
        candidates.append(root.raw_ct_from_profile(relative))
    return next((p for p in candidates if p.is_file()), None)


def read_host_ct(root: DataRoot, host: dict[str, Any], labels: Volume,
                 labels_path: Path | str, *, cache: DecodedCache | None = None
                 ) -> Volume | None:
    """The host's real CT, checked to share the label grid; ``None`` for phantom hosts
    (``cache``: decoded once per workspace, :mod:`lesiontrials.io.decoded`)."""
    path = host_ct_path(root, host)
    if path is None:
        return None
    ct = read_volume_cached(path, cache)
    check_same_grid(ct, labels, path_a=path, path_b=labels_path)
    return ct


def resolve_backend(name: str, host: dict[str, Any], root: DataRoot) -> str:
    """The concrete backend for a case (``auto``: host-ct for real hosts, else analytic)."""
    if name not in BACKEND_NAMES:
        raise InputError(f"unknown render backend {name!r}", fix=f"use one of {BACKEND_NAMES}")
    if name == "auto":
        return "host-ct" if host_ct_path(root, host) is not None else "analytic"
    if name == "host-ct" and host_ct_path(root, host) is None:
        raise InputError(f"host {host.get('ct_id')!r} has no real CT for the host-ct backend",
                         fix="use --backend analytic (or auto) for phantom hosts")
    return name


@functools.lru_cache(maxsize=32)
def _meta_table(path: Path, mtime_ns: int) -> pd.DataFrame | None:
    return read_csv_table(path, dtype={"ct_id": "string"}) if mtime_ns >= 0 else None


def _host_row(root: DataRoot, host: dict[str, Any], table_name: str) -> dict[str, Any] | None:
    """The host's row of ``meta/{DS}_{table_name}.csv`` (``None`` when absent)."""
    path = root.meta_csv(str(host["dataset"]), table_name)
    table = _meta_table(path, path.stat().st_mtime_ns if path.is_file() else -1)
    if table is None or "ct_id" not in table.columns:
        return None
    rows = table[table["ct_id"].astype(str) == str(host["ct_id"])]
    return rows.iloc[0].to_dict() if len(rows) else None


def host_acquisition(root: DataRoot, host: dict[str, Any]) -> Acquisition:
    """The host's acquisition from ``meta/{DS}_acquisition.csv`` (defaults when absent)."""
    return Acquisition.from_record(_host_row(root, host, "acquisition"))


def host_facts(root: DataRoot, host: dict[str, Any]) -> HostFacts:
    """The host's measured anatomy facts from ``meta/{DS}_hosts.csv`` (unknown when absent)."""
    return HostFacts.from_record(_host_row(root, host, "hosts"))


def host_z_spread(root: DataRoot, host: dict[str, Any]) -> ZSpread:
    """The host's stored z spread from ``meta/{DS}_acquisition.csv`` (unmeasured when absent)."""
    return ZSpread.from_record(_host_row(root, host, "acquisition"))


def make_backend(name: str, *, root: DataRoot, host: dict[str, Any], labels: Volume,
                 host_ct: Volume | None = None, facts: HostFacts | None = None) -> Renderer:
    """Build a concrete backend for one case. ``host_ct``: the host's real CT when the
    caller has read it already (else host-ct reads it); ``facts``: the host's anatomy
    facts (else read from the world's metadata)."""
    if name in ("analytic", "physics"):
        facts = facts if facts is not None else host_facts(root, host)
        if name == "analytic":
            from lesiontrials.render.backends.analytic import AnalyticRenderer

            return AnalyticRenderer(facts=facts)
        from lesiontrials.render.backends.physics import PhysicsRenderer

        return PhysicsRenderer(facts=facts)
    if name == "host-ct":
        from lesiontrials.render.backends.hostct import HostCTRenderer

        path = host_ct_path(root, host)
        assert path is not None
        ct = host_ct if host_ct is not None else read_volume(path)
        check_same_grid(labels, ct, path_a="labels.nii.gz", path_b=path)
        facts = facts if facts is not None else host_facts(root, host)
        return HostCTRenderer(ct=ct.array, psf_sigma_xy_mm=facts.psf_sigma_xy_mm,
                              z_spread=host_z_spread(root, host))
    if name == "maisi":
        from lesiontrials.render.backends.maisi import renderer_from_env

        return renderer_from_env()
    raise InputError(f"unknown render backend {name!r}", fix=f"use one of {BACKEND_NAMES}")
