"""Build the executor named in settings, and the one a model stage runs on.

CPU stages (insert, slices, world build, analytic rendering) run one case per task or
array slot. Model stages (MAISI rendering, model scoring) load a model per process, so on
Ray they run on long-lived actors holding ``ray_num_gpus`` GPUs each (one model load per
actor), and on SLURM their job array asks for ``slurm_gpus`` GPUs per array task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lesiontrials.execution.base import Executor
from lesiontrials.settings import Settings, load_settings


def executor_from_settings(settings: Settings, *, gpu: bool = False) -> Executor:
    """The executor ``settings`` asks for.

    ``local`` gives in-process (``workers == 1``) or a local pool; ``ray`` gives Ray tasks,
    or with ``gpu=True`` ``workers`` Ray actors holding ``ray_num_gpus`` GPUs each;
    ``slurm`` gives a submitit job array logging under ``<workspace>/logs/slurm``, asking
    for ``slurm_gpus`` GPUs per array task only with ``gpu=True``.
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
                             time_min=settings.slurm_time_min,
                             gpus=settings.slurm_gpus if gpu else 0,
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


def model_executor(*, workers: int, setup: Callable[[], Any] | None = None,
                   gpu: bool = True, settings: Settings | None = None) -> Executor | None:
    """The executor for a stage that loads a model per process, or None to run it locally.

    Starts from the executor ``run_cases`` would use (the active one, else the configured
    one). Ray tasks become ``max(workers, 1)`` Ray actors that run ``setup`` (the model
    load) once each and hold ``ray_num_gpus`` GPUs (none with ``gpu=False``, e.g. for
    weight-free models); Ray actors are kept, with ``setup`` added; a SLURM job array asks
    for ``slurm_gpus`` GPUs per array task. Local executors give None: the stage runs its
    own in-process or pool path (one load per process there too). The Ray actors use the
    chosen executor's cluster: closing them frees the actors, never a cluster the chosen
    executor started (so one ``--executor ray`` run starts Ray once).
    """
    from lesiontrials.execution.local import InProcessExecutor, LocalPoolExecutor, active_executor
    from lesiontrials.execution.ray_executor import RayActorExecutor, RayExecutor
    from lesiontrials.execution.slurm import SlurmExecutor

    chosen = active_executor() or configured_executor()
    if chosen is None or isinstance(chosen, InProcessExecutor | LocalPoolExecutor):
        return None
    settings = settings or load_settings()
    if isinstance(chosen, RayActorExecutor):
        return RayActorExecutor(actors=chosen.actors, num_gpus=chosen.num_gpus,
                                actor_cpus=chosen.actor_cpus, setup=setup or chosen.setup,
                                address=chosen.address, num_cpus=chosen.num_cpus,
                                cluster=chosen)
    if isinstance(chosen, RayExecutor):
        return RayActorExecutor(actors=max(workers, 1), setup=setup, address=chosen.address,
                                num_gpus=settings.ray_num_gpus if gpu else 0.0,
                                num_cpus=chosen.num_cpus, cluster=chosen)
    if isinstance(chosen, SlurmExecutor) and gpu:
        return chosen.with_gpus(max(chosen.gpus, settings.slurm_gpus))
    return chosen
