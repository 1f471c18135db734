"""Web service load on loopback against a ``lesiontrials serve`` app (one uvicorn worker).

Two runs on one server, one JSON result:

* ``issue`` (first, on cold response caches) — the issue's bounded load: ``--clients``
  (50) clients for ``--seconds`` (20), each waiting a think time drawn uniformly from
  ``--think-ms`` (250–750 ms) between a response and its next request, like people using
  the UI (≈ 95 requests/s offered).
* ``saturation`` — closed loop: ``--saturation-clients`` clients each send their next
  request as soon as the last one answered, for ``--saturation-seconds``; this measures
  the service's capacity (latency there is mostly queueing: clients / throughput).

Clients are asyncio tasks speaking HTTP/1.1 keep-alive over raw sockets (one connection
each; far cheaper than an HTTP library, so the load generator sharing the machine takes
less CPU from the server). Request mix: 2/3 search (drawn from ``--distinct-searches``
seeded random filter sets over every filter, incl. LIDC characteristics, with offsets),
1/9 each nodule detail (200 nodules), similar (``space=features``, k = 10) and case CT
slice PNG (20 cases). Latency is measured from sending a request to reading its whole
body. The service caches JSON responses per path and query (``x-cache: hit``); the result
counts the hits, so the uncached share is known; the second run sees the first run's
cache. The server's and the load generator's CPU seconds are reported (the machine may be
shared: read latencies with its load average).

Target (issue 9): search p99 ≤ 100 ms on the demo index.

``--memory`` runs the bounded-memory load instead (issue 16): ``--memory-requests``
(4,000) distinct requests from 20 closed-loop clients — every case's CT and label slice
PNG at several z / window / zoom settings, searches with long query strings, nodule
details and similar queries, odd names (NUL bytes, 5,000 characters) — and reports the
server's resident memory (``VmRSS``) before and after and its peak (``VmHWM``), with the
status counts (a 500 is an error). Target: RSS after ≤ RSS before + 0.5 GB.

    python benchmarks/bench_app.py -w WORKSPACE [-d DATA_ROOT] [--json out.json]
    python benchmarks/bench_app.py -w WORKSPACE --memory [--memory-requests 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

RANGES = {"diameter": (3, 30), "pleural": (0, 25), "airway": (0, 60), "multiplicity": (1, 6),
          "subtlety": (1, 5), "internal_structure": (1, 4), "calcification": (1, 6),
          "sphericity": (1, 5), "margin": (1, 5), "lobulation": (1, 5), "spiculation": (1, 5),
          "texture": (1, 5), "malignancy": (1, 5)}
CHOICES = {"lobe": ["RUL", "RML", "RLL", "LUL", "LLL"], "zone": ["upper", "middle", "lower"],
           "side": ["left", "right"], "label": ["0", "1", "none"]}


def search_urls(datasets: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` distinct search URLs: 0–3 random filters each, random page."""
    rng = random.Random(seed)
    choices = {**CHOICES, "dataset": datasets}
    urls: set[str] = set()
    while len(urls) < n:
        params: list[tuple[str, str]] = []
        for name in rng.sample([*RANGES, *choices], rng.randint(0, 3)):
            if name in RANGES:
                low, high = RANGES[name]
                digits = 0 if name == "multiplicity" else 1  # an integer filter
                a, b = sorted(round(rng.uniform(low, high), digits) for _ in range(2))
                params += [(f"{name}_min", f"{a:g}"), (f"{name}_max", f"{b:g}")][
                    :rng.randint(1, 2)]
            else:
                params.append((name, rng.choice(choices[name])))
        params += [("limit", str(rng.choice([25, 50, 100]))),
                   ("offset", str(rng.choice([0, 0, 0, 25, 50])))]
        urls.add("/api/nodules?" + urllib.parse.urlencode(params))
    return sorted(urls)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(workspace: Path, data_root: Path, port: int) -> subprocess.Popen[bytes]:
    code = ("import sys, uvicorn; from lesiontrials.apps import create_app; "
            "uvicorn.run(create_app(sys.argv[1], sys.argv[2]), host='127.0.0.1', "
            "port=int(sys.argv[3]), log_level='warning')")
    return subprocess.Popen([sys.executable, "-c", code, str(workspace), str(data_root),
                             str(port)])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _get_json(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=300) as response:
        return json.loads(response.read())


