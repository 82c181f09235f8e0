"""First-start seeding: an admin login, the built-in scenarios and a running ladder.

:func:`seed_if_empty` runs on every ``devspark serve`` start, before the server starts,
and does something only while the database has no user at all:

* it creates the account ``admin`` (role admin) with a random password; the password
  is returned once in the :class:`SeedReport` (``devspark serve`` prints it) and only
  its argon2 hash is stored;
* it registers every scenario of the default registry in ``scenarios`` (when that table
  is empty);
* it creates a continuous ladder among bundled baselines of :data:`LADDER_SCENARIO`
  through :func:`devspark.services.tournaments.create_tournament` and marks it
  ``"running"``: the server's tournament runner resumes every running tournament when
  it starts, so the ladder plays as soon as the server is up;
* it queues one short sample match per registered scenario (:data:`SAMPLE_AGENTS`,
  built-in baselines) through :func:`devspark.services.matches.create_match`: the
  runner plays queued matches when it starts, and stores each one's replay, so the
  scenario gallery has a sample replay of every scenario on a fresh install.

The baselines are referenced as ``builtin:NAME`` (see :mod:`devspark.arena.agents`);
they are not published as agent versions in the registry.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from devspark.arena.agents import BUILTIN_PREFIX, builtin_names
from devspark.scenarios import list_scenarios
from devspark.services.accounts import Role, register
from devspark.services.matches import create_match
from devspark.services.tournaments import TournamentParams, create_tournament, start_tournament
from devspark.store.models import ScenarioRow, UserRow

__all__ = [
    "ADMIN_USERNAME",
    "LADDER_AGENTS",
    "LADDER_FORMAT",
    "LADDER_MATCHES",
    "LADDER_PACE_S",
    "LADDER_SCENARIO",
    "SAMPLE_AGENTS",
    "SAMPLE_SEED",
    "SeedReport",
    "seed_if_empty",
]

ADMIN_USERNAME = "admin"
"""Username of the generated administrator."""

LADDER_SCENARIO = "connect_four"
"""Scenario of the seeded ladder."""

LADDER_FORMAT = "ladder"
"""Format of the seeded tournament."""

LADDER_AGENTS: tuple[str, ...] = (
    "connect-four-alphabeta",
    "connect-four-heuristic",
    "connect-four-heuristic-js",
    "random",
)
"""Built-in baselines entered in the seeded ladder (those shipped; see ``builtin_names``)."""

LADDER_MATCHES = 2000
"""Matches the seeded ladder plays before it finishes (about an hour at its pace)."""

LADDER_PACE_S = 2.0
"""Seconds between two matches of the seeded ladder: it plays on in the background."""

SAMPLE_AGENTS: Mapping[str, tuple[str, ...]] = {
    "connect_four": ("connect-four-heuristic", "random"),
    "foraging": ("foraging-coordinated", "foraging-greedy"),
    "maze": ("maze-astar",),
    "prisoners_dilemma": ("tit-for-tat", "pavlov"),
    "puzzles": ("puzzles-solver",),
    "tictactoe": ("minimax", "random"),
}
"""Built-in baselines (seat order) of each scenario's sample match; a scenario not
listed here (a plugin's) gets ``random`` in as few seats as it allows."""

SAMPLE_SEED = 1
"""Seed of every sample match."""

_PASSWORD_BYTES = 24  # 32 URL-safe characters, 192 bits of randomness


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What :func:`seed_if_empty` created.

    Attributes:
        admin_id: The administrator's user id.
        username: The administrator's login name.
        password: The generated password, in clear: shown once, never stored.
        scenarios: Versioned ids of the scenarios registered (empty when the table
            already had rows).
        tournament_id: The seeded ladder.
        agents: The ladder's entrants (``builtin:NAME`` references).
        samples: The queued sample matches, one per scenario.

    """

    admin_id: uuid.UUID
    username: str
    password: str
    scenarios: tuple[str, ...]
    tournament_id: uuid.UUID
    agents: tuple[str, ...]
    samples: tuple[uuid.UUID, ...] = ()


def seed_if_empty(session: Session, *, hasher: PasswordHasher | None = None) -> SeedReport | None:
    """Seed a database that has no user yet (commits); otherwise change nothing.

    Args:
        session: Database session on a migrated database.
        hasher: Argon2 parameters of the admin password; the default when omitted.

    Returns:
        What was created, with the admin password in clear; ``None`` when the database
        already had a user.

    """
    if session.scalar(select(UserRow.id).limit(1)) is not None:
        return None
    password = secrets.token_urlsafe(_PASSWORD_BYTES)
    admin = register(session, ADMIN_USERNAME, password, role=Role.ADMIN, hasher=hasher)
    scenarios = _register_scenarios(session)
    shipped = set(builtin_names())
    agents = tuple(BUILTIN_PREFIX + name for name in LADDER_AGENTS if name in shipped)
    tournament = create_tournament(  # commits the admin and the scenarios too
        session,
        owner_id=admin.id,
        scenario=LADDER_SCENARIO,
        format=LADDER_FORMAT,
        agents=agents,
        params=TournamentParams(agents=agents, rounds=LADDER_MATCHES, pace_s=LADDER_PACE_S),
    )
    tournament = start_tournament(session, tournament.id)
    samples = _queue_samples(session, admin.id)
    return SeedReport(
        admin_id=admin.id,
        username=admin.username,
        password=password,
        scenarios=scenarios,
        tournament_id=tournament.id,
        agents=agents,
        samples=samples,
    )


def _queue_samples(session: Session, owner_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    """Queue one sample match per registered scenario (latest version; commits)."""
    shipped = set(builtin_names())
    latest = {info.id: info for info in list_scenarios()}  # sorted: the last version wins
    ids = []
    for name, info in sorted(latest.items()):
        names = SAMPLE_AGENTS.get(name, ("random",) * info.players[0])
        if not set(names) <= shipped:
            continue  # a baseline not shipped in this build
        row = create_match(
            session,
            owner_id=owner_id,
            scenario=info.full_id,
            agents=[BUILTIN_PREFIX + n for n in names],
            seed=SAMPLE_SEED,
        )
        ids.append(row.id)
    return tuple(ids)


def _register_scenarios(session: Session) -> tuple[str, ...]:
    """Add every registered scenario version to an empty ``scenarios`` table (flushes)."""
    if session.scalar(select(ScenarioRow.id).limit(1)) is not None:
        return ()
    infos = list_scenarios()
    session.add_all(
        ScenarioRow(
            id=info.full_id,
            name=info.id,
            version=info.version,
            domains=list(info.domains),
            players_min=info.players[0],
            players_max=info.players[1],
            difficulties=[str(d) for d in info.difficulties],
        )
        for info in infos
    )
    session.flush()
    return tuple(info.full_id for info in infos)
