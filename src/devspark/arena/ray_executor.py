"""The Ray executor: the same match specs on a Ray cluster (``DEVSPARK_EXECUTOR=ray``).

Each actor is a long-lived process with its own warm agent sandboxes (a
:class:`~devspark.arena.pool.WorkerCache`), so sandboxes stay warm across matches as
they do locally. Actors are restarted by Ray if their process dies and the match in
progress is retried there; results come back in the order of the specs. Every node
needs what a local run needs (bubblewrap, the sandbox user, root for cgroups).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import ray
from ray.util import ActorPool

from devspark.arena.match import MatchSpec
from devspark.arena.pool import WorkerCache
from devspark.core.results import MatchResult
from devspark.sandbox.reaper import become_subreaper


class _MatchActor:
    """One Ray actor: a process that plays matches with warm sandboxes."""

    def __init__(self) -> None:
        become_subreaper()
        self.cache = WorkerCache()

    def play(self, spec: MatchSpec) -> MatchResult:
        return self.cache.play(spec)

    def close(self) -> None:
        self.cache.close()


class RayExecutor:
    """Plays match specs on Ray actors, results in input order.

    Args:
        address: Cluster address (``"ray://host:10001"`` or ``"auto"``); ``None``
            connects to an already initialised Ray or starts a local instance.
        actors: Actors (each plays one match at a time); ``None``: the cluster's CPUs.

    """

    def __init__(self, address: str | None = None, actors: int | None = None) -> None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        count = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
        remote: Any = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=2)(_MatchActor)
        self._actors = [remote.remote() for _ in range(count)]
        self._pool = ActorPool(self._actors)

    def map(self, specs: Sequence[MatchSpec]) -> Iterator[MatchResult]:
        """Play ``specs`` on the actors; yield results in input order."""
        yield from self._pool.map(lambda actor, spec: actor.play.remote(spec), list(specs))

    def close(self) -> None:
        """Stop the actors' sandboxes and the actors (and Ray, if this started it)."""
        ray.get([actor.close.remote() for actor in self._actors])
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self._owns_ray:
            ray.shutdown()
