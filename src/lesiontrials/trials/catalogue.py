"""The host catalogue: every scan that can receive nodules, with its demographics.

A host is a scan with a nodule-free label map (``refined_seg``). Hosts listed in
``meta/{DS}_hosts.csv`` (the world writes one, nodule-free scans included) are taken from
there; otherwise hosts are the indexed scans whose label map exists.
"""

from __future__ import annotations

import pandas as pd

from lesiontrials.index.query import NoduleIndex
from lesiontrials.io import read_csv_table
from lesiontrials.paths import DataRoot

HOST_COLUMNS = ("host_dataset", "host_ct_id", "host_patient_id", "host_seg_path", "host_ct_path",
                "age", "sex", "smoking_status", "pack_years")


def hosts_from_index(index: NoduleIndex, *, require_available: bool = True) -> pd.DataFrame:
    """One row per indexed scan (``require_available``: only those with a label map)."""
    table = index.table
    rows = table[table["host_available"]] if require_available else table
    hosts = rows.sort_values(["dataset", "ct_id"]).drop_duplicates(["dataset", "ct_id"])
    raw = hosts["ct_path"].astype(str)
    return pd.DataFrame({
        "host_dataset": hosts["dataset"].astype(str).to_numpy(),
        "host_ct_id": hosts["ct_id"].astype(str).to_numpy(),
        "host_patient_id": hosts["patient_id"].astype(str).to_numpy(),
        "host_seg_path": hosts["seg_path"].astype(str).to_numpy(),
        "host_ct_path": ("raw_ct/" + raw).to_numpy(),
        "age": hosts["age"].to_numpy(dtype=float),
        "sex": hosts["sex"].astype(str).to_numpy(),
        "smoking_status": hosts["smoking_status"].astype(str).to_numpy(),
        "pack_years": hosts["pack_years"].to_numpy(dtype=float),
    })


def load_host_catalogue(root: DataRoot, index: NoduleIndex) -> pd.DataFrame:
    """Hosts of every dataset: ``meta/{DS}_hosts.csv`` where present, else the index."""
    from_index = hosts_from_index(index)
    frames = []
    datasets = sorted(set(root.datasets()) | set(from_index["host_dataset"]))
    for dataset in datasets:
        path = root.meta_csv(dataset, "hosts")
        if not path.is_file():
            frames.append(from_index[from_index["host_dataset"] == dataset])
            continue
        listed = read_csv_table(path, dtype={"PatientID": "string", "ct_id": "string"})
        patients_path = root.meta_csv(dataset, "patients")
        if patients_path.is_file():
            patients = read_csv_table(patients_path, dtype={"PatientID": "string"})
            listed = listed.merge(patients, on="PatientID", how="left")
        frame = pd.DataFrame({
            "host_dataset": dataset,
            "host_ct_id": listed["ct_id"].astype(str),
            "host_patient_id": listed["PatientID"].astype(str),
            "host_seg_path": listed["seg_path"].astype(str),
            "host_ct_path": [
                root.relative(root.raw_ct(dataset, c)) if root.raw_ct(dataset, c).is_file()
                else "" for c in listed["ct_id"].astype(str)],
            "age": pd.to_numeric(listed.get("age"), errors="coerce"),
            "sex": listed.get("sex", pd.Series("", index=listed.index)).fillna("").astype(str),
            "smoking_status": listed.get("smoking_status", pd.Series("", index=listed.index))
            .fillna("").astype(str),
            "pack_years": pd.to_numeric(listed.get("pack_years"), errors="coerce"),
        })
        frames.append(frame)
    hosts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=HOST_COLUMNS)
    for column in ("age", "pack_years"):
        hosts[column] = pd.to_numeric(hosts[column], errors="coerce").astype(float)
    missing_ct = ~hosts["host_ct_path"].map(
        lambda p: bool(p) and (root.root / p).is_file()).astype(bool)
    hosts.loc[missing_ct, "host_ct_path"] = ""
    return hosts.reset_index(drop=True).loc[:, list(HOST_COLUMNS)]