def _wait_ready(base: str) -> None:
    for _ in range(600):
        try:
            _get_json(base, "/api/health")
            _get_json(base, "/api/nodules/map")  # load the index, build/cache the map
            _get_json(base, "/api/nodules/filters")
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def _targets(base: str, distinct_searches: int) -> dict[str, list[str]]:
    filters = _get_json(base, "/api/nodules/filters")["filters"]
    datasets = next(f["choices"] for f in filters if f["name"] == "dataset")
    uids = [r["nodule_uid"] for r in _get_json(base, "/api/nodules?limit=200")["items"]]
    cases = []
    for trial in _get_json(base, "/api/trials?limit=200")["items"][:4]:
        detail = _get_json(base, f"/api/trials/{trial['trial']}?limit=1")
        cases += [f"{trial['trial']}/{c}" for c in detail["cases"][:5]]
    quoted = [urllib.parse.quote(u) for u in uids]
    return {"search": search_urls(datasets, distinct_searches),
            "detail": [f"/api/nodules/{u}" for u in quoted],
            "similar": [f"/api/nodules/{u}/similar?k=10" for u in quoted],
            "case_slice": [f"/api/cases/{c}/slice.png?width=1000" for c in cases]}


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   path: str) -> tuple[int, bool]:
    """One keep-alive GET; returns the status and whether the service answered from its
    response cache (``x-cache: hit``); the body is read in full."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:] if line)}
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    else:  # chunked
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, headers.get("x-cache") == "hit"


async def _client(port: int, targets: dict[str, list[str]], stop: float, seed: int,
                  think_ms: tuple[float, float] | None, out: dict[str, list[float]],
                  hits: dict[str, int], errors: list[str]) -> None:
    rng = random.Random(seed)
    kinds = ["search"] * 6 + ["detail", "similar", "case_slice"]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if think_ms:  # stagger the start like arriving users
            await asyncio.sleep(rng.uniform(0, think_ms[1]) / 1000)
        while time.monotonic() < stop:
            kind = rng.choice(kinds)
            url = rng.choice(targets[kind])
            start = time.perf_counter()
            status, hit = await _request(reader, writer, url)
            out[kind].append(time.perf_counter() - start)
            hits[kind] += hit
            if status != 200:
                errors.append(f"{status} {url}")
            if think_ms:
                await asyncio.sleep(rng.uniform(*think_ms) / 1000)
    finally:
        writer.close()


def _memory_mb(pid: int) -> dict[str, float]:
    """Resident (``VmRSS``) and peak resident (``VmHWM``) memory of a process, MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = round(int(value.split()[0]) / 1024, 1)
    return fields


def memory_urls(targets: dict[str, list[str]], cases: list[str], n: int,
                seed: int = 0) -> list[str]:
    """``n`` distinct URLs that would each add to an unbounded cache."""
    rng = random.Random(seed)
    urls: list[str] = []
    odd = ["/api/files/a%00b.html", "/api/files/" + "x" * 5000,
           "/api/cases/" + "t" * 5000 + "/c", "/api/nodules?offset=" + "9" * 30]
    while len(urls) < n:
        kind = rng.random()
        if kind < 0.5 and cases:
            case = rng.choice(cases)
            source = rng.choice(["ct", "labels"])
            urls.append(f"/api/cases/{case}/slice.png?source={source}&zoom="
                        f"{rng.choice([1, 2, 3])}&width={rng.randint(400, 2000)}"
                        f"&center={rng.randint(-700, 100)}")
        elif kind < 0.8:
            pad = "&limit=25&" + "&".join(f"p{i}={'v' * 40}" for i in range(60))
            urls.append(rng.choice(targets["search"]) + pad + f"&n={len(urls)}")
        elif kind < 0.97:
            urls.append(rng.choice(targets["detail"] + targets["similar"]))
        else:
            urls.append(rng.choice(odd))
    return urls


