"""SLURM job arrays through submitit: each array task runs a chunk of cases.

``cluster=None`` lets submitit detect SLURM (``sbatch`` on the PATH); ``"local"`` runs the
array tasks as local subprocesses and ``"debug"`` in this process, which is how the tests
run it. A job that dies (time limit, pre-emption, node failure) fails its chunk's cases
with a reason; re-submitting the stage finishes only those, as finished cases are skipped.
Install with ``pip install 'lesiontrials[slurm]'``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lesiontrials.errors import ConfigError
from lesiontrials.execution.base import (
    CaseOutcome,
    OnDone,
    call_chunk,
    chunks,
    complete_outcomes,
    lost_outcome,
)


def _submitit() -> Any:
    try:
        import submitit
    except ImportError as exc:
        raise ConfigError("the SLURM executor needs submitit. "
                          "Fix: pip install 'lesiontrials[slurm]'") from exc
    return submitit


class SlurmExecutor:
    """Submit cases as one SLURM job array, ``chunk_size`` cases per array task."""

    name = "slurm"

    def __init__(self, *, folder: Path, partition: str | None = None,
                 account: str | None = None, time_min: int = 60, gpus: int = 0,
                 cpus_per_task: int = 1, mem_gb: float | None = None, chunk_size: int = 16,
                 max_parallel: int = 256, cluster: str | None = None,
                 poll_s: float = 5.0, model_gpus: int = 0) -> None:
        self.folder = Path(folder)
        self.model_gpus = model_gpus  # GPUs per array task of a model stage
        self.chunk_size = chunk_size
        self.cluster = cluster
        self.poll_s = poll_s
        self.parameters: dict[str, Any] = {
            "timeout_min": time_min, "gpus_per_node": gpus, "cpus_per_task": cpus_per_task,
            "slurm_array_parallelism": max_parallel,
        }
        if mem_gb is not None:
            self.parameters["mem_gb"] = mem_gb
        if partition:
            self.parameters["slurm_partition"] = partition
        if account:
            self.parameters["slurm_account"] = account

    @property
    def gpus(self) -> int:
        """GPUs per array task."""
        return int(self.parameters["gpus_per_node"])

    def with_gpus(self, gpus: int) -> SlurmExecutor:
        """The same job arrays with ``gpus`` GPUs per array task (for model stages)."""
        twin = copy.copy(self)
        twin.parameters = {**self.parameters, "gpus_per_node": gpus}
        return twin

    def _executor(self, name: str) -> Any:
        submitit = _submitit()
        executor = submitit.AutoExecutor(folder=self.folder / "%j", cluster=self.cluster)
        if self.cluster is None and executor.cluster != "slurm":
            raise ConfigError("the SLURM executor found no SLURM here (no sbatch on the PATH). "
                              "Fix: run on a SLURM login node, or set "
                              "LESIONTRIALS_EXECUTOR=local")
        if executor.cluster != "slurm":  # local/debug: drop slurm-only keys quietly
            params = {k: v for k, v in self.parameters.items() if not k.startswith("slurm_")}
        else:
            params = dict(self.parameters)
        executor.update_parameters(name=name, **params)
        return executor

    def map(self, func: Callable[[Any], Any], items: Sequence[Any], *,
            keys: Sequence[str], on_done: OnDone | None = None) -> list[CaseOutcome]:
        """Submit the array, wait for it, and return outcomes in item order."""
        if not items:
            return []
        key_chunks = list(chunks(list(keys), size=self.chunk_size))
        item_chunks = list(chunks(list(items), size=self.chunk_size))
        executor = self._executor(name=f"lesiontrials-{getattr(func, '__name__', 'cases')}")
        jobs = executor.map_array(call_chunk, [func] * len(key_chunks), key_chunks,
                                  item_chunks)
        by_job = {job.job_id: n for n, job in enumerate(jobs)}
        outcomes: list[CaseOutcome | None] = [None] * len(items)
        helpers = _submitit().helpers
        for job in helpers.as_completed(jobs, poll_frequency=self.poll_s):
            n = by_job[job.job_id]
            try:  # a chunk that reports fewer outcomes leaves slots for complete_outcomes
                got = list(job.result())[:len(key_chunks[n])]
            except Exception as exc:  # FailedJobError, UncompletedJobError, ...
                why = f"SLURM job {job.job_id} failed: {str(exc).splitlines()[0][:200]}"
                got = [lost_outcome(key, why) for key in key_chunks[n]]
            start = n * self.chunk_size
            outcomes[start:start + len(got)] = got
            if on_done is not None:
                on_done(len(key_chunks[n]))
        return complete_outcomes(outcomes, keys)
