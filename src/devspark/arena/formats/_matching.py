"""Maximum-cardinality matching in a general graph (Edmonds' blossom algorithm).

Swiss pairing asks "can the remaining players still be paired without a rematch?"
at every step; that is a perfect-matching question on the graph of pairs that have
not met, which is not bipartite, so bipartite tools (``scipy.sparse.csgraph``) do not
answer it. This is the classic ``O(V^3)`` augmenting-path algorithm with blossom
contraction (Edmonds 1965), small enough for tournament sizes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence


def max_matching(adjacency: Sequence[Sequence[int]]) -> list[int]:
    """A maximum matching of an undirected graph.

    Args:
        adjacency: ``adjacency[v]`` lists the neighbours of vertex ``v`` (``0 .. n-1``);
            the graph must be symmetric and free of self-loops.

    Returns:
        ``mate[v]``: the vertex matched with ``v``, or ``-1`` when ``v`` is unmatched.

    Examples:
        >>> max_matching([[1, 2], [0, 2], [0, 1, 3], [2]])
        [1, 0, 3, 2]

    """
    size = len(adjacency)
    mate = [-1] * size
    for v in range(size):  # greedy start: most augmenting searches then end at once
        if mate[v] == -1:
            for w in adjacency[v]:
                if mate[w] == -1:
                    mate[v], mate[w] = w, v
                    break
    for root in range(size):
        if mate[root] == -1:
            _augment(adjacency, mate, root)
    return mate


def matching_size(adjacency: Sequence[Sequence[int]]) -> int:
    """The number of edges in a maximum matching."""
    return sum(1 for mate in max_matching(adjacency) if mate != -1) // 2


def _augment(adjacency: Sequence[Sequence[int]], mate: list[int], root: int) -> None:
    """Grow an alternating tree from ``root`` and flip the augmenting path if one exists."""
    size = len(adjacency)
    parent = [-1] * size
    base = list(range(size))
    used = [False] * size
    used[root] = True
    queue = deque([root])
    while queue:
        v = queue.popleft()
        for to in adjacency[v]:
            if base[v] == base[to] or mate[v] == to:
                continue
            if to == root or (mate[to] != -1 and parent[mate[to]] != -1):
                _contract(mate, parent, base, used, queue, v, to)
            elif parent[to] == -1:
                parent[to] = v
                if mate[to] == -1:
                    _flip(mate, parent, to)
                    return
                used[mate[to]] = True
                queue.append(mate[to])


def _flip(mate: list[int], parent: list[int], end: int) -> None:
    v = end
    while v != -1:
        previous = parent[v]
        following = mate[previous]
        mate[v], mate[previous] = previous, v
        v = following


def _contract(
    mate: list[int],
    parent: list[int],
    base: list[int],
    used: list[bool],
    queue: deque[int],
    v: int,
    to: int,
) -> None:
    """Shrink the odd cycle closed by edge ``v``-``to`` into its base vertex."""
    top = _common_ancestor(mate, parent, base, v, to)
    blossom = [False] * len(mate)
    _mark_path(mate, parent, base, blossom, v, top, to)
    _mark_path(mate, parent, base, blossom, to, top, v)
    for i in range(len(mate)):
        if blossom[base[i]]:
            base[i] = top
            if not used[i]:
                used[i] = True
                queue.append(i)


def _common_ancestor(mate: list[int], parent: list[int], base: list[int], a: int, b: int) -> int:
    seen = [False] * len(mate)
    while True:
        a = base[a]
        seen[a] = True
        if mate[a] == -1:
            break
        a = parent[mate[a]]
    while True:
        b = base[b]
        if seen[b]:
            return b
        b = parent[mate[b]]


def _mark_path(
    mate: list[int],
    parent: list[int],
    base: list[int],
    blossom: list[bool],
    v: int,
    top: int,
    child: int,
) -> None:
    while base[v] != top:
        blossom[base[v]] = blossom[base[mate[v]]] = True
        parent[v] = child
        child = mate[v]
        v = parent[mate[v]]