async def _memory_client(port: int, urls: list[str], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while urls:
            status, _ = await _request(reader, writer, urls.pop())
            statuses[status] += 1
            if status >= 500:  # the server may close the connection after an error
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def memory_run(workspace: Path, data_root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Server RSS before and after ``--memory-requests`` distinct requests."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start_server(workspace, data_root, port)
    try:
        _wait_ready(base)
        targets = _targets(base, 2000)
        cases = []
        for trial in _get_json(base, "/api/trials?limit=200")["items"]:
            detail = _get_json(base, f"/api/trials/{trial['trial']}?limit=200")
            cases += [f"{trial['trial']}/{c}" for c in detail["cases"]]
        urls = memory_urls(targets, cases, args.memory_requests)
        before = _memory_mb(server.pid)
        statuses: dict[int, int] = defaultdict(int)
        start = time.monotonic()
        pending = list(reversed(urls))

        async def drive() -> None:
            await asyncio.gather(*(_memory_client(port, pending, statuses) for _ in range(20)))

        asyncio.run(drive())
        after = _memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"requests": len(urls), "cases": len(cases), "seconds": round(
        time.monotonic() - start, 1), "statuses": dict(sorted(statuses.items())),
        "rss_before_mb": before["VmRSS"], "rss_after_mb": after["VmRSS"],
        "peak_rss_mb": after["VmHWM"], "server_errors_5xx": sum(
            v for k, v in statuses.items() if k >= 500)}


def _summary(times: list[float], seconds: float, hits: int) -> dict[str, float]:
    if not times:
        return {"requests": 0}
    ms = np.asarray(times) * 1000
    return {"requests": len(ms), "cache_hits": hits, "per_s": round(len(ms) / seconds, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p90_ms": round(float(np.percentile(ms, 90)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1)}


async def load(port: int, targets: dict[str, list[str]], *, clients: int, seconds: float,
               think_ms: tuple[float, float] | None) -> dict[str, Any]:
    out: dict[str, list[float]] = defaultdict(list)
    hits: dict[str, int] = defaultdict(int)
    errors: list[str] = []
    start = time.monotonic()
    await asyncio.gather(*(_client(port, targets, start + seconds, seed, think_ms, out, hits,
                                   errors) for seed in range(clients)))
    elapsed = time.monotonic() - start
    every = [t for times in out.values() for t in times]
    return {"clients": clients, "seconds": seconds, "elapsed_s": round(elapsed, 1),
            "think_ms": list(think_ms) if think_ms else None, "errors": len(errors),
            "error_examples": errors[:5], "all": _summary(every, elapsed, sum(hits.values())),
            **{kind: _summary(times, elapsed, hits[kind]) for kind, times in sorted(out.items())}}


def run(workspace: Path, data_root: Path, args: argparse.Namespace) -> dict[str, Any]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start_server(workspace, data_root, port)
    try:
        _wait_ready(base)
        targets = _targets(base, args.distinct_searches)
        runs = {}
        for name, clients, seconds, think in (  # the run first, on cold caches
                ("issue", args.clients, args.seconds, tuple(args.think_ms)),
                ("saturation", args.saturation_clients, args.saturation_seconds, None)):
            cpu, own = _cpu_seconds(server.pid), time.process_time()
            before = os.getloadavg()[0]
            runs[name] = asyncio.run(load(port, targets, clients=clients, seconds=seconds,
                                          think_ms=think))
            runs[name]["load_average_1min"] = [round(before, 2), round(os.getloadavg()[0], 2)]
            used = _cpu_seconds(server.pid) - cpu
            runs[name]["load_generator_cpu_s"] = round(time.process_time() - own, 2)
            requests = runs[name]["all"]["requests"]
            runs[name]["server_cpu_s"] = round(used, 2)
            runs[name]["server_cpu_ms_per_request"] = round(1000 * used / max(requests, 1), 3)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"server": "1 uvicorn worker (loop/http auto: uvloop + httptools when installed)",
            "distinct_searches": len(targets["search"]), **runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-w", "--workspace", type=Path, required=True)
    parser.add_argument("-d", "--data-root", type=Path,
                        help="data root (default: WORKSPACE/world)")
    parser.add_argument("--saturation-clients", type=int, default=20)
    parser.add_argument("--saturation-seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--think-ms", type=float, nargs=2, default=(250.0, 750.0))
    parser.add_argument("--distinct-searches", type=int, default=5000)
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--memory", action="store_true",
                        help="run the bounded-memory load instead (RSS before/after)")
    parser.add_argument("--memory-requests", type=int, default=4000)
    args = parser.parse_args()
    data_root = args.data_root or args.workspace / "world"
    result = (memory_run(args.workspace, data_root, args) if args.memory
              else run(args.workspace, data_root, args))
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
