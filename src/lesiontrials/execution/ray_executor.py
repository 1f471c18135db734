"""Ray executors: one task per case for CPU stages, long-lived actors for GPU stages.

Both join the cluster at ``address`` (``"auto"``, ``"ray://host:10001"``) or, with no
address and no Ray running in this process, start a local cluster that lives until
:meth:`close`. Ray is imported lazily; install it with ``pip install 'lesiontrials[ray]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lesiontrials.errors import ConfigError
from lesiontrials.execution.base import (
    CaseOutcome,
    OnDone,
    call_case,
    complete_outcomes,
    lost_outcome,
)


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("the Ray executor needs Ray. Fix: pip install 'lesiontrials[ray]'"
                          ) from exc
    return ray


class _RayBase:
    def __init__(self, *, address: str | None = None, num_cpus: int | None = None,
                 cluster: _RayBase | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus  # only used when starting a local cluster
        #: the executor that owns the cluster (e.g. the stage's Ray tasks, for the model
        #: actors derived from them): it starts the cluster and shuts it down, once
        self._cluster = cluster
        self._started = False

    def connect(self) -> Any:
        """Join (or start) the Ray cluster; returns the ``ray`` module."""
        if self._cluster is not None:
            return self._cluster.connect()
        ray = _ray()
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False,
                         log_to_driver=False)
                self._started = True
        return ray

    def close(self) -> None:
        """Shut down the local cluster if this executor started it."""
        if self._started:
            _ray().shutdown()
            self._started = False

    def __enter__(self) -> _RayBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RayExecutor(_RayBase):
    """One Ray task per case (CPU stages); ``task_cpus``/``task_gpus`` are per task;
    ``model_gpus`` is what each model actor of a model stage holds
    (:func:`~lesiontrials.execution.model_executor`)."""

    name = "ray"

    def __init__(self, *, address: str | None = None, num_cpus: int | None = None,
                 task_cpus: float = 1.0, task_gpus: float = 0.0,
                 model_gpus: float = 0.0) -> None:
        super().__init__(address=address, num_cpus=num_cpus)
        self.task_cpus = task_cpus
        self.task_gpus = task_gpus
        self.model_gpus = model_gpus

    def map(self, func: Callable[[Any], Any], items: Sequence[Any], *,
            keys: Sequence[str], on_done: OnDone | None = None) -> list[CaseOutcome]:
        """Submit every case as a task; a lost task fails its case, not the run."""
        ray = self.connect()
        remote = ray.remote(num_cpus=self.task_cpus, num_gpus=self.task_gpus,
                            max_retries=1)(call_case)
        func_ref = ray.put(func)
        index = {remote.remote(func_ref, key, item): i
                 for i, (key, item) in enumerate(zip(keys, items, strict=True))}
        return _collect(ray, index, keys, len(items), on_done)


class _CaseActor:
    """A long-lived worker: runs ``setup`` once (e.g. loads a model), then cases."""

    def __init__(self, setup: Callable[[], Any] | None) -> None:
        if setup is not None:
            setup()

    def run(self, func: Callable[[Any], Any], key: str, item: Any) -> CaseOutcome:
        return call_case(func, key, item)


class RayActorExecutor(_RayBase):
    """A fixed set of Ray actors (GPU stages): each loads its model once, then runs cases.

    ``setup`` runs once per actor; per-case functions reach what it loaded through
    :func:`lesiontrials.execution.load_once`. Each actor holds ``num_gpus`` GPUs. The actors
    live from the first :meth:`map` until :meth:`close`, so several calls (a stage's
    identity check, then its cases) share one model load per actor.
    """

    name = "ray-actors"

    def __init__(self, *, actors: int = 1, num_gpus: float = 0.0, actor_cpus: float = 1.0,
                 setup: Callable[[], Any] | None = None, address: str | None = None,
                 num_cpus: int | None = None, cluster: _RayBase | None = None) -> None:
        super().__init__(address=address, num_cpus=num_cpus, cluster=cluster)
        if actors < 1:
            raise ValueError(f"actors must be >= 1, got {actors}")
        self.actors, self.num_gpus, self.actor_cpus, self.setup = (
            actors, num_gpus, actor_cpus, setup)
        self._pool: list[Any] = []

    def _actors(self, ray: Any, wanted: int) -> list[Any]:
        """The live actors, started up to ``wanted`` (at most ``actors``)."""
        actor_class = ray.remote(num_cpus=self.actor_cpus, num_gpus=self.num_gpus)(_CaseActor)
        while len(self._pool) < min(self.actors, wanted):
            self._pool.append(actor_class.remote(self.setup))
        return list(self._pool)

    def close(self) -> None:
        """Stop the actors (their models are freed), then the cluster if this started it."""
        if self._pool:
            ray = _ray()
            for actor in self._pool:
                ray.kill(actor)
            self._pool = []
        super().close()

    def map(self, func: Callable[[Any], Any], items: Sequence[Any], *,
            keys: Sequence[str], on_done: OnDone | None = None) -> list[CaseOutcome]:
        """Feed cases to free actors one at a time; results come back in item order.

        An actor that dies (or whose ``setup`` raised) fails the case it was running and
        gets no more cases; when no actor is left, the queued cases fail as lost.
        """
        ray = self.connect()
        pool = self._actors(ray, len(items))
        func_ref = ray.put(func)
        todo = list(enumerate(zip(keys, items, strict=True)))[::-1]
        outcomes: list[CaseOutcome | None] = [None] * len(items)
        running: dict[Any, tuple[int, Any]] = {}

        def feed(actor: Any) -> None:
            if todo:
                i, (key, item) = todo.pop()
                running[actor.run.remote(func_ref, key, item)] = (i, actor)

        for actor in pool:
            feed(actor)
        while running:
            [ref], _ = ray.wait(list(running), num_returns=1)
            i, actor = running.pop(ref)
            outcome, alive = _get_from_actor(ray, ref, keys[i])
            outcomes[i] = outcome
            if on_done is not None:
                on_done(1)
            if alive:
                feed(actor)
                continue
            if actor in self._pool:
                self._pool.remove(actor)
            if not running:  # every actor is gone: the queued cases cannot run
                why = f"no Ray actor left (the last one: {outcome.reason})"
                for j, (key, _) in todo:
                    outcomes[j] = lost_outcome(key, why)
                if todo and on_done is not None:
                    on_done(len(todo))
        return complete_outcomes(outcomes, keys)


def _get_from_actor(ray: Any, ref: Any, key: str) -> tuple[CaseOutcome, bool]:
    """The case's outcome, and whether its actor can take another case."""
    try:
        return ray.get(ref), True
    except ray.exceptions.RayActorError as exc:  # the actor process is gone
        if getattr(exc, "actor_init_failed", False):  # setup raised: say what it raised
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            return CaseOutcome(key, "failed", reason=f"actor setup failed: {lines[-1]}"), False
        return lost_outcome(key, f"{type(exc).__name__} (actor died)"), False
    except ray.exceptions.RayError as exc:
        return lost_outcome(key, type(exc).__name__), True


def _get(ray: Any, ref: Any, key: str) -> CaseOutcome:
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:  # worker died, actor died, object lost
        return lost_outcome(key, type(exc).__name__)


def _collect(ray: Any, index: dict[Any, int], keys: Sequence[str], n: int,
             on_done: OnDone | None) -> list[CaseOutcome]:
    outcomes: list[CaseOutcome | None] = [None] * n
    pending = list(index)
    while pending:
        ready, pending = ray.wait(pending, num_returns=min(len(pending), 64), timeout=0.5)
        for ref in ready:
            i = index[ref]
            outcomes[i] = _get(ray, ref, keys[i])
        if ready and on_done is not None:
            on_done(len(ready))
    return complete_outcomes(outcomes, keys)
