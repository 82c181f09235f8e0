"""Leaderboards read from stored matches: the exact path the platform boards are checked by."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from devspark.services.leaderboards import domains_of, finished_outcomes
from devspark.services.seed import seed_if_empty
from devspark.store.models import MatchResultRow, MatchRow


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


def test_self_play_is_stored_but_left_out_of_the_outcomes(session: Session) -> None:
    seed_if_empty(session)  # the scenarios
    _finished(session, ["builtin:minimax", "builtin:random"], [1.0, -1.0])
    _finished(session, ["builtin:random", "builtin:random"], [1.0, -1.0])
    outcomes = finished_outcomes(session)
    assert [o.agents for o in outcomes] == [("builtin:minimax", "builtin:random")]
    assert [o.agents for o in finished_outcomes(session, "builtin:minimax")] == [
        ("builtin:minimax", "builtin:random")
    ]


def test_domains_of_a_scenario_whose_plugin_is_gone_are_none(session: Session) -> None:
    seed_if_empty(session)
    _finished(session, ["builtin:minimax", "builtin:random"], [1.0, -1.0])
    outcomes = finished_outcomes(session)
    assert "game" in domains_of(outcomes)["tictactoe-v1"]
    gone = [type(outcomes[0])(agents=("a", "b"), scores=(1.0, 0.0), scenario="gone-v9")]
    assert domains_of(gone) == {"gone-v9": ()}
