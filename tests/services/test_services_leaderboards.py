"""Platform boards: built from every finished match, cached, refreshed by cost."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from devspark.services.leaderboards import PlatformBoards, finished_outcomes, head_to_head
from devspark.services.seed import seed_if_empty
from devspark.store.models import MatchResultRow, MatchRow


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.step = 0.0  # what each reading adds: the cost of a build

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_boards_of_an_empty_server_are_empty(session: Session) -> None:
    boards = PlatformBoards().get(session)
    assert boards["global"] == [] and boards["matches"] == 0


def test_a_costly_build_is_held_a_while_a_cheap_one_is_not(session: Session) -> None:
    clock = Clock()
    boards = PlatformBoards(min_refresh_s=5.0, clock=clock)
    clock.step = 1.0  # builds "take" a second: held min(5, 10 x 1) = 5 s
    first = boards.get(session)
    clock.step = 0.0
    assert boards.get(session) is first  # within the hold: no query at all
    clock.now += 6
    assert boards.get(session) is first  # expired, but nothing finished since: same key
    cheap = PlatformBoards(min_refresh_s=5.0, clock=Clock())  # builds take no time
    built = cheap.get(session)
    assert cheap.get(session) is built  # same key: cached however cheap


def _finished(session: Session, agents: list[str], rewards: list[float]) -> None:
    match = MatchRow(scenario_id="tictactoe-v1", status="finished", finished_at=datetime.now(UTC))
    session.add(match)
    session.flush()
    for seat, (agent, reward) in enumerate(zip(agents, rewards, strict=True)):
        session.add(
            MatchResultRow(
                match_id=match.id, seat=seat, agent_ref=agent, status="ok", reward=reward
            )
        )
    session.commit()


def test_self_play_is_stored_but_left_out_of_the_boards(session: Session) -> None:
    seed_if_empty(session)  # the scenarios
    _finished(session, ["builtin:minimax", "builtin:random"], [1.0, -1.0])
    _finished(session, ["builtin:random", "builtin:random"], [1.0, -1.0])
    outcomes = finished_outcomes(session)
    assert [o.agents for o in outcomes] == [("builtin:minimax", "builtin:random")]
    boards = PlatformBoards().get(session)  # no 422 for the self-play match
    assert [row["agent"] for row in boards["global"]] == ["builtin:minimax", "builtin:random"]
    assert head_to_head(session, "builtin:random") == [
        {"opponent": "builtin:minimax", "wins": 0, "draws": 0, "losses": 1}
    ]
