"""``devspark worker``: a process that plays queued matches and tournaments from the database.

Start as many as the database can feed: on PostgreSQL they share the queue (each match
is claimed by exactly one); on SQLite one plays at a time and the others wait. SIGTERM
(or Ctrl-C) drains: the matches in flight finish and are stored, nothing new is claimed,
and the process exits 0. A second signal stops at once; the matches it held are played
again by another worker once its lease runs out.

The worker also hosts service agents (:mod:`devspark.hosting`): up to ``--instances``
sandboxed instances (``POST /api/v1/instances``) that take the tasks queued for them.
With a bus (``DEVSPARK_BUS_URL``) a task submitted to any server wakes the worker at
once (its ``task.queued`` live event); without one the worker looks every 0.2 s.
"""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType
from typing import Annotated, Any

import typer

from devspark.cli._database import DatabaseUrlOption, DataDirOption, server_database
from devspark.core.status import WorkerState
from devspark.services.entrants import AgentStager
from devspark.services.live import LiveHub
from devspark.services.live_bus import BusBridge
from devspark.services.playing import Playback
from devspark.services.queue import DEFAULT_LEASE_S
from devspark.store.artifacts import ArtifactStore
from devspark.store.db import session_factory
from devspark.worker.engine import EXECUTORS, Worker, WorkerConfig


def worker(
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Matches played at once.")
    ] = 1,
    executor: Annotated[
        str, typer.Option("--executor", help=f"Where matches play: {', '.join(EXECUTORS)}.")
    ] = "local",
    name: Annotated[
        str | None, typer.Option("--name", help="Shown in /api/v1/workers (default host-pid).")
    ] = None,
    lease_s: Annotated[
        float,
        typer.Option(
            "--lease-s",
            min=1.0,
            help="Seconds without a heartbeat before a worker's matches are played by others.",
        ),
    ] = DEFAULT_LEASE_S,
    heartbeat_s: Annotated[
        float, typer.Option("--heartbeat-s", min=0.1, help="Seconds between heartbeats.")
    ] = 2.0,
    instances: Annotated[
        int,
        typer.Option(
            "--instances",
            min=0,
            max=4096,
            help="Service-agent instances hosted at once (0: host none).",
        ),
    ] = 32,
) -> None:
    """Play queued matches and tournaments until SIGTERM (which drains, then exits 0)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations say nothing useful here
    config = WorkerConfig(
        slots=workers,
        executor=executor.strip().lower(),
        name=name,
        lease_s=lease_s,
        heartbeat_s=heartbeat_s,
        instances=instances,
    )
    with server_database(data_dir, database_url) as (settings, engine):
        artifacts = ArtifactStore(settings.data_dir / "artifacts")
        playback = Playback(
            stager=AgentStager(artifacts, settings.data_dir / "work" / "agents"),
            replays=artifacts,
        )
        url = settings.live_bus_url
        bridge = None if url is None else BusBridge(url)
        hub = LiveHub(bridge=bridge) if bridge is not None else None
        wake = _Wake(hub)
        if bridge is not None and hub is not None:
            bridge.start(wake.deliver)  # learns which matches are watched, and new tasks
        else:
            typer.echo(
                "no DEVSPARK_BUS_URL or DEVSPARK_REDIS_URL: the live events of this "
                "worker's matches reach no server (results and replays are stored as always)",
                err=True,
            )
        engine_room = Worker(
            session_factory(engine),
            engine,
            settings.data_dir,
            config=config,
            hub=hub,
            playback=playback,
            say=lambda line: typer.echo(line, err=True),
        )
        wake.worker = engine_room
        _drain_on_signals(engine_room)
        try:
            engine_room.run()
        finally:
            if bridge is not None:
                bridge.stop()
    typer.echo("worker stopped", err=True)


class _Wake:
    """Delivers other processes' live events here; a queued task wakes the worker."""

    def __init__(self, hub: LiveHub | None) -> None:
        self.hub = hub
        self.worker: Worker | None = None

    def deliver(self, topic: str, event: dict[str, Any]) -> None:
        if self.hub is not None:
            self.hub.deliver_remote(topic, event)
        if event.get("type") == "task.queued" and self.worker is not None:
            self.worker.notify()


def _drain_on_signals(engine_room: Worker) -> None:
    """SIGTERM and SIGINT drain; a second one exits at once."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if engine_room.state == WorkerState.DRAINING:
            typer.echo("second signal: stopping now", err=True)
            os._exit(128 + signum)
        engine_room.drain()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


__all__ = ["worker"]
