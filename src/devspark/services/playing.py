"""Playing one persisted match: its spec, its stored result, a match of its own.

A match is a :class:`~devspark.store.models.MatchRow`; a tournament's matches are
driven by :mod:`devspark.services.durable`, a match of its own (:func:`create_match`,
:func:`run_match_durably`) is a ``MatchRow`` without a tournament, stored the same way:
it is committed ``queued`` before it runs and ``running`` while it plays, and a
restarted server plays it again if it never finished. A match that cannot be played or
stored ends ``failed`` with its reason (see :mod:`devspark.services.failures`).

With :class:`Playback` the runner stages uploaded agents
(:class:`~devspark.services.entrants.AgentStager`) and records every match's replay
into the artifact store (``MatchRow.replay_ref``), and each seat of an uploaded version
is linked to it (``MatchResultRow.agent_version_id``, ``matches_played``).
"""

from __future__ import annotations

import gzip
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.executors import Executor
from devspark.arena.match import MatchSpec
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from devspark.core.results import MatchResult
from devspark.sandbox import IsolationLevel
from devspark.scenarios import ScenarioCore, resolve
from devspark.scenarios.options import check_options
from devspark.services.entrants import AgentStager, check_entrants, is_uploaded, version_ids
from devspark.services.failures import PlayInterrupted, describe, fail_match
from devspark.store.artifacts import ArtifactStore
from devspark.store.models import (
    AgentVersionRow,
    MatchResultRow,
    MatchRow,
    ScenarioRow,
    utcnow,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Playback:
    """What the runner needs beyond an executor: staged agents and replay storage.

    Attributes:
        stager: Unpacks uploaded agents; without one only built-in agents can play.
        replays: Where replays go (kind ``"replay"``, gzip JSON); ``None`` records none.
        on_stored: Called with each match row and its result once both are committed
            (live ``match_finished`` events); its errors are not the match's.

    """

    stager: AgentStager | None = None
    replays: ArtifactStore | None = None
    on_stored: Callable[[MatchRow, MatchResult], None] | None = None


NO_PLAYBACK = Playback()
"""Built-in agents only, no replays (the library's and the tests' default)."""


def ensure_scenario(session: Session, scenario_id: str) -> None:
    """Add the scenario's row when the database does not know it yet (flushes)."""
    cls = resolve(scenario_id)
    if session.get(ScenarioRow, cls.full_id) is None:
        session.add(
            ScenarioRow(
                id=cls.full_id,
                name=cls.scenario_id,
                version=cls.version,
                domains=list(cls.domains),
                players_min=cls.players[0],
                players_max=cls.players[1],
                difficulties=[str(d) for d in cls.difficulties],
            )
        )
        session.flush()  # rows that reference it may be inserted first otherwise


def scenario_for_work(scenario: str) -> type[ScenarioCore]:
    """The scenario class new work names; unknown is a bad argument, not a missing thing.

    Raises:
        InvalidArgumentError: No scenario has that id (the message suggests near ones).

    """
    try:
        return resolve(scenario)
    except NotFoundError as exc:
        raise InvalidArgumentError(f"scenario={scenario!r}: {exc}") from None


def create_match(
    session: Session,
    *,
    owner_id: uuid.UUID,
    scenario: str,
    agents: Sequence[str],
    seed: int = 0,
    options: dict[str, Any] | None = None,
    isolation: IsolationLevel = IsolationLevel.SANDBOX,
) -> MatchRow:
    """Persist a match of its own with status ``"queued"`` (commits).

    Args:
        session: Database session.
        owner_id: Who asked for it.
        scenario: Scenario name or versioned id.
        agents: Entrants in seat order (``builtin:`` or ``agent:`` references).
        seed: The match seed.
        options: Scenario reset options (``{"difficulty": 3}``...).
        isolation: Isolation of every agent (``trusted`` is refused for uploads).

    Raises:
        InvalidArgumentError: An unknown scenario, a seat count the scenario refuses, a bad reference, or
            options the scenario refuses (unknown key, value out of range, over 16 KiB).
        FailedPreconditionError: An uploaded version that is not started.

    """
    cls = scenario_for_work(scenario)
    low, high = cls.players
    if not low <= len(agents) <= high:
        seats = f"{low} to {high}" if low != high else str(low)
        raise InvalidArgumentError(f"{cls.full_id} seats {seats} agents, got {len(agents)}")
    reset = check_options(cls, options)
    pinned = check_entrants(session, agents, isolation, cls.full_id)
    ensure_scenario(session, cls.full_id)
    row = MatchRow(
        scenario_id=cls.full_id,
        seed=seed,
        options={
            "reset": reset,
            "pairing": {"round": 0, "label": "match", "agents": pinned},
        },
        isolation=isolation.value,
        status="queued",
        owner_id=owner_id,
    )
    session.add(row)
    session.commit()
    return row


def run_match_durably(
    session_factory: sessionmaker[Session],
    match_id: uuid.UUID,
    executor: Executor,
    playback: Playback = NO_PLAYBACK,
) -> None:
    """Play a persisted match of its own unless it has ended (commits).

    Safe to call again after a kill: a match left ``running`` is played again. A match
    that cannot be played or stored (an agent or scenario that no longer resolves, an
    archive that is gone, a scenario that raises, an executor that gives up) ends
    ``failed`` with the reason in ``MatchRow.error``: playing it again would fail the
    same way (see :mod:`devspark.services.failures`).

    Raises:
        NotFoundError: No such match.
        PlayInterrupted: The executor would not start it now (it stays queued).
        Exception: Whatever made it fail, after it was marked ``failed``.

    """
    with session_factory() as session:
        row = session.get(MatchRow, match_id)
        if row is None:
            raise NotFoundError(f"match {match_id} does not exist")
        if row.status in ("finished", "failed"):
            return
        try:
            spec = match_spec(session, row, playback)
        except PlayInterrupted:
            raise  # still queued
        except Exception as exc:
            fail_match(session, row, describe(exc))
            raise
        row.status = "running"
        row.started_at = utcnow()
        row.error = None
        session.commit()
        try:
            result = next(iter(executor.map([spec])))
        except Exception as exc:
            if isinstance(exc, PlayInterrupted):
                requeue(session, row)
            else:
                fail_match(session, row, describe(exc))
            raise
        except BaseException:
            requeue(session, row)
            raise
        try:
            store_result(session, row, result, playback)
        except Exception as exc:
            fail_match(session, row, f"its result could not be stored: {describe(exc)}")
            raise


def requeue(session: Session, row: MatchRow) -> None:
    """Put a match back in the queue, dropping what its attempt left (commits)."""
    session.rollback()
    row.status = "queued"
    row.started_at = None
    session.commit()


class CannotStageError(FailedPreconditionError, PlayInterrupted):
    """This runner has no stager for an uploaded agent: the work waits for one that has."""


def match_spec(session: Session, row: MatchRow, playback: Playback = NO_PLAYBACK) -> MatchSpec:
    """The match spec of a persisted row, uploaded agents staged.

    Raises:
        CannotStageError: An uploaded agent but no stager to unpack it (the match
            stays queued: it is this runner that cannot play it).
        NotFoundError: An uploaded version or its archive no longer exists.

    """
    agents = tuple(row.options["pairing"]["agents"])
    sources: tuple[str, ...] = ()
    if any(is_uploaded(ref) for ref in agents):
        if playback.stager is None:
            raise CannotStageError(
                f"match {row.id} seats uploaded agents but this runner cannot stage them"
            )
        sources = playback.stager.sources(session, agents)
    return MatchSpec(
        row.scenario_id,
        agents,
        seed=row.seed,
        options=dict(row.options.get("reset") or {}),
        isolation=IsolationLevel(row.isolation),
        sources=sources,
        record=playback.replays is not None,
    )


def store_result(
    session: Session, row: MatchRow, result: MatchResult, playback: Playback = NO_PLAYBACK
) -> None:
    """Store a match's result rows and replay and mark it finished, in one transaction."""
    versions = version_ids(session, [record.agent for record in result.agents])
    for seat, record in enumerate(result.agents):
        version_id = versions.get(record.agent)
        session.add(
            MatchResultRow(
                match_id=row.id,
                seat=seat,
                agent_ref=record.agent,
                agent_version_id=version_id,
                role=record.role,
                status=str(record.status),
                reward=record.reward,
                moves=record.moves,
                wall_ms=record.wall_ms,
                cpu_s=record.cpu_s,
                peak_mb=record.peak_mb,
                detail=record.detail,
            )
        )
    if versions:  # in SQL: sessions that cached the count never write a stale one back
        session.execute(
            update(AgentVersionRow)
            .where(AgentVersionRow.id.in_(set(versions.values())))
            .values(matches_played=AgentVersionRow.matches_played + 1)
            .execution_options(synchronize_session=False)
        )
    if playback.replays is not None and result.replay is not None:
        document = json.dumps(result.replay, separators=(",", ":"), allow_nan=False)
        data = gzip.compress(document.encode(), compresslevel=6, mtime=0)
        row.replay_ref = str(playback.replays.put_bytes(data, "replay"))
    row.status = "finished"
    row.error = None
    row.finished_at = utcnow()
    row.steps = result.steps
    row.wall_ms = result.wall_ms
    session.commit()
    if playback.on_stored is not None:
        try:
            playback.on_stored(row, result)
        except Exception:  # a listener's failure is not the match's
            logger.exception("on_stored failed for match %s", row.id)


__all__ = [
    "NO_PLAYBACK",
    "CannotStageError",
    "Playback",
    "create_match",
    "ensure_scenario",
    "match_spec",
    "requeue",
    "run_match_durably",
    "store_result",
]
