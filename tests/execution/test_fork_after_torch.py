"""A local pool started after torch ran its thread pool in this process does not hang: the
pool then starts workers from a fork server instead of forking (a forked child can inherit
a lock held by one of torch's threads and wait on it forever)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lesiontrials.execution.local import pool_context


def test_pool_forks_only_while_torch_is_not_loaded(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert pool_context().get_start_method() == "fork"
    monkeypatch.setitem(sys.modules, "torch", object())
    assert pool_context().get_start_method() == "forkserver"


def test_scoring_style_pool_after_torch_finishes(tmp_path: Path):
    pytest.importorskip("torch")
    (tmp_path / "torch_work.py").write_text(textwrap.dedent('''
        import torch

        def matmul_sum(n):
            torch.set_num_threads(2)
            x = torch.ones(256, 256) * n
            return float((x @ x).sum())
    '''))
    script = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import torch
        from torch_work import matmul_sum
        torch.set_num_threads(4)
        for _ in range(3):
            matmul_sum(1)  # torch's intra-op threads are now running in this process
        from lesiontrials.execution import LocalPoolExecutor
        outcomes = LocalPoolExecutor(workers=2).map(matmul_sum, [1, 2, 3, 4],
                                                    keys=["a", "b", "c", "d"])
        print([o.status for o in outcomes], [o.result for o in outcomes])
    ''')
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    statuses, _, results = done.stdout.strip().partition("] [")
    assert statuses == "['done', 'done', 'done', 'done'"
    expected = [float(256 * 256 * 256 * n * n) for n in (1, 2, 3, 4)]
    assert [float(v) for v in results.rstrip("]").split(", ")] == expected
