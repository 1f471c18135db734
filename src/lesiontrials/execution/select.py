"""Build the executor named in settings (``executor = local | ray | slurm``)."""

from __future__ import annotations

from lesiontrials.execution.base import Executor
from lesiontrials.settings import Settings, load_settings


def executor_from_settings(settings: Settings, *, gpu: bool = False) -> Executor:
    """The executor ``settings`` asks for.

    ``local`` gives in-process (``workers == 1``) or a local pool; ``ray`` gives Ray tasks,
    or with ``gpu=True`` Ray actors holding ``ray_num_gpus`` GPUs each; ``slurm`` gives a
    submitit job array logging under ``<workspace>/logs/slurm``.
    """
    from lesiontrials.execution.local import InProcessExecutor, LocalPoolExecutor

    if settings.executor == "ray":
        from lesiontrials.execution.ray_executor import RayActorExecutor, RayExecutor

        if gpu:
            return RayActorExecutor(address=settings.ray_address, actors=settings.workers,
                                    num_gpus=settings.ray_num_gpus)
        return RayExecutor(address=settings.ray_address)
    if settings.executor == "slurm":
        from lesiontrials.execution.slurm import SlurmExecutor

        return SlurmExecutor(folder=settings.workspace / "logs" / "slurm",
                             partition=settings.slurm_partition,
                             account=settings.slurm_account,
                             time_min=settings.slurm_time_min, gpus=settings.slurm_gpus,
                             chunk_size=settings.chunk_size)
    if settings.workers <= 1:
        return InProcessExecutor()
    return LocalPoolExecutor(workers=settings.workers)


_CACHE: dict[tuple[object, ...], Executor] = {}


def configured_executor() -> Executor | None:
    """The cluster executor from the environment/``.env``, or None for ``local``.

    Built once per configuration, so a local Ray cluster is started once per process.
    """
    settings = load_settings()
    if settings.executor == "local":
        return None
    key = (settings.executor, settings.ray_address, settings.slurm_partition,
           settings.slurm_account, settings.slurm_time_min, settings.slurm_gpus,
           settings.chunk_size, str(settings.workspace))
    if key not in _CACHE:
        _CACHE[key] = executor_from_settings(settings)
    return _CACHE[key]
