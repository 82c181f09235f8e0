"""Work that fails while playing ends ``failed``, with its reason stored and shown.

A match is played by an executor; an agent's fault (a timeout, a crash, an illegal
move) is a *result*, recorded in the match like any other. Anything else that stops a
match from being played or stored (an option the scenario refuses at reset, a scenario
that raises, an uploaded agent whose archive is gone, a worker pool that keeps dying,
a replay that cannot be written) is an *infrastructure* failure: playing the match
again would fail the same way, so the match ends ``failed`` with ``MatchRow.error`` set,
and its tournament, if it has one, ends ``failed`` too with ``TournamentRow.error``
naming the match. Nothing is left ``running``.

The one exception is :class:`PlayInterrupted`: an executor that refuses to start a
match because the process is stopping. The work then stays queued and the next start
plays it.

A match left ``running`` by a worker that died is the queue's business: its lease runs
out and :func:`devspark.services.queue.reap` queues it again, or ends it ``failed`` as
abandoned when its tournament ended meanwhile.
"""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from devspark.core.errors import DevSparkError
from devspark.store.models import MatchRow, TournamentRow, utcnow

MAX_ERROR_CHARS = 2000
"""Longest stored reason; a longer one is cut with an ellipsis."""


class PlayInterrupted(Exception):  # noqa: N818  # an event, not an error of the match
    """Raised by an executor that will not start a match now (the process is stopping).

    The match stays queued (and its tournament running): the next start plays it.
    """


def describe(exc: BaseException) -> str:
    """The stored reason of a failure: the error's type (or code) and its message."""
    kind = exc.code if isinstance(exc, DevSparkError) else type(exc).__name__
    text = f"{kind}: {exc}" if str(exc) else kind
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return text


def fail_match(session: Session, row: MatchRow, reason: str) -> None:
    """Mark a match ``failed`` with ``reason``, results and partial state discarded (commits)."""
    session.rollback()  # whatever the failed attempt left half-written goes
    session.refresh(row)
    row.status = "failed"
    row.error = reason
    row.finished_at = utcnow()
    session.commit()


def fail_tournament(session: Session, tournament_id: uuid.UUID, reason: str) -> bool:
    """End a tournament ``failed`` with ``reason``, its matches with it.

    Its running matches end ``failed``; its queued ones ``cancelled`` (never started).

    A tournament that has already ended (finished, cancelled, failed) keeps its status.

    Returns:
        Whether the tournament was marked ``failed``.

    """
    session.rollback()
    now = utcnow()
    marked = session.execute(
        update(TournamentRow)
        .where(
            TournamentRow.id == tournament_id,
            TournamentRow.status.in_(("created", "running")),
        )
        .values(status="failed", error=reason, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(MatchRow)
        .where(MatchRow.tournament_id == tournament_id, MatchRow.status == "running")
        .values(status="failed", error=f"not finished: {reason}", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(  # the rest of its round never starts: no worker would claim it
        update(MatchRow)
        .where(MatchRow.tournament_id == tournament_id, MatchRow.status == "queued")
        .values(status="cancelled", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.expire_all()
    return getattr(marked, "rowcount", 1) == 1


def fail_tournament_by_id(
    session_factory: sessionmaker[Session], tournament_id: uuid.UUID, reason: str
) -> bool:
    """:func:`fail_tournament` in a session of its own."""
    with session_factory() as session:
        return fail_tournament(session, tournament_id, reason)


def fail_match_by_id(
    session_factory: sessionmaker[Session], match_id: uuid.UUID, reason: str
) -> bool:
    """Mark a match of its own ``failed`` unless it already ended (own session, commits).

    Returns:
        Whether it was marked.

    """
    with session_factory() as session:
        marked = session.execute(
            update(MatchRow)
            .where(MatchRow.id == match_id, MatchRow.status.in_(("queued", "running")))
            .values(status="failed", error=reason, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return getattr(marked, "rowcount", 1) == 1


__all__ = [
    "MAX_ERROR_CHARS",
    "PlayInterrupted",
    "describe",
    "fail_match",
    "fail_match_by_id",
    "fail_tournament",
    "fail_tournament_by_id",
]
