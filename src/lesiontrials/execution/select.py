"""Build the executor named in settings, and the one a model stage runs on.

CPU stages (insert, slices, world build, analytic rendering) run one case per task or
array slot. Model stages (MAISI rendering, model scoring) load a model per process, so on
Ray they run on long-lived actors holding ``ray_num_gpus`` GPUs each (one model load per
actor), and on SLURM their job array asks for ``slurm_gpus`` GPUs per array task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lesiontrials.execution.base import Executor

if TYPE_CHECKING:
    from lesiontrials.settings import Settings


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
        return RayExecutor(address=settings.ray_address, model_gpus=settings.ray_num_gpus)
    if settings.executor == "slurm":
        from lesiontrials.execution.slurm import SlurmExecutor

        return SlurmExecutor(folder=settings.workspace / "logs" / "slurm",
                             partition=settings.slurm_partition,
                             account=settings.slurm_account,
                             time_min=settings.slurm_time_min,
                             gpus=settings.slurm_gpus if gpu else 0,
                             chunk_size=settings.chunk_size,
                             model_gpus=settings.slurm_gpus)
    if settings.workers <= 1:
        return InProcessExecutor()
    return LocalPoolExecutor(workers=settings.workers)


def model_executor(*, workers: int, setup: Callable[[], Any] | None = None,
                   gpu: bool = True, executor: Executor | None = None) -> Executor | None:
    """The executor for a stage that loads a model per process, or None to run it locally.

    Starts from ``executor`` (default: the one the caller made active with
    :func:`~lesiontrials.execution.use_executor`). Ray tasks become ``max(workers, 1)`` Ray
    actors that run ``setup`` (the model load) once each and hold the Ray executor's
    ``model_gpus`` GPUs (none with ``gpu=False``, e.g. for weight-free models); Ray actors
    are kept, with ``setup`` added; a SLURM job array asks for its ``model_gpus`` GPUs per
    array task. Local executors (and none) give None: the stage runs on the local executor,
    loading the model once per process there too. The Ray actors use the chosen executor's
    cluster: closing them frees the actors, never a cluster the chosen executor started (so
    one ``--executor ray`` run starts Ray once). Nothing here reads settings: the GPUs come
    from the executor the caller built (``executor_from_settings``).
    """
    from lesiontrials.execution.local import InProcessExecutor, LocalPoolExecutor, active_executor
    from lesiontrials.execution.ray_executor import RayActorExecutor, RayExecutor
    from lesiontrials.execution.slurm import SlurmExecutor

    chosen = executor or active_executor()
    if chosen is None or isinstance(chosen, InProcessExecutor | LocalPoolExecutor):
        return None
    if isinstance(chosen, RayActorExecutor):
        return RayActorExecutor(actors=chosen.actors, num_gpus=chosen.num_gpus,
                                actor_cpus=chosen.actor_cpus, setup=setup or chosen.setup,
                                address=chosen.address, num_cpus=chosen.num_cpus,
                                cluster=chosen)
    if isinstance(chosen, RayExecutor):
        return RayActorExecutor(actors=max(workers, 1), setup=setup, address=chosen.address,
                                num_gpus=chosen.model_gpus if gpu else 0.0,
                                num_cpus=chosen.num_cpus, cluster=chosen)
    if isinstance(chosen, SlurmExecutor) and gpu:
        return chosen.with_gpus(max(chosen.gpus, chosen.model_gpus))
    return chosen
