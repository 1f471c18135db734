"""The 3-D track's intervals resample hosts when a volume set repeats them."""

from __future__ import annotations

import pandas as pd

from lesiontrials.analysis.detection_report import _repeated_hosts


def _scans(hosts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"scan_uid": [f"s{i}" for i in range(len(hosts))],
                         "host_dataset": "phantom", "host_ct_id": hosts})


def test_one_scan_per_host_keeps_the_scan_bootstrap():
    assert _repeated_hosts(_scans(["a", "b", "c"])) is None


def test_scans_sharing_a_host_are_one_cluster():
    got = _repeated_hosts(_scans(["a", "a", "b"]))
    assert got == {"s0": "phantom/a", "s1": "phantom/a", "s2": "phantom/b"}


def test_same_ct_id_in_two_datasets_are_different_hosts():
    scans = pd.DataFrame({"scan_uid": ["s0", "s1"], "host_dataset": ["lidc", "nlst"],
                          "host_ct_id": ["7", "7"]})
    assert _repeated_hosts(scans) is None


def test_donors_cross_hosts_only_when_one_donor_is_on_two_hosts():
    from lesiontrials.analysis.detection_report import donors_cross_hosts

    scans = _scans(["a", "a", "b"])
    same_host = pd.DataFrame({"scan_uid": ["s0", "s1", "s2"], "donor_uid": ["d1", "d1", "d2"]})
    other_host = pd.DataFrame({"scan_uid": ["s0", "s2"], "donor_uid": ["d1", "d1"]})
    assert not donors_cross_hosts(scans, same_host)  # repeat scans of one host: nested
    assert donors_cross_hosts(scans, other_host)
    assert not donors_cross_hosts(scans, other_host.drop(columns="donor_uid"))
