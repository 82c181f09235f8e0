"""The whole platform in one process: the API server with an embedded worker.

:func:`create_app` is what ``devspark serve`` (and so ``make run``) starts: the HTTP API
and dashboard from :mod:`devspark.server`, plus a :class:`~devspark.worker.engine.Worker`
on the same database that plays queued matches and tournaments and publishes their
live events straight onto the server's hub. ``worker=False`` (``devspark serve
--no-worker``) leaves the playing to ``devspark worker`` processes.

This module composes the two rooms; neither :mod:`devspark.server` nor
:mod:`devspark.worker` imports the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from fastapi import FastAPI

from devspark.server.app import Platform
from devspark.server.app import create_app as create_api
from devspark.server.settings import Settings
from devspark.services.accounts import TokenService
from devspark.services.entrants import AgentStager
from devspark.services.playing import Playback
from devspark.worker.engine import Worker, WorkerConfig


def playback_for(platform: Platform) -> Playback:
    """Uploaded agents staged under the data folder; replays into the artifact store."""
    return Playback(
        stager=AgentStager(platform.artifacts, platform.data_dir / "work" / "agents"),
        replays=platform.artifacts,
    )


@contextmanager
def embedded_worker(platform: Platform) -> Iterator[Worker]:
    """A worker inside the server process, started with it and drained when it stops.

    It plays ``settings.match_workers`` matches at a time and publishes on the server's
    own live hub, so its WebSocket clients see every step without Redis.
    """
    worker = Worker(
        platform.session_factory,
        platform.engine,
        platform.data_dir,
        config=WorkerConfig(slots=platform.settings.match_workers, name="embedded"),
        hub=platform.live,
        playback=playback_for(platform),
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def create_app(
    settings: Settings,
    *,
    worker: bool = True,
    tokens: TokenService | None = None,
    hasher: PasswordHasher | None = None,
) -> FastAPI:
    """The API server, with an embedded worker unless ``worker=False``.

    Args:
        settings: Server settings.
        worker: Embed a worker (the default, one command for everything).
        tokens: Token service (see :func:`devspark.server.app.create_app`).
        hasher: Argon2 parameters (tests pass cheap ones).

    """
    return create_api(
        settings,
        tokens=tokens,
        hasher=hasher,
        background=embedded_worker if worker else None,
    )


__all__ = ["create_app", "embedded_worker", "playback_for"]
