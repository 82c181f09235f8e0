"""Match and tournament statuses: one definition, plain strings in the database."""

from __future__ import annotations

import json

from sqlalchemy import CheckConstraint

from devspark.core.status import (
    MATCH_FINAL,
    MATCH_STATUSES,
    TOURNAMENT_FINAL,
    TOURNAMENT_STATUSES,
    MatchStatus,
    TournamentStatus,
)
from devspark.store import models


def test_statuses_compare_equal_to_their_plain_strings() -> None:
    assert MatchStatus.QUEUED == "queued"
    assert TournamentStatus.CREATED == "created"
    assert MatchStatus("cancelled") is MatchStatus.CANCELLED
    assert json.dumps({"status": MatchStatus.RUNNING}) == '{"status": "running"}'
    assert f"{MatchStatus.FAILED}" == "failed"


def test_tuples_list_every_member_in_life_order() -> None:
    assert MATCH_STATUSES == ("queued", "running", "finished", "failed", "cancelled")
    assert TOURNAMENT_STATUSES == ("created", "running", "finished", "cancelled", "failed")


def test_final_states_exclude_the_waiting_and_running_ones() -> None:
    assert {"finished", "failed", "cancelled"} == MATCH_FINAL
    assert MatchStatus.QUEUED not in MATCH_FINAL
    assert MatchStatus.RUNNING not in MATCH_FINAL
    assert TournamentStatus.CREATED not in TOURNAMENT_FINAL
    assert TournamentStatus.RUNNING not in TOURNAMENT_FINAL
    assert len(TOURNAMENT_FINAL) == 3


def _status_check(table: str) -> str:
    constraints = models.Base.metadata.tables[table].constraints
    checks = [
        c for c in constraints if isinstance(c, CheckConstraint) and c.name == f"ck_{table}_status"
    ]
    return str(checks[0].sqltext)


def test_the_database_checks_use_the_core_tuples() -> None:
    assert models.MATCH_STATUSES is MATCH_STATUSES
    assert models.TOURNAMENT_STATUSES is TOURNAMENT_STATUSES
    for status in MATCH_STATUSES:
        assert f"'{status}'" in _status_check("matches")
    for status in TOURNAMENT_STATUSES:
        assert f"'{status}'" in _status_check("tournaments")
