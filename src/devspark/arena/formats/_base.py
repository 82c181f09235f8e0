"""What every tournament format shares: pairings, byes, the protocols and the bookkeeping."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from devspark.core.errors import ConflictError, FailedPreconditionError, InvalidArgumentError
from devspark.rating.outcomes import Outcome


@dataclass(frozen=True, slots=True)
class Pairing:
    """One match a format asks the runner to play.

    Attributes:
        agents: Agent ids in seat order (two or more, distinct).
        round: 0-based index of the :meth:`TournamentFormat.next_round` batch that
            issued it (a ladder's batch number).
        seed: Match seed, derived from the format's seed and a counter of issued
            matches (stable across runs and processes).
        label: Where the match sits in the format, e.g. ``"R1"``, ``"WB-QF2"``,
            ``"LB-R2"``, ``"final"``, ``"SF1-G2"`` (game 2 of a best-of tie).

    """

    agents: tuple[str, ...]
    round: int
    seed: int
    label: str = ""


@dataclass(frozen=True, slots=True)
class Bye:
    """An agent that advances or scores without playing (never handed to the runner).

    Attributes:
        agent: The agent given the bye.
        round: The batch during which the bye was granted.
        label: Where it sits in the format (``"bye"`` in Swiss, the tie's label in a
            bracket).

    """

    agent: str
    round: int
    label: str = "bye"


class RatingView(Protocol):
    """Read-only view of ratings that matchmaking consults (an OpenSkillRatings fits)."""

    def estimate(self, agent: str) -> tuple[float, float]:
        """``(mu, sigma)`` of ``agent``; the prior when it has not played."""
        ...

    def predict_win(self, a: str, b: str) -> float:
        """Probability that ``a`` beats ``b``."""
        ...


@runtime_checkable
class TournamentFormat(Protocol):
    """A pure, deterministic scheduler: it issues pairings and consumes outcomes."""

    @property
    def name(self) -> str:
        """The format's name, e.g. ``"swiss"``."""
        ...

    def next_round(self) -> list[Pairing]:
        """The next batch to play; ``[]`` once the tournament is over."""
        ...

    def record(self, pairing: Pairing, outcome: Outcome) -> None:
        """Learn the outcome of a pairing this format issued."""
        ...

    @property
    def done(self) -> bool:
        """True once every pairing has been issued and recorded."""
        ...


def match_seed(seed: int, counter: int) -> int:
    """The seed of the ``counter``-th match a format with ``seed`` issues (0 .. 2**31 - 1).

    A hash rather than ``seed + counter`` so that neighbouring tournaments (seed 1 and
    seed 2) do not share matches.

    Examples:
        >>> match_seed(0, 0) == match_seed(0, 0) != match_seed(0, 1)
        True

    """
    digest = hashlib.blake2b(f"{seed}:{counter}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 2**31


def check_agents(
    agents: Sequence[str], *, name: str = "agents", minimum: int = 2
) -> tuple[str, ...]:
    """``agents`` as a tuple, after checking they are distinct non-empty strings.

    Raises:
        InvalidArgumentError: Not a sequence of strings, an empty id, a repeated id, or
            fewer than ``minimum`` agents.

    """
    if isinstance(agents, str) or not isinstance(agents, Sequence):
        raise InvalidArgumentError(f"{name} must be a sequence of agent ids, got {agents!r}")
    found = tuple(agents)
    for agent in found:
        if not isinstance(agent, str) or not agent:
            raise InvalidArgumentError(f"{name} must be non-empty strings, got {agent!r}")
    repeated = sorted({a for a in found if found.count(a) > 1})
    if repeated:
        raise InvalidArgumentError(f"{name} must be distinct; repeated: {', '.join(repeated)}")
    if len(found) < minimum:
        raise InvalidArgumentError(f"{name} needs at least {minimum} agents, got {len(found)}")
    return found


def check_count(value: int, name: str, *, minimum: int = 1) -> int:
    """``value`` after checking it is an integer of at least ``minimum``.

    Raises:
        InvalidArgumentError: Not an integer (bools are refused) or below ``minimum``.

    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class FormatBase(ABC):
    """Bookkeeping shared by the formats: issuing, validating and recording pairings.

    Subclasses implement :meth:`_schedule` (the next batch as ``(agents, label)``
    pairs, ``[]`` when nothing is left), :meth:`_finished` and :meth:`_apply`.
    """

    name: ClassVar[str] = ""

    def __init__(self, agents: tuple[str, ...], seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidArgumentError(f"seed must be an integer, got {seed!r}")
        self._agents = agents
        self._seed = seed
        self._issued = 0
        self._round = 0
        self._pending: dict[Pairing, None] = {}
        self._round_starts: list[int] = []  # match counter at the start of each batch
        self._byes: list[Bye] = []

    @property
    def agents(self) -> tuple[str, ...]:
        """Every agent in the tournament, in the order given."""
        return self._agents

    @property
    def seed(self) -> int:
        """The format's seed."""
        return self._seed

    @property
    def pending(self) -> tuple[Pairing, ...]:
        """Pairings issued and not yet recorded, in issue order."""
        return tuple(self._pending)

    @property
    def byes(self) -> tuple[Bye, ...]:
        """Byes granted so far, in order (never issued as pairings)."""
        return tuple(self._byes)

    @property
    def rounds_issued(self) -> int:
        """How many non-empty batches :meth:`next_round` has returned."""
        return self._round

    @property
    def done(self) -> bool:
        """True once every pairing has been issued and recorded."""
        return not self._pending and self._finished()

    def next_round(self) -> list[Pairing]:
        """The next batch of pairings to play; ``[]`` once the tournament is over.

        Raises:
            FailedPreconditionError: Pairings of the previous batch are not recorded yet.

        """
        if self._pending:
            raise FailedPreconditionError(
                f"{len(self._pending)} pairing(s) of round {self._round - 1} are not recorded "
                "yet; record every pairing before asking for the next round"
            )
        if self._finished():
            return []
        batch = self._schedule()
        assert batch, f"{self.name} scheduled an empty round before finishing"
        self._round_starts.append(self._issued)
        pairings = []
        for agents, label in batch:
            assert len(set(agents)) == len(agents) >= 2, agents
            pairing = Pairing(agents, self._round, match_seed(self._seed, self._issued), label)
            self._issued += 1
            self._pending[pairing] = None
            pairings.append(pairing)
        self._round += 1
        return pairings

    def record(self, pairing: Pairing, outcome: Outcome) -> None:
        """Learn the outcome of ``pairing``.

        Args:
            pairing: A pairing this format issued and that is not recorded yet.
            outcome: Its result; the same agents as the pairing (any seat order).

        Raises:
            ConflictError: The pairing was already recorded.
            InvalidArgumentError: The pairing was not issued by this format, or the
                outcome's agents differ from the pairing's.

        """
        if pairing not in self._pending:
            if self._was_issued(pairing):
                raise ConflictError(f"pairing {pairing!r} was already recorded")
            raise InvalidArgumentError(f"pairing {pairing!r} was not issued by this {self.name}")
        if sorted(outcome.agents) != sorted(pairing.agents):
            raise InvalidArgumentError(
                f"outcome agents {outcome.agents!r} differ from pairing agents {pairing.agents!r}"
            )
        del self._pending[pairing]
        self._apply(pairing, outcome)

    def _was_issued(self, pairing: Pairing) -> bool:
        """Whether a pairing with this round and match seed was issued (memory-free check)."""
        if not 0 <= pairing.round < len(self._round_starts):
            return False
        start = self._round_starts[pairing.round]
        last = pairing.round + 1 == len(self._round_starts)
        stop = self._issued if last else self._round_starts[pairing.round + 1]
        return any(match_seed(self._seed, k) == pairing.seed for k in range(start, stop))

    def _bye(self, agent: str, label: str = "bye") -> None:
        self._byes.append(Bye(agent, self._round, label))

    @abstractmethod
    def _schedule(self) -> list[tuple[tuple[str, ...], str]]:
        """The next batch as ``(agents in seat order, label)``; never empty."""

    @abstractmethod
    def _finished(self) -> bool:
        """True when no further pairing will be scheduled."""

    @abstractmethod
    def _apply(self, pairing: Pairing, outcome: Outcome) -> None:
        """Update the format's state with a validated outcome."""
