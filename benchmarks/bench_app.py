"""Web service load on loopback: N concurrent httpx clients for D seconds against a
``lesiontrials serve`` process (one uvicorn worker). Prints JSON per endpoint.

Target (issue 9): search p99 ≤ 100 ms on the demo index.

    python benchmarks/bench_app.py -w WORKSPACE [--clients 20] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np

SEARCHES = [
    "/api/nodules?limit=50",
    "/api/nodules?lobe=RUL&diameter_min=5&diameter_max=15&limit=25",
    "/api/nodules?dataset=LIDC&label=1&limit=25",
    "/api/nodules?zone=lower&side=left&pleural_max=20&limit=25&offset=25",
    "/api/nodules?multiplicity_min=2&airway_max=30&limit=100",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(workspace: Path, port: int) -> subprocess.Popen[bytes]:
    code = ("import sys, uvicorn; from lesiontrials.apps import create_app; "
            "uvicorn.run(create_app(sys.argv[1], sys.argv[1] + '/world'), host='127.0.0.1', "
            "port=int(sys.argv[2]), log_level='warning')")
    return subprocess.Popen([sys.executable, "-c", code, str(workspace), str(port)])


async def _wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(200):
            try:
                if (await client.get("/api/health")).status_code == 200:
                    await client.get("/api/nodules/map")  # build/cache the map, load the index
                    return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


async def _targets(base: str) -> dict[str, list[str]]:
    async with httpx.AsyncClient(base_url=base) as client:
        uids = [r["nodule_uid"] for r in (await client.get("/api/nodules?limit=200")).json()[
            "items"]]
        trials = (await client.get("/api/trials?limit=200")).json()["items"]
        cases = []
        for trial in trials[:4]:
            detail = (await client.get(f"/api/trials/{trial['trial']}?limit=1")).json()
            cases += [f"{trial['trial']}/{c}" for c in detail["cases"][:5]]
    return {"search": SEARCHES, "detail": [f"/api/nodules/{u}" for u in uids],
            "similar": [f"/api/nodules/{u}/similar?k=10" for u in uids],
            "case_slice": [f"/api/cases/{c}/slice.png?width=1000" for c in cases]}


async def _client(base: str, targets: dict[str, list[str]], stop: float, seed: int,
                  out: dict[str, list[float]], errors: list[str]) -> None:
    rng = random.Random(seed)
    kinds = ["search"] * 6 + ["detail", "similar", "case_slice"] * 1
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while time.monotonic() < stop:
            kind = rng.choice(kinds)
            url = rng.choice(targets[kind])
            start = time.perf_counter()
            response = await client.get(url)
            out[kind].append(time.perf_counter() - start)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {url}")


def _summary(times: list[float], seconds: float) -> dict[str, float]:
    ms = np.asarray(times) * 1000
    return {"requests": len(ms), "per_s": round(len(ms) / seconds, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1)}


async def run(workspace: Path, *, clients: int, seconds: float) -> dict[str, object]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start_server(workspace, port)
    try:
        await _wait_ready(base)
        targets = await _targets(base)
        out: dict[str, list[float]] = defaultdict(list)
        errors: list[str] = []
        stop = time.monotonic() + seconds
        await asyncio.gather(*(_client(base, targets, stop, seed, out, errors)
                               for seed in range(clients)))
    finally:
        server.terminate()
        server.wait(timeout=10)
    every = [t for times in out.values() for t in times]
    return {"clients": clients, "seconds": seconds, "errors": len(errors),
            "error_examples": errors[:5], "all": _summary(every, seconds),
            **{kind: _summary(times, seconds) for kind, times in sorted(out.items())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-w", "--workspace", type=Path, required=True)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.workspace, clients=args.clients, seconds=args.seconds))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
