"""Live events of the matches a worker plays, published on a :class:`LiveHub`.

Topics are ``tournament:<id>`` and ``match:<id>``. A worker publishes:

* ``match_started`` (agents, seed) when a slot starts a match;
* ``step`` (moves, rewards and the full ``render_state()``; step -1 is the state after
  reset) for each step of a match someone watches, from the slot that plays it;
* ``match_finished`` once the result and replay are committed, so a client reacting to
  it finds them; ``match_failed`` with ``error`` when a match cannot be played;
* ``tournament`` with the status when a tournament starts playing and when it ends
  (a failed tournament's event carries ``error``).

In a server with an embedded worker the hub is the server's, so events reach its
WebSocket clients directly. A ``devspark worker`` process has a hub of its own with a
Redis bridge: events travel over Redis to every server, and the watch notes of their
clients come back, so steps are published only for matches someone watches somewhere.
Publishing never blocks a match and never fails it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from devspark.arena.executors import Executor, LocalExecutor
from devspark.arena.match import MatchSpec, Move
from devspark.arena.replay import moves_json, plain_json
from devspark.core.results import MatchResult
from devspark.scenarios import AnyScenario
from devspark.services.live import LiveHub, match_topic, tournament_topic
from devspark.store.models import MatchRow

logger = logging.getLogger(__name__)


class StepPublisher:
    """A step recorder that publishes each step of one match while someone watches it."""

    def __init__(self, hub: LiveHub, match_id: uuid.UUID) -> None:
        self.hub = hub
        self.match_id = str(match_id)
        self.topic = match_topic(match_id)

    def start(self, env: AnyScenario) -> None:
        """Publish the state after reset (step -1)."""
        self._publish(-1, [], env)

    def __call__(self, step: int, moves: list[Move], env: AnyScenario) -> None:
        """Publish one applied step."""
        self._publish(step, moves, env)

    def _publish(self, step: int, moves: list[Move], env: AnyScenario) -> None:
        if not self.hub.watching(self.topic):
            return
        try:
            event = {
                "type": "step",
                "match_id": self.match_id,
                "step": step,
                "moves": moves_json(moves),
                "rewards": {agent: reward for agent, reward in env.rewards.items() if reward},
                "state": plain_json(env.render_state()),
            }
        except Exception:  # live events are best effort; never fail the match for them
            logger.exception("could not publish step %d of match %s", step, self.match_id)
            return
        self.hub.publish(self.topic, event)


class Announcer:
    """Publishes what one worker slot plays.

    Args:
        hub: Where events go.

    """

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub

    def publish(
        self, match_id: uuid.UUID | None, tournament_id: uuid.UUID | None, **event: Any
    ) -> None:
        """Publish ``event`` on the match's topic and on its tournament's."""
        event["tournament_id"] = None if tournament_id is None else str(tournament_id)
        event["match_id"] = None if match_id is None else str(match_id)
        if tournament_id is not None:
            self.hub.publish(tournament_topic(tournament_id), event)
        if match_id is not None:
            self.hub.publish(match_topic(match_id), event)

    def finished(self, row: MatchRow, result: MatchResult) -> None:
        """``match_finished`` of a committed match (a :class:`Playback` ``on_stored``)."""
        self.publish(
            row.id,
            row.tournament_id,
            type="match_finished",
            agents=[record.agent for record in result.agents],
            rewards=[record.reward for record in result.agents],
            statuses=[str(record.status) for record in result.agents],
            steps=result.steps,
            wall_ms=result.wall_ms,
            replay=row.replay_ref is not None,
        )

    def failed(self, match_id: uuid.UUID, tournament_id: uuid.UUID | None, error: str) -> None:
        """``match_failed`` with the stored reason."""
        self.publish(match_id, tournament_id, type="match_failed", error=error)

    def tournament(self, tournament_id: uuid.UUID, status: str, error: str | None = None) -> None:
        """A ``tournament`` status event (with ``error`` when it failed)."""
        event: dict[str, Any] = {
            "type": "tournament",
            "tournament_id": str(tournament_id),
            "status": status,
        }
        if error is not None:
            event["error"] = error
        self.hub.publish(tournament_topic(tournament_id), event)


class AnnouncingExecutor:
    """An executor that publishes ``match_started`` and the steps of the claimed match.

    The slot sets :attr:`match_id` and :attr:`tournament_id` before each match. Steps
    are seen only when the executor plays in this process (a :class:`LocalExecutor`
    with one worker: each slot has its own).
    """

    def __init__(self, inner: Executor, announcer: Announcer) -> None:
        self.inner = inner
        self.announcer = announcer
        self.match_id: uuid.UUID | None = None
        self.tournament_id: uuid.UUID | None = None
        self.local = inner if isinstance(inner, LocalExecutor) and inner.workers == 1 else None

    def map(self, specs: Sequence[MatchSpec]) -> Iterator[MatchResult]:
        """Play ``specs``, publishing the start (and steps) of each."""
        if self.local is not None:
            recorder = (
                None if self.match_id is None else StepPublisher(self.announcer.hub, self.match_id)
            )
            self.local.observe(recorder)
        for spec in specs:
            self.announcer.publish(
                self.match_id,
                self.tournament_id,
                type="match_started",
                agents=list(spec.agents),
                seed=spec.seed,
            )
        return self.inner.map(specs)

    def close(self) -> None:
        """Close the wrapped executor."""
        self.inner.close()


__all__ = ["Announcer", "AnnouncingExecutor", "StepPublisher"]
