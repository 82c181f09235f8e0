"""Single and double elimination brackets, seeded, with byes and best-of ties."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from devspark.arena.formats._base import FormatBase, Pairing, check_agents, check_count
from devspark.core.errors import InvalidArgumentError
from devspark.rating.outcomes import Outcome

Source = tuple[str, int]
"""Where a bracket slot comes from: ``("seed", i)``, ``("winner", tie)``, ``("loser", tie)``."""


def bracket_order(size: int) -> list[int]:
    """Seed numbers (1-based) in bracket position order for a power-of-two ``size``.

    Adjacent positions meet in round one, so seed ``s`` meets ``size + 1 - s`` and
    seeds 1 and 2 can only meet in the final.

    Examples:
        >>> bracket_order(8)
        [1, 8, 4, 5, 2, 7, 3, 6]

    """
    order = [1]
    while len(order) < size:
        span = 2 * len(order) + 1
        order = [seed for top in order for seed in (top, span - top)]
    return order


def round_name(ties: int, index: int) -> str:
    """Conventional name of tie ``index`` (0-based) in a round of ``ties`` ties."""
    if ties == 1:
        return "final"
    prefix = {2: "SF", 4: "QF"}.get(ties, f"R{2 * ties}-")
    return f"{prefix}{index + 1}"


@dataclass(slots=True)
class _Tie:
    """One head-to-head of the bracket, possibly several games (best of ``games``)."""

    label: str
    sources: tuple[Source, Source]
    void_unless_upset: int | None = None
    slots: tuple[str | None, str | None] | None = None  # in source order
    half_points: list[int] = field(default_factory=lambda: [0, 0])
    played: int = 0
    outstanding: int = 0
    winner: str | None = None
    loser: str | None = None
    decided: bool = False


class _Bracket(FormatBase):
    """A bracket as a list of ties in dependency order; slots fill as ties decide.

    A slot that can never be filled (a bye) makes its tie a walkover: the other agent
    advances without playing and the format records a :class:`Bye`.
    """

    def __init__(self, agents: tuple[str, ...], seed: int, games: int, ties: list[_Tie]) -> None:
        super().__init__(agents, seed)
        self.games = games
        self._ties = ties
        self._seed_rank = {agent: index for index, agent in enumerate(agents)}
        self._by_label: dict[str, int] = {}
        self._losses = dict.fromkeys(agents, 0)
        self._resolve()

    @property
    def champion(self) -> str | None:
        """The winner of the tournament, once decided."""
        last = self._ties[-1]
        return last.winner if last.decided else None

    @property
    def losses(self) -> dict[str, int]:
        """Ties (not games) each agent has lost so far."""
        return dict(self._losses)

    def _slot(self, source: Source) -> tuple[bool, str | None]:
        kind, index = source
        if kind == "seed":
            return True, self._agents[index] if index < len(self._agents) else None
        tie = self._ties[index]
        return tie.decided, tie.winner if kind == "winner" else tie.loser

    def _resolve(self) -> None:
        """Fill every slot that can be filled and settle walkovers and void resets."""
        for tie in self._ties:
            if tie.decided or tie.slots is not None:
                continue
            (ready_a, a), (ready_b, b) = self._slot(tie.sources[0]), self._slot(tie.sources[1])
            if not (ready_a and ready_b):
                continue
            if tie.void_unless_upset is not None:
                final = self._ties[tie.void_unless_upset]
                if final.slots is not None and final.winner == final.slots[0]:
                    tie.decided, tie.winner = True, final.winner
                    continue
            tie.slots = (a, b)
            if a is None or b is None:
                tie.decided, tie.winner = True, a if a is not None else b
                if tie.winner is not None:
                    self._bye(tie.winner, tie.label)

    def _finished(self) -> bool:
        return self._ties[-1].decided

    def _schedule(self) -> list[tuple[tuple[str, ...], str]]:
        batch: list[tuple[tuple[str, ...], str]] = []
        for index, tie in enumerate(self._ties):
            if tie.decided or tie.slots is None:
                continue
            a, b = tie.slots
            assert a is not None and b is not None
            high, low = (a, b) if self._seed_rank[a] < self._seed_rank[b] else (b, a)
            leader = max(tie.half_points)
            need = min(self.games - tie.played, (self.games - leader) // 2 + 1)
            for game in range(tie.played, tie.played + need):
                label = tie.label if self.games == 1 else f"{tie.label}-G{game + 1}"
                self._by_label[label] = index
                batch.append(((high, low) if game % 2 == 0 else (low, high), label))
            tie.outstanding = need
        return batch

    def _apply(self, pairing: Pairing, outcome: Outcome) -> None:
        tie = self._ties[self._by_label[pairing.label]]
        assert tie.slots is not None and tie.slots[0] is not None
        half = round(2 * outcome.points(tie.slots[0]))
        tie.half_points[0] += half
        tie.half_points[1] += 2 - half
        tie.played += 1
        tie.outstanding -= 1
        if tie.outstanding == 0:
            self._settle(tie)
            self._resolve()

    def _settle(self, tie: _Tie) -> None:
        """Decide the tie if a side has clinched it or the games are used up."""
        assert tie.slots is not None
        first, second = tie.half_points
        if max(first, second) <= self.games and tie.played < self.games:
            return
        if first != second:
            winner = 0 if first > second else 1
        else:  # level after all its games: the higher seed goes through
            a, b = tie.slots
            assert a is not None and b is not None
            winner = 0 if self._seed_rank[a] < self._seed_rank[b] else 1
        tie.decided = True
        tie.winner, tie.loser = tie.slots[winner], tie.slots[1 - winner]
        assert tie.loser is not None
        self._losses[tie.loser] += 1


def _first_round(size: int, prefix: str) -> list[_Tie]:
    order = bracket_order(size)
    ties = size // 2
    return [
        _Tie(
            f"{prefix}{round_name(ties, i)}",
            (("seed", order[2 * i] - 1), ("seed", order[2 * i + 1] - 1)),
        )
        for i in range(ties)
    ]


def _next_power_of_two(count: int) -> int:
    size = 1
    while size < count:
        size *= 2
    return size


def _checked(agents: Sequence[str], games: int) -> tuple[tuple[str, ...], int]:
    found = check_agents(agents)
    check_count(games, "games")
    if games % 2 == 0:
        raise InvalidArgumentError(f"games must be odd (best of games), got {games}")
    return found, games


class SingleElimination(_Bracket):
    """Knockout bracket: lose a tie and you are out.

    Agents are given in seed order, best first (sort by rating before calling). The
    bracket has the next power of two slots; seed ``s`` meets seed ``size + 1 - s`` in
    round one (1 v 8, 4 v 5, 2 v 7, 3 v 6 for eight), so the empty slots become byes
    for the top seeds, and seeds 1 and 2 can only meet in the final. Byes are
    recorded by the format (see :attr:`byes`) and never issued as pairings.

    A tie is best of ``games`` (odd): each batch issues only the games that could
    still matter (best of 5 starts with 3, then 1 more at 2-1, ...), the higher seed
    takes the first seat in odd-numbered games, a draw is half a point each, and a
    tie still level after all its games goes to the higher seed.

    Args:
        agents: Distinct agent ids, best seed first.
        seed: Seeds the match seeds.
        games: Games per tie (odd).

    Raises:
        InvalidArgumentError: Bad agents, or ``games`` not a positive odd integer.

    Examples:
        >>> knockout = SingleElimination(["a", "b", "c"])
        >>> [(p.label, p.agents) for p in knockout.next_round()]
        [('SF2', ('b', 'c'))]
        >>> knockout.byes[0].agent
        'a'

    """

    name = "single_elimination"

    def __init__(self, agents: Sequence[str], seed: int = 0, games: int = 1) -> None:
        found, games = _checked(agents, games)
        size = _next_power_of_two(len(found))
        ties = _first_round(size, "")
        current = list(range(len(ties)))
        while len(current) > 1:
            count = len(current) // 2
            following = []
            for i in range(count):
                ties.append(
                    _Tie(
                        round_name(count, i),
                        (("winner", current[2 * i]), ("winner", current[2 * i + 1])),
                    )
                )
                following.append(len(ties) - 1)
            current = following
        super().__init__(found, seed, games, ties)


class DoubleElimination(_Bracket):
    """Winners and losers brackets: an agent is out after losing two ties.

    The winners bracket (labels ``WB-...``) is seeded like :class:`SingleElimination`.
    Its losers drop into the losers bracket (``LB-R1``, ``LB-R2``, ...), which
    alternates rounds among its own survivors with rounds against the next batch of
    winners-bracket losers (in reversed order every other round, to delay rematches).
    The grand final (``final``) sets the winners-bracket champion against the
    losers-bracket champion. With ``bracket_reset`` (the default) a grand-final win
    by the losers-bracket side, the champion's first loss, forces a decider
    (``final-reset``), so nobody leaves before losing twice; without it the grand
    final is one tie. Byes, best-of ties and tie-breaks work as in single
    elimination.

    Args:
        agents: Distinct agent ids, best seed first.
        seed: Seeds the match seeds.
        games: Games per tie (odd).
        bracket_reset: Play the reset decider when the losers-bracket side wins the
            grand final.

    Raises:
        InvalidArgumentError: Bad agents, or ``games`` not a positive odd integer.

    Examples:
        >>> double = DoubleElimination(["a", "b", "c", "d"])
        >>> [p.label for p in double.next_round()]
        ['WB-SF1', 'WB-SF2']

    """

    name = "double_elimination"

    def __init__(
        self,
        agents: Sequence[str],
        seed: int = 0,
        games: int = 1,
        *,
        bracket_reset: bool = True,
    ) -> None:
        found, games = _checked(agents, games)
        size = _next_power_of_two(len(found))
        ties = _first_round(size, "WB-")
        winners = list(range(len(ties)))
        dropped = [("loser", t) for t in winners]
        wb_rounds = [winners]
        while len(winners) > 1:
            count = len(winners) // 2
            for i in range(count):
                sources = (("winner", winners[2 * i]), ("winner", winners[2 * i + 1]))
                ties.append(_Tie(f"WB-{round_name(count, i)}", sources))
            winners = list(range(len(ties) - count, len(ties)))
            wb_rounds.append(winners)
        survivors = self._losers_bracket(ties, dropped, wb_rounds)
        ties.append(_Tie("final", (("winner", winners[0]), survivors)))
        self.bracket_reset = bracket_reset
        if bracket_reset:
            final = len(ties) - 1
            ties.append(
                _Tie("final-reset", (("winner", final), ("loser", final)), void_unless_upset=final)
            )
        super().__init__(found, seed, games, ties)

    @staticmethod
    def _losers_bracket(
        ties: list[_Tie], dropped: list[Source], wb_rounds: list[list[int]]
    ) -> Source:
        """Append the losers bracket's ties; return the source of its champion."""
        if len(dropped) == 1:
            return dropped[0]
        number = 0

        def play_round(pairs: list[tuple[Source, Source]]) -> list[Source]:
            nonlocal number
            number += 1
            for i, sources in enumerate(pairs):
                suffix = f"-{i + 1}" if len(pairs) > 1 else ""
                ties.append(_Tie(f"LB-R{number}{suffix}", sources))
            return [("winner", t) for t in range(len(ties) - len(pairs), len(ties))]

        alive = play_round([(dropped[2 * i], dropped[2 * i + 1]) for i in range(len(dropped) // 2)])
        for depth, wb_round in enumerate(wb_rounds[1:], start=2):
            incoming: list[Source] = [("loser", t) for t in wb_round]
            if depth % 2 == 0:
                incoming.reverse()
            alive = play_round(list(zip(alive, incoming, strict=True)))
            if len(alive) > 1:
                alive = play_round(
                    [(alive[2 * i], alive[2 * i + 1]) for i in range(len(alive) // 2)]
                )
        return alive[0]
