"""Host-header check (DNS rebinding), odd parameters answered 400/404 (never 500), and
caches bounded by bytes."""

from __future__ import annotations

import numpy as np
import pytest

from lesiontrials.apps.state import LRU, approx_nbytes


def _client(small_world, **options):
    from fastapi.testclient import TestClient

    from lesiontrials.apps import create_app

    app = create_app(small_world.workspace.root, small_world.data_root.root, **options)
    return TestClient(app, raise_server_exceptions=False, base_url="http://localhost")


@pytest.mark.parametrize("host", ["evil.example", "attacker.test:8080", "127.0.0.1.nip.io"])
def test_a_foreign_host_header_gets_400_and_no_data(small_world, host):
    client = _client(small_world)
    answer = client.get("/api/nodules", headers={"host": host})
    assert answer.status_code == 400
    assert b"nodule_uid" not in answer.content
    files = client.get(f"/api/cases/{small_world.trial}/{small_world.trial}-00001/volume/"
                       "ct.nii.gz", headers={"host": host})
    assert files.status_code == 400 and not files.content.startswith(b"\x1f\x8b")


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:80"])
def test_loopback_names_are_allowed_by_default(small_world, host):
    assert _client(small_world).get("/api/health", headers={"host": host}).status_code == 200


def test_allowed_hosts_are_configurable(small_world):
    client = _client(small_world, allowed_hosts=("lab-server.internal",))
    assert client.get("/api/health", headers={"host": "lab-server.internal:8080"}
                      ).status_code == 200
    assert client.get("/api/health", headers={"host": "localhost"}).status_code == 400
    with pytest.raises(ValueError, match="no '\\*'"):
        _client(small_world, allowed_hosts=("*",))


def test_serve_allows_the_bound_host_and_loopback_plus_extra_names():
    from lesiontrials.cli.app_commands import allowed_host_names

    assert allowed_host_names("10.1.2.3", []) == (
        "10.1.2.3", "localhost", "127.0.0.1", "::1", "[::1]")
    assert allowed_host_names("0.0.0.0", ["Lab.Example"]) == (
        "localhost", "127.0.0.1", "::1", "[::1]", "lab.example")


@pytest.mark.parametrize(("path", "statuses"), [
    ("/api/nodules?offset=99999999999999999999999999999", {400, 422}),
    ("/api/trials?offset=-1", {400, 422}),
    ("/api/files/report%00.html", {400}),
    ("/api/files/" + "a" * 5000, {400}),
    ("/api/reports/" + "r" * 5000 + "/tables/x", {400}),
    ("/api/cases/" + "t" * 5000 + "/c", {400}),
    ("/api/cases/a%00b/c", {400}),
    ("/api/nodules/LIDC/" + "n" * 5000, {400, 404}),
])
def test_odd_parameters_get_a_client_error_with_a_message(client, path, statuses):
    answer = client.get(path)
    assert answer.status_code in statuses, (path, answer.status_code, answer.text[:200])
    if answer.headers.get("content-type", "").startswith("application/json"):
        assert answer.json()["error"]


def test_lru_is_bounded_by_bytes_not_count():
    cache = LRU(1 << 20)
    for i in range(200):
        cache.put(("key", i), np.zeros(64 << 10, np.uint8))  # 64 KiB each, 12.5 MiB in all
    assert cache.nbytes <= 1 << 20
    assert cache.get(("key", 199)) is not None and cache.get(("key", 0)) is None
    cache.put("huge", b"x" * (1 << 19))  # over a quarter of the budget: not kept
    assert cache.get("huge") is None
    long_key = ("k" * 100_000,)
    assert approx_nbytes(long_key) > 100_000  # long query strings count against the budget


def test_the_mmap_threshold_is_fixed_on_glibc():
    import platform

    from lesiontrials.apps.heap import fix_mmap_threshold

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert fix_mmap_threshold() is True
