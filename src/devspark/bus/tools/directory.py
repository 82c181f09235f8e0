"""Discovery and teams: who offers which capability, and teams that cover a need.

:class:`Discovery` is a directory of members (agents, seats, instances), each with the
capabilities it offers (free-form names such as ``lift``, ``scout`` or ``echo``) and a
small ``info`` object. :class:`Teams` forms a team for a list of required capabilities
from the members registered there: greedily, the member covering most of what is still
uncovered first (ties by name), so the team is small (a greedy set cover) and the same
directory always gives the same team. A member is in at most one team at a time until
that team is dissolved. Both are thread-safe and in-process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devspark.core.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
)

MAX_MEMBERS = 1024
MAX_CAPABILITIES = 64
"""Capabilities per member, and required capabilities per team."""
MAX_INFO_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Member:
    """A registered member."""

    name: str
    capabilities: tuple[str, ...]
    info: Any = None

    def public(self) -> dict[str, Any]:
        """The JSON form agents get."""
        return {"member": self.name, "capabilities": list(self.capabilities), "info": self.info}


class Discovery:
    """The directory of members (see the module documentation)."""

    def __init__(self, *, max_members: int = MAX_MEMBERS) -> None:
        """An empty directory of at most ``max_members`` members."""
        self._members: dict[str, Member] = {}
        self._lock = threading.Lock()
        self._max = max_members

    def register(self, name: str, capabilities: Sequence[str], info: Any = None) -> Member:
        """Add ``name`` (or replace its entry) with what it offers.

        Raises:
            InvalidArgumentError: a bad name, capability list or info.
            ResourceExhaustedError: a new member past ``max_members``.

        """
        member = Member(_name(name), capability_list(capabilities, "capabilities"), _info(info))
        with self._lock:
            if name not in self._members and len(self._members) >= self._max:
                raise ResourceExhaustedError(f"the directory holds {self._max} members already")
            self._members[name] = member
        return member

    def unregister(self, name: str) -> bool:
        """Remove ``name``; returns whether it was registered."""
        with self._lock:
            return self._members.pop(name, None) is not None

    def find(self, capability: str) -> list[Member]:
        """Members offering ``capability``, by name."""
        with self._lock:
            return [
                member
                for _, member in sorted(self._members.items())
                if capability in member.capabilities
            ]

    def members(self) -> list[Member]:
        """Every member, by name."""
        with self._lock:
            return [member for _, member in sorted(self._members.items())]


@dataclass(frozen=True, slots=True)
class Team:
    """A formed team.

    Attributes:
        id: ``t1``, ``t2``, ... in the order formed.
        members: In the order they were picked.
        covers: Required capability -> the member picked for it.

    """

    id: str
    required: tuple[str, ...]
    members: tuple[str, ...]
    covers: dict[str, str]
    formed_by: str = ""

    def public(self) -> dict[str, Any]:
        """The JSON form agents get."""
        return {
            "id": self.id,
            "required": list(self.required),
            "members": list(self.members),
            "covers": dict(self.covers),
            "formed_by": self.formed_by,
        }


class Teams:
    """Teams formed from a :class:`Discovery` (see the module documentation)."""

    def __init__(self, discovery: Discovery) -> None:
        """No teams yet; members come from ``discovery``."""
        self._discovery = discovery
        self._teams: dict[str, Team] = {}
        self._formed = 0
        self._lock = threading.Lock()

    def form(self, required: Sequence[str], *, formed_by: str = "") -> Team:
        """Pick free members that together offer every capability of ``required``.

        Raises:
            InvalidArgumentError: a bad list of capabilities.
            FailedPreconditionError: no set of free members covers them (names what
                is missing).

        """
        need = capability_list(required, "required")
        if not need:
            raise InvalidArgumentError("required must name at least one capability")
        with self._lock:
            busy = {name for team in self._teams.values() for name in team.members}
            free = [m for m in self._discovery.members() if m.name not in busy]
            members, covers = cover(need, free)
            self._formed += 1
            team = Team(f"t{self._formed}", need, tuple(members), covers, formed_by)
            self._teams[team.id] = team
            return team

    def dissolve(self, team_id: str) -> Team:
        """End the team; its members are free again.

        Raises:
            NotFoundError: no such team.

        """
        with self._lock:
            team = self._teams.pop(team_id, None)
        if team is None:
            raise NotFoundError(f"no team {team_id!r}")
        return team

    def get(self, team_id: str) -> Team:
        """The team ``team_id``.

        Raises:
            NotFoundError: no such team.

        """
        with self._lock:
            team = self._teams.get(team_id)
        if team is None:
            raise NotFoundError(f"no team {team_id!r}")
        return team

    def teams(self) -> list[Team]:
        """The teams that exist, oldest first."""
        with self._lock:
            return list(self._teams.values())


def cover(required: Sequence[str], members: Sequence[Member]) -> tuple[list[str], dict[str, str]]:
    """The greedy set cover of ``required`` by ``members``.

    Returns:
        The picked member names in pick order, and capability -> member.

    Raises:
        FailedPreconditionError: ``members`` together lack a capability (named).

    """
    left = list(dict.fromkeys(required))
    offered = {cap for member in members for cap in member.capabilities}
    missing = [cap for cap in left if cap not in offered]
    if missing:
        raise FailedPreconditionError(f"no free member offers {missing}")
    picked: list[str] = []
    covers: dict[str, str] = {}
    by_name = sorted(members, key=lambda member: member.name)
    while left:
        best, most = by_name[0], 0
        for member in by_name:  # the first of the most useful, by name
            useful = sum(cap in member.capabilities for cap in left)
            if useful > most:
                best, most = member, useful
        picked.append(best.name)
        for cap in [cap for cap in left if cap in best.capabilities]:
            covers[cap] = best.name
            left.remove(cap)
    return picked, {cap: covers[cap] for cap in required}


def capability_list(items: Any, field: str) -> tuple[str, ...]:
    """``items`` as distinct capability names, or an error naming ``field``."""
    if isinstance(items, str) or not isinstance(items, Sequence):
        raise InvalidArgumentError(f"{field} must be a list of strings")
    names = tuple(dict.fromkeys(items))
    if len(names) > MAX_CAPABILITIES:
        raise InvalidArgumentError(f"{field} holds {len(names)} names, over {MAX_CAPABILITIES}")
    for name in names:
        if not isinstance(name, str) or not 0 < len(name) <= 128:
            raise InvalidArgumentError(f"{field}: {name!r} is not a name of 1-128 characters")
    return names


def _name(name: Any) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= 128:
        raise InvalidArgumentError(f"member {name!r} must be a name of 1-128 characters")
    return name


def _info(info: Any) -> Any:
    try:
        size = len(json.dumps(info, separators=(",", ":"), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"info is not JSON: {exc}") from None
    if size > MAX_INFO_BYTES:
        raise InvalidArgumentError(f"info is {size} bytes of JSON, over {MAX_INFO_BYTES}")
    return json.loads(json.dumps(info))


__all__ = ["Discovery", "Member", "Team", "Teams", "capability_list", "cover"]
