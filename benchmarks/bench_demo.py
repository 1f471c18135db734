"""The demo's main job, per stage (issue 24): ``lesiontrials run --size demo``. JSON out.

Runs the real command (``--workers 2 --keep-going``, ``--workspace`` in a temporary
folder unless given) as a child process, reads its stage headings (``== name ==`` lines:
the CLI prints plain headings when its output is not a terminal) as they arrive, and
samples the resident memory of the whole process tree (the command and its workers,
from ``/proc``) every 0.2 s. Prints, per stage: wall seconds, CPU seconds (user + system
of the tree, from ``/proc/<pid>/stat``: each live process's own and its reaped children's
time, read at each heading; on a loaded machine CPU says more than wall) and the peak tree
RSS; and in total: wall and CPU seconds (``getrusage`` of the children), the exit status,
the peak tree RSS and the largest single process's peak RSS, with the load average before
and after. ``--grid full``: the screening-grid demo (issue 17 item 3; 40 mm slabs by default).

Target (issue 24): main job ≤ 6 min on 2 cores at low load, ≤ 1.5 GB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HEADING = re.compile(r"^== (.+) ==$")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Child process ids of ``pid`` (none once it has exited: the sampler must outlive
    every worker that ends between two samples)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants (MB, from /proc)."""
    total_kb, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            total_kb += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            continue
        stack += _children(pid)
    return total_kb / 1024


def tree_pids(root: int) -> list[int]:
    """``root`` and its live descendants."""
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack += _children(pid)
    return found


def process_memory_kb(pid: int) -> tuple[int, int, str]:
    """``(VmHWM, VmRSS, name)`` of one process in kB (zeros when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0, ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    def kb(key: str) -> int:
        return int(fields.get(key, "0 kB").split()[0])
    return kb("VmHWM"), kb("VmRSS"), fields.get("Name", "").strip()


def tree_cpu_s(root: int) -> float:
    """User + system CPU seconds of ``root``, its live descendants and every child they
    have reaped (``/proc/<pid>/stat`` fields utime, stime, cutime, cstime)."""
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))
        except (OSError, IndexError, ValueError):
            continue
        stack += _children(pid)
    return total / TICKS


class Sampler(threading.Thread):
    """Samples the tree RSS; keeps the peak of the current stage. Also the largest
    single process of the stage: each process's high-water mark (``VmHWM``) when it rose
    during the stage (so a spike between two samples still counts, and a peak reached in
    an earlier stage by a long-lived process does not), else its sampled RSS."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0.0, threading.Event()
        self.process_peak_kb, self.process_peak_pid = 0, 0
        self._hwm: dict[int, int] = {}
        self.cpu = 0.0  # the tree's CPU seconds at the last sample (a process that exits
        # between two samples is counted in its parent's reaped time at the next one)

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.pid))
            for pid in tree_pids(self.pid):
                hwm, rss, _ = process_memory_kb(pid)
                seen = hwm if hwm > self._hwm.get(pid, 0) else rss
                self._hwm[pid] = max(hwm, self._hwm.get(pid, 0))
                if seen > self.process_peak_kb:
                    self.process_peak_kb, self.process_peak_pid = seen, pid
            self.cpu = max(self.cpu, tree_cpu_s(self.pid))
            time.sleep(0.2)

    def take_peak(self) -> float:
        peak, self.peak = self.peak, 0.0
        return peak

    def take_process_peak(self) -> tuple[float, int]:
        """The stage's largest single-process memory (MB) and that process's id (the
        command itself or one of its workers)."""
        peak = (round(self.process_peak_kb / 1024, 1), self.process_peak_pid)
        self.process_peak_kb, self.process_peak_pid = 0, 0
        return peak


def run_demo(workspace: Path, *, workers: int, log: Path,
             extra: list[str] | None = None) -> dict[str, object]:
    command = [sys.executable, "-m", "lesiontrials.cli.main", "run", "--size", "demo",
               "--workspace", str(workspace), "--workers", str(workers), "--keep-going",
               *(extra or [])]
    # unbuffered: each heading reaches us when it is printed, not when a buffer fills
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb", "PYTHONUNBUFFERED": "1"}
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    stages: list[dict[str, object]] = []
    current, since, cpu_since = "start", start, 0.0
    with open(log, "w", encoding="utf-8") as out, subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=env) as child:
        sampler = Sampler(child.pid)
        sampler.start()
        assert child.stdout is not None
        for line in child.stdout:
            out.write(line)
            match = HEADING.match(line.strip())
            if match:
                now, cpu = time.perf_counter(), max(sampler.cpu, tree_cpu_s(child.pid))
                stages.append(_stage(current, now - since, cpu - cpu_since, sampler, child.pid))
                current, since, cpu_since = match.group(1), now, cpu
        code = child.wait()
        sampler.done.set()
    end = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_total = usage.ru_utime + usage.ru_stime
    stages.append(_stage(current, end - since, cpu_total - cpu_since, sampler, child.pid))
    peak_all = max(float(s["peak_tree_rss_mb"]) for s in stages)  # type: ignore[arg-type]
    return {"benchmark": "demo", "command": " ".join(command[1:]), "exit_code": code,
            "wall_s": round(end - start, 1), "cpu_s": round(cpu_total, 1),
            "user_s": round(usage.ru_utime, 1), "system_s": round(usage.ru_stime, 1),
            "peak_tree_rss_mb": peak_all,
            "peak_single_process_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "stages": stages, "load_average_before": round(load_before, 2),
            "load_average_after": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count(),
            "target_wall_s": 360, "target_peak_rss_mb": 1536, "log": str(log)}


def _stage(name: str, wall_s: float, cpu_s: float, sampler: Sampler,
           main_pid: int) -> dict[str, object]:
    process_mb, pid = sampler.take_process_peak()
    return {"stage": name, "wall_s": round(wall_s, 1), "cpu_s": round(cpu_s, 1),
            "load_average": round(os.getloadavg()[0], 2),
            "peak_tree_rss_mb": round(sampler.take_peak(), 1),
            "peak_process_rss_mb": process_mb,
            "peak_process": "main" if pid == main_pid else "worker"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, default=None,
                        help="where the demo writes (default: a temporary folder, removed)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--grid", choices=("coarse", "full"), default=None,
                        help="phantom host grid (default: the demo's)")
    parser.add_argument("--slab-mm", type=float, default=None,
                        help="cases on phantom hosts keep an axial slab this long (mm)")
    parser.add_argument("--log", type=Path, default=None, help="where the output goes")
    args = parser.parse_args()
    extra = ([] if args.grid is None else ["--grid", args.grid]) + \
        ([] if args.slab_mm is None else ["--slab-mm", f"{args.slab_mm:g}"])
    with tempfile.TemporaryDirectory(prefix="bench_demo_") as tmp:
        workspace = args.workspace or Path(tmp) / "ws"
        log = args.log or Path(tempfile.gettempdir()) / "bench_demo.log"
        print(json.dumps(run_demo(workspace, workers=args.workers, log=log, extra=extra)))


if __name__ == "__main__":
    main()
