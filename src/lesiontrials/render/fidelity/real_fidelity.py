"""How close the analytic renderer comes to real CT: render the real hosts of a data root.

For every host of a dataset whose ``meta/{DS}_hosts.csv`` lists a real CT (``REALCT`` in
the embedded world), the host label map is rendered by the analytic backend exactly as a
case would be — the host's acquisition (``meta/{DS}_acquisition.csv``) and anatomy facts
(``meta/{DS}_hosts.csv``), no lesion drawn — and compared with the real CT by HU histogram
intersection inside the body and inside the lungs (:func:`~lesiontrials.render.fidelity.fidelity.
host_histograms`). Used by ``benchmarks/bench_fidelity.py`` and its test.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from lesiontrials.io import read_csv_table, read_volume
from lesiontrials.paths import DataRoot
from lesiontrials.render.backends.registry import (
    host_acquisition,
    host_ct_path,
    make_backend,
    read_host_ct,
)
from lesiontrials.render.fidelity.fidelity import host_histograms
from lesiontrials.render.interface import HostFacts


def real_hosts(root: DataRoot, dataset: str) -> list[dict[str, Any]]:
    """Host records (as in ``insert.json``) of the dataset's hosts that have a real CT."""
    path = root.meta_csv(dataset, "hosts")
    if not path.is_file():
        return []
    table = read_csv_table(path, dtype={"ct_id": "string", "PatientID": "string"})
    hosts = []
    for row in table.to_dict("records"):
        ct_id = str(row["ct_id"])
        host = {"dataset": dataset, "ct_id": ct_id, "seg_path": str(row["seg_path"]),
                "ct_path": root.relative(root.raw_ct(dataset, ct_id))}
        if host_ct_path(root, host) is not None:
            hosts.append(host)
    return hosts


def real_host_fidelity(root: DataRoot, *, dataset: str = "REALCT",
                       seeds: Sequence[int] = (0, 1, 2, 3),
                       use_facts: bool = True) -> list[dict[str, Any]]:
    """One row per host and seed: body and lung histogram intersection, render seconds.
    ``use_facts=False`` withholds the host's anatomy facts (population draws instead)."""
    rows = []
    for host in real_hosts(root, dataset):
        labels = read_volume(root.root / host["seg_path"])
        real = read_host_ct(root, host, labels, host["seg_path"])
        assert real is not None
        acquisition = host_acquisition(root, host)
        backend = make_backend("analytic", root=root, host=host, labels=labels,
                               facts=None if use_facts else HostFacts())
        for seed in seeds:
            start = time.perf_counter()
            result = backend.render(labels=labels.array, spacing_mm=labels.spacing_mm,
                                    lesions=[], acquisition=acquisition, seed=int(seed))
            seconds = time.perf_counter() - start
            scores = host_histograms(result.hu, real.array, labels.array)
            rows.append({"host": host["ct_id"], "seed": int(seed),
                         "body": scores["hist_intersection_body"],
                         "lungs": scores["hist_intersection_lungs"],
                         "render_seconds": round(seconds, 2),
                         "host_facts": result.qc.get("host_facts", {})})
    return rows
