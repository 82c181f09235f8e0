"""The board keeper's memory: boards as growable arrays, and the documents it serves.

:class:`MemoryBoard` holds one board between refreshes: its agents, their pair counts
(:class:`PairTable`, arrays that grow as pairs meet, handed to the fit as
:class:`~devspark.rating.counts.PairCounts`), records per status, OpenSkill ratings and
the last fit with its resamples. :class:`Served` is one method's boards as the API
serves them.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from devspark.rating.counts import PairCounts
from devspark.rating.leaderboard import AgentRecord, LeaderRow
from devspark.rating.models import OpenSkillRatings

FloatArray = npt.NDArray[np.float64]


class Served:
    """One method's boards as the API serves them: gzip bytes, the JSON on demand, an ETag.

    Attributes:
        method: The rating method.
        built_at: When the keeper built them (``None``: nothing rated yet).

    """

    __slots__ = ("_body", "_gzip", "built_at", "method")

    def __init__(
        self,
        method: str,
        built_at: datetime | None,
        *,
        body: str | None = None,
        gz: bytes | None = None,
    ) -> None:
        if body is None and gz is None:
            raise ValueError("Served needs the body, its gzip bytes or both")
        self.method = method
        self.built_at = built_at
        self._body = body
        self._gzip = gz

    @property
    def etag(self) -> str:
        """A strong validator: the method and when the boards were built."""
        stamp = "empty" if self.built_at is None else f"{self.built_at.timestamp():.6f}"
        return f'"boards-{self.method}-{stamp}"'

    @property
    def body(self) -> str:
        """The JSON document."""
        if self._body is None:
            assert self._gzip is not None
            self._body = gzip.decompress(self._gzip).decode()
        return self._body

    def gzip(self) -> bytes:
        """The document gzip-compressed (once; boards of 1,000 agents shrink sixfold)."""
        if self._gzip is None:
            self._gzip = compress(self.body)
        return self._gzip


def compress(body: str) -> bytes:
    """Gzip at level 1: 2 MB of boards in under 10 ms, a sixth of the size."""
    return gzip.compress(body.encode(), compresslevel=1, mtime=0)


class PairTable:
    """One board's pair counts as growable arrays (new pairs appended), agents by index."""

    def __init__(self) -> None:
        self.index: dict[tuple[int, int], int] = {}
        self.size = 0
        self.first = np.zeros(64, dtype=np.int64)
        self.second = np.zeros(64, dtype=np.int64)
        self.cells = np.zeros((64, 3), dtype=np.float64)  # wins, losses, draws

    def add(self, i: int, j: int, wins: float, losses: float, draws: float) -> None:
        """Add results between agents ``i`` and ``j`` (``wins``: ``i`` over ``j``)."""
        if i > j:
            i, j, wins, losses = j, i, losses, wins
        k = self.index.get((i, j))
        if k is None:
            k = self.index[(i, j)] = self.size
            if k == len(self.first):
                grow = 2 * len(self.first)
                self.first = np.resize(self.first, grow)
                self.second = np.resize(self.second, grow)
                self.cells = np.resize(self.cells, (grow, 3))
            self.first[k], self.second[k] = i, j
            self.cells[k] = 0.0
            self.size += 1
        self.cells[k, 0] += wins
        self.cells[k, 1] += losses
        self.cells[k, 2] += draws

    def counts(self) -> PairCounts:
        """A copy of the counts, as the fit takes them."""
        n = self.size
        return PairCounts(
            first=self.first[:n].copy(),
            second=self.second[:n].copy(),
            wins=self.cells[:n, 0].copy(),
            losses=self.cells[:n, 1].copy(),
            draws=self.cells[:n, 2].copy(),
        )


@dataclass(slots=True)
class MemoryBoard:
    """One board in memory: agents, pair counts, records, OpenSkill and the last fit.

    ``deviation`` holds the resamples as deviations from the estimate each was drawn
    around (resamples x agents); ``renewed`` is the next one a chunk renews.
    """

    key: str
    agents: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    pairs: PairTable = field(default_factory=PairTable)
    records: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    skill: OpenSkillRatings = field(default_factory=lambda: OpenSkillRatings(keep_history=False))
    theta: FloatArray = field(default_factory=lambda: np.zeros(0))
    deviation: FloatArray | None = None
    renewed: int = 0
    chunk_s: float = 0.0
    bootstrapped_at: float = float("-inf")
    bootstraps: int = 0
    dirty: bool = True
    rows: dict[str, list[LeaderRow]] = field(default_factory=dict)

    def slot(self, agent: str) -> int:
        """``agent``'s index on this board (a new agent gets the next one)."""
        i = self.index.get(agent)
        if i is None:
            i = self.index[agent] = len(self.agents)
            self.agents.append(agent)
        return i

    def add_pair(self, a: str, b: str, wins: float, losses: float, draws: float) -> None:
        """Add results between ``a`` and ``b`` (``wins``: ``a`` over ``b``)."""
        self.pairs.add(self.slot(a), self.slot(b), wins, losses, draws)

    def add_record(self, agent: str, status: str, values: Sequence[float]) -> None:
        """Add ``(matches, wins, draws, losses, cpu_s, moves)`` to a record of ``agent``."""
        self.slot(agent)
        line = self.records.setdefault(agent, {}).setdefault(status, [0, 0, 0, 0, 0.0, 0])
        for n, value in enumerate(values):
            line[n] += value

    def record(self, agent: str) -> tuple[int, AgentRecord]:
        """Matches played and the record of ``agent``."""
        played = 0
        result = AgentRecord()
        for status, (matches, wins, draws, losses, cpu_s, moves) in sorted(
            self.records.get(agent, {}).items()
        ):
            played += int(matches)
            result.wins += int(wins)
            result.draws += int(draws)
            result.losses += int(losses)
            result.cpu_s += cpu_s
            result.moves += int(moves)
            result.statuses[status] = int(matches)
        return played, result


def thin(points: Sequence[tuple[int, float, float]], keep: int) -> list[tuple[int, float, float]]:
    """At most ``keep`` points, evenly spaced, the last one kept."""
    if len(points) <= keep:
        return list(points)
    step = len(points) / keep
    thinned = [points[int(i * step)] for i in range(keep - 1)]
    thinned.append(points[-1])
    return thinned


__all__ = ["MemoryBoard", "PairTable", "Served", "compress", "thin"]
