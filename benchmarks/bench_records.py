"""Cost of typed stage records: write + read of insert.json / render.json, typed
(validated pydantic records) versus plain JSON dicts. JSON out.

The typed path is on every case of insert, render, slices and volume sets; it should stay
a small fraction of a millisecond per file against a case's seconds of work.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from lesiontrials.io import read_json, read_record, write_json, write_record
from lesiontrials.records import InsertRecord, RenderRecord
from lesiontrials.testing import sphere_mask
from lesiontrials.testing_records import insert_record, inserted_nodule, render_record

N_FILES = 400


def _records() -> tuple[InsertRecord, RenderRecord]:
    affine = np.diag([0.7, 0.7, 1.25, 1.0])
    nodules = [inserted_nodule(k, sphere_mask((200, 200, 120), (60.0 + 30 * k, 80.0, 50.0),
                                              4.0, (0.7, 0.7, 1.25)), affine,
                               lobe="right_lung_upper_lobe", donor_uid=f"LIDC/{k}", label=1)
               for k in range(3)]
    return (insert_record(trial="t", case_uid="t-00000", seed=1, nodules=nodules),
            render_record(trial="t", case_uid="t-00000",
                          descriptions={k: "6 mm solid nodule" for k in range(3)}))


def _time(work) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) / N_FILES * 1e3


def _measure(record: InsertRecord | RenderRecord, paths: list[Path]) -> dict[str, float]:
    """Milliseconds per file: plain write/read, then typed write (validate + dump)/read."""
    plain = record.to_json_dict()
    model = type(record)
    return {
        "write_plain_ms": _time(lambda: [write_json(plain, p) for p in paths]),
        "read_plain_ms": _time(lambda: [read_json(p) for p in paths]),
        "write_typed_ms": _time(lambda: [write_record(model.model_validate(plain), p)
                                         for p in paths]),
        "read_typed_ms": _time(lambda: [read_record(p, model) for p in paths]),
    }


def main() -> None:
    inserted, rendered = _records()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, record in (("insert", inserted), ("render", rendered)):
            paths = [Path(tmp) / f"{name}_{i}.json" for i in range(N_FILES)]
            out |= {f"{name}_{k}": v for k, v in _measure(record, paths).items()}
    print(json.dumps({"benchmark": "records", "files": N_FILES, "nodules_per_case": 3,
                      **{k: round(v, 3) for k, v in out.items()}}))


if __name__ == "__main__":
    main()
