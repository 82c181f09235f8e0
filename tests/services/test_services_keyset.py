"""Keyset pages of matches, tournaments and agents, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import pytest
from sqlalchemy.orm import Session

from devspark.core.errors import InvalidArgumentError
from devspark.services.keyset import START
from devspark.services.matches import list_matches
from devspark.services.playing import ensure_scenario
from devspark.services.registry import AgentRegistry
from devspark.services.tournaments import list_tournaments, tournament_matches
from devspark.store.artifacts import ArtifactStore
from devspark.store.models import AgentRow, MatchResultRow, MatchRow, TournamentRow, UserRow

T0 = datetime(2026, 12, 1, tzinfo=UTC)
SCENARIOS = ("tictactoe-v1", "connect_four-v1")


def _user(session: Session, name: str = "ada") -> UserRow:
    user = UserRow(username=name, role="user")
    session.add(user)
    session.flush()
    return user


def _match(
    session: Session,
    second: float,
    *,
    status: str = "finished",
    scenario: str = SCENARIOS[0],
    tournament: TournamentRow | None = None,
    agents: tuple[str, ...] = ("builtin:random", "builtin:minimax"),
) -> MatchRow:
    ensure_scenario(session, scenario)
    row = MatchRow(
        scenario_id=scenario,
        status=status,
        tournament_id=tournament.id if tournament is not None else None,
        created_at=T0 + timedelta(seconds=second),
    )
    session.add(row)
    session.flush()
    for seat, agent in enumerate(agents):
        session.add(MatchResultRow(match_id=row.id, seat=seat, agent_ref=agent, status="ok"))
    return row


def _newest_first(rows: list[MatchRow]) -> list[uuid.UUID]:
    return [row.id for row in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)]


class _Paged(Protocol):
    @property
    def items(self) -> list[Any]: ...

    @property
    def next_cursor(self) -> str | None: ...


P = TypeVar("P", bound=_Paged)


def _walk(read: Callable[..., P], *, start: str = START, **given: Any) -> list[P]:
    """Every page of a list, read by cursor from ``start`` with the filters ``given``."""
    pages: list[P] = []
    cursor: str | None = start
    while cursor is not None:
        pages.append(read(cursor=cursor, **given))
        cursor = pages[-1].next_cursor
    return pages


def _ids(pages: list[P]) -> list[uuid.UUID]:
    return [row.id for page in pages for row in page.items]


def test_cursor_walk_visits_every_match_once_newest_first_with_ties(session: Session) -> None:
    # Seconds repeat, so three pairs of matches share their created_at: id breaks the tie.
    rows = [_match(session, second) for second in (0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7)]
    session.commit()
    pages = _walk(list_matches, session=session, limit=3)
    assert [len(page.items) for page in pages] == [3, 3, 3, 2]
    assert _ids(pages) == _newest_first(rows)
    assert all(page.total is None for page in pages)
    assert pages[-1].next_cursor is None


def test_new_matches_appear_at_the_head_and_not_in_a_walk_under_way(session: Session) -> None:
    rows = [_match(session, second) for second in range(10)]
    session.commit()
    seen: list[uuid.UUID] = []
    first = list_matches(session, limit=4)
    seen += [row.id for row in first.items]
    # Newer matches arrive (one at the very instant of the newest) while the walk goes on.
    arrived = [_match(session, 9), _match(session, 20), _match(session, 21)]
    session.commit()
    seen += _ids(_walk(list_matches, start=first.next_cursor or "", session=session, limit=4))
    # Even the one written at the instant of the newest sorts before the walk's cursor.
    assert seen == _newest_first(rows)
    assert {row.id for row in arrived}.isdisjoint(seen)
    head = list_matches(session, cursor=START, limit=2)
    assert [row.id for row in head.items] == [arrived[2].id, arrived[1].id]


def test_offset_page_counts_and_its_next_cursor_continues_the_list(session: Session) -> None:
    rows = [_match(session, second) for second in range(7)]
    session.commit()
    page = list_matches(session, offset=2, limit=2)
    assert page.total == 7
    after = list_matches(session, cursor=page.next_cursor, limit=10)
    assert [r.id for r in [*page.items, *after.items]] == _newest_first(rows)[2:]
    assert after.total is None and after.next_cursor is None


def test_cursor_walk_keeps_every_filter(session: Session) -> None:
    user = _user(session)
    cup = TournamentRow(owner_id=user.id, scenario_id=_scenario(session), format="round_robin")
    session.add(cup)
    session.flush()
    rows = [
        _match(
            session,
            second,
            status=("finished", "failed")[second % 2],
            scenario=SCENARIOS[second % 3 == 0],
            tournament=cup if second % 4 == 0 else None,
            agents=("builtin:minimax", "builtin:random" if second % 5 else "builtin:greedy"),
        )
        for second in range(40)
    ]
    session.commit()
    filters: list[tuple[dict[str, Any], Callable[[MatchRow], bool]]] = [
        ({"status": "failed"}, lambda r: r.status == "failed"),
        ({"scenario": "connect_four"}, lambda r: r.scenario_id == SCENARIOS[1]),
        ({"tournament_id": cup.id}, lambda r: r.tournament_id == cup.id),
        ({"agent": "builtin:greedy"}, lambda r: r.created_at.second % 5 == 0),
        (
            {"agent": "builtin:random", "status": "finished"},
            lambda r: r.created_at.second % 5 != 0 and r.status == "finished",
        ),
    ]
    for given, keep in filters:
        walked = _ids(_walk(list_matches, session=session, limit=3, **given))
        assert walked == _newest_first([r for r in rows if keep(r)]), given


def _scenario(session: Session) -> str:
    ensure_scenario(session, SCENARIOS[0])
    return SCENARIOS[0]


def test_tournament_matches_walk_oldest_first(session: Session) -> None:
    user = _user(session)
    cup = TournamentRow(owner_id=user.id, scenario_id=_scenario(session), format="round_robin")
    session.add(cup)
    session.flush()
    rows = [_match(session, second, tournament=cup) for second in (3, 1, 1, 2)]
    _match(session, 0)  # not the tournament's
    session.commit()
    walked = _ids(_walk(tournament_matches, session=session, tournament_id=cup.id, limit=1))
    assert walked == list(reversed(_newest_first(rows)))
    with pytest.raises(InvalidArgumentError, match=r"'matches' list, not of 'matches\.oldest'"):
        tournament_matches(session, cup.id, cursor=list_matches(session, limit=1).next_cursor)


def test_tournaments_walk_newest_first_by_status_and_owner(session: Session) -> None:
    ada, bob = _user(session, "ada"), _user(session, "bob")
    scenario = _scenario(session)
    rows = [
        TournamentRow(
            owner_id=(ada, bob)[i % 2].id,
            scenario_id=scenario,
            format="round_robin",
            status=("cancelled", "finished")[i % 3 == 0],
            created_at=T0 + timedelta(seconds=i // 2),
        )
        for i in range(13)
    ]
    session.add_all(rows)
    session.commit()
    filters: list[tuple[dict[str, Any], Callable[[TournamentRow], bool]]] = [
        ({}, lambda r: True),
        ({"status": "finished"}, lambda r: r.status == "finished"),
        ({"owner_id": bob.id}, lambda r: r.owner_id == bob.id),
    ]
    for given, keep in filters:
        walked = _ids(_walk(list_tournaments, session=session, limit=2, **given))
        ordered = sorted((r for r in rows if keep(r)), key=lambda r: (r.created_at, r.id))
        assert walked == [r.id for r in reversed(ordered)], given


def test_agents_walk_oldest_first_by_owner(session: Session, tmp_path: Any) -> None:
    ada, bob = _user(session, "ada"), _user(session, "bob")
    rows = [
        AgentRow(
            owner_id=(ada, bob)[i % 2].id,
            name=f"bot{i % 5}",
            created_at=T0 + timedelta(seconds=i // 3),
            deleted_at=T0 if i == 4 else None,
        )
        for i in range(10)
    ]
    session.add_all(rows)
    session.commit()
    registry = AgentRegistry(session, ArtifactStore(tmp_path / "artifacts"), tmp_path / "work")
    for owner in (None, ada.id):
        pages = _walk(registry.list_agents, owner=owner, limit=2)
        live = [r for r in rows if r.deleted_at is None and owner in (None, r.owner_id)]
        ordered = sorted(live, key=lambda r: (r.created_at, r.name, r.id))
        assert _ids(pages) == [r.id for r in ordered]
        assert all(page.total is None for page in pages)
    assert registry.list_agents(limit=3).next_cursor is not None


def _forged(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "nope!",
        "a" * 600,
        "é",
        base64.urlsafe_b64encode(b"not json").decode(),
        _forged(["matches", []]),
        _forged({"k": "matches", "v": ["2026-12-01T00:00:00+00:00"]}),
        _forged({"k": "matches", "v": ["yesterday", str(uuid.uuid4())]}),
        _forged({"k": "matches", "v": ["2026-12-01T00:00:00", str(uuid.uuid4())]}),
        _forged({"k": "matches", "v": ["2026-12-01T00:00:00+00:00", "not-a-uuid"]}),
        _forged({"k": "matches", "v": [1, 2]}),
        _forged({"k": "matches", "v": ["2026-12-01T00:00:00+00:00", str(uuid.uuid4())], "x": 1}),
    ],
)
def test_malformed_cursor_is_refused_naming_it(session: Session, cursor: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^cursor=.*expected the next_cursor"):
        list_matches(session, cursor=cursor)


def test_cursor_of_another_list_is_refused(session: Session) -> None:
    user = _user(session)
    session.add_all(
        TournamentRow(owner_id=user.id, scenario_id=_scenario(session), format="round_robin")
        for _ in range(2)
    )
    session.commit()
    cursor = list_tournaments(session, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidArgumentError, match="'tournaments' list, not of 'matches'"):
        list_matches(session, cursor=cursor)


def test_cursor_with_an_offset_is_refused(session: Session) -> None:
    with pytest.raises(InvalidArgumentError, match="offset=3 cannot be combined with cursor"):
        list_matches(session, cursor=START, offset=3)


@pytest.mark.parametrize("agent_first_max", [0, 5_000], ids=["walk-and-check", "results-first"])
def test_agent_filter_pages_are_the_same_either_way(
    session: Session, monkeypatch: pytest.MonkeyPatch, agent_first_max: int
) -> None:
    monkeypatch.setattr("devspark.services.matches.AGENT_FIRST_MAX", agent_first_max)
    rows = [
        _match(session, second, agents=("builtin:greedy", "builtin:greedy"))  # self-play
        if second % 3 == 0
        else _match(session, second)
        for second in range(12)
    ]
    session.commit()
    selfplay = [r for r in rows if r.created_at.second % 3 == 0]
    page = list_matches(session, agent="builtin:greedy", limit=3)
    assert page.total == len(selfplay)
    walked = _ids(_walk(list_matches, session=session, agent="builtin:greedy", limit=3))
    assert walked == _newest_first(selfplay)
    assert _ids(_walk(list_matches, session=session, agent="builtin:random", limit=5)) == (
        _newest_first([r for r in rows if r not in selfplay])
    )
