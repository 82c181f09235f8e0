"""Maximum-cardinality matching in a general graph (Edmonds' blossom algorithm).

Swiss pairing asks "can the remaining players still be paired without a rematch?"
at every step; that is a perfect-matching question on the graph of pairs that have
not met, which is not bipartite, so bipartite tools (``scipy.sparse.csgraph``) do not
answer it. This is the classic ``O(V^3)`` augmenting-path algorithm with blossom
contraction (Edmonds 1965), small enough for tournament sizes.

Swiss pairing asks that question once per candidate pair, on graphs that differ by two
vertices, so :func:`without` answers it from the maximum matching already known: once
two vertices are removed, every augmenting path of what is left of that matching ends
at one of their exposed mates (a path between two vertices exposed before would have
augmented the old matching), so one or two searches from those mates decide it instead
of a whole new matching.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence


def max_matching(
    adjacency: Sequence[Sequence[int]],
    mate: Sequence[int] | None = None,
    removed: Sequence[bool] | None = None,
) -> list[int]:
    """A maximum matching of an undirected graph.

    Args:
        adjacency: ``adjacency[v]`` lists the neighbours of vertex ``v`` (``0 .. n-1``);
            the graph must be symmetric and free of self-loops.
        mate: A matching to start from (``mate[v]`` as returned, ``-1`` when exposed);
            default a greedy one.
        removed: ``removed[v]`` leaves ``v`` out of the graph (it must be exposed in
            ``mate``); default none.

    Returns:
        ``mate[v]``: the vertex matched with ``v``, or ``-1`` when ``v`` is unmatched.

    Examples:
        >>> max_matching([[1, 2], [0, 2], [0, 1, 3], [2]])
        [1, 0, 3, 2]

    """
    size = len(adjacency)
    gone = [False] * size if removed is None else removed
    if mate is None:
        found = [-1] * size
        for v in range(size):  # greedy start: most augmenting searches then end at once
            if found[v] == -1 and not gone[v]:
                for w in adjacency[v]:
                    if found[w] == -1 and not gone[w]:
                        found[v], found[w] = w, v
                        break
    else:
        found = list(mate)
    exposed = [v for v in range(size) if found[v] == -1 and not gone[v]]
    if len(exposed) > 1:  # one search per exposed vertex: a failed one never succeeds later
        for root in exposed:
            if found[root] == -1:
                augment(adjacency, found, root, gone)
    return found


def matching_size(adjacency: Sequence[Sequence[int]]) -> int:
    """The number of edges in a maximum matching."""
    return sum(1 for mate in max_matching(adjacency) if mate != -1) // 2


def without(
    adjacency: Sequence[Sequence[int]],
    mate: Sequence[int],
    removed: list[bool],
    gone: Sequence[int],
    keep: int,
) -> list[int] | None:
    """A matching of ``keep`` edges once ``gone`` leaves the graph, found from ``mate``.

    Args:
        adjacency: The graph, as for :func:`max_matching`.
        mate: A *maximum* matching of the graph without the ``removed`` vertices.
        removed: The vertices already out (restored as given before returning).
        gone: One or two more vertices to take out.
        keep: Edges wanted, at least the matching's size less one per vertex in
            ``gone`` (removing a vertex costs a maximum matching at most one edge).

    Returns:
        A matching of the smaller graph with at least ``keep`` edges (a maximum one
        when ``keep`` is the most it can have: the old size, or one less when
        ``gone`` are two neighbours), or ``None`` when the smaller graph has no
        matching that large.

    Examples:
        >>> square = [[1, 3], [0, 2], [1, 3], [0, 2]]
        >>> without(square, [1, 0, 3, 2], [False] * 4, (0, 2), keep=0)
        [-1, -1, -1, -1]
        >>> without(square, [1, 0, 3, 2], [False] * 4, (0, 1), keep=1)
        [-1, -1, 3, 2]

    """
    found = list(mate)
    roots = []
    size = sum(1 for v in found if v != -1) // 2
    for v in gone:
        partner = found[v]
        if partner != -1:
            found[v] = found[partner] = -1
            size -= 1
            if partner not in gone:
                roots.append(partner)
    missing = keep - size
    if missing <= 0:
        return found
    # Only the exposed mates in ``roots`` can end an augmenting path (see the module).
    saved = [(v, removed[v]) for v in (*gone, *roots)]
    for v in gone:
        removed[v] = True
    try:
        if missing == 1:
            return found if any(augment(adjacency, found, r, removed) for r in roots) else None
        if len(roots) < 2:
            return None
        removed[roots[1]] = True  # the first path must not use up the second root
        if not augment(adjacency, found, roots[0], removed):
            return None
        removed[roots[1]] = False
        return found if augment(adjacency, found, roots[1], removed) else None
    finally:
        for v, was in saved:
            removed[v] = was


def augment(
    adjacency: Sequence[Sequence[int]],
    mate: list[int],
    root: int,
    removed: Sequence[bool] | None = None,
) -> bool:
    """Grow an alternating tree from exposed ``root``; flip an augmenting path if found.

    Args:
        adjacency: The graph, as for :func:`max_matching`.
        mate: The matching, changed in place when a path is found.
        root: An exposed vertex.
        removed: Vertices to leave out of the search (exposed ones); default none.

    Returns:
        Whether an augmenting path from ``root`` was found (and flipped).

    """
    size = len(adjacency)
    gone = [False] * size if removed is None else removed
    for to in adjacency[root]:  # an exposed neighbour: no tree needed (the usual case)
        if mate[to] == -1 and not gone[to]:
            mate[root], mate[to] = to, root
            return True
    parent = [-1] * size
    base = list(range(size))
    used = [False] * size
    used[root] = True
    tree = [root]  # every vertex the search has labelled: only these can join a blossom
    queue = deque([root])
    while queue:
        v = queue.popleft()
        for to in adjacency[v]:
            if gone[to] or base[v] == base[to] or mate[v] == to:
                continue
            if to == root or (mate[to] != -1 and parent[mate[to]] != -1):
                _contract(mate, parent, base, used, queue, tree, v, to)
            elif parent[to] == -1:
                parent[to] = v
                if mate[to] == -1:
                    _flip(mate, parent, to)
                    return True
                used[mate[to]] = True
                queue.append(mate[to])
                tree += (to, mate[to])
    return False


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
    tree: list[int],
    v: int,
    to: int,
) -> None:
    """Shrink the odd cycle closed by edge ``v``-``to`` into its base vertex."""
    top = _common_ancestor(mate, parent, base, v, to)
    blossom: set[int] = set()
    _mark_path(mate, parent, base, blossom, v, top, to)
    _mark_path(mate, parent, base, blossom, to, top, v)
    for i in tree:
        if base[i] in blossom:
            base[i] = top
            if not used[i]:
                used[i] = True
                queue.append(i)


def _common_ancestor(mate: list[int], parent: list[int], base: list[int], a: int, b: int) -> int:
    seen = set()
    while True:
        a = base[a]
        seen.add(a)
        if mate[a] == -1:
            break
        a = parent[mate[a]]
    while True:
        b = base[b]
        if b in seen:
            return b
        b = parent[mate[b]]


def _mark_path(
    mate: list[int],
    parent: list[int],
    base: list[int],
    blossom: set[int],
    v: int,
    top: int,
    child: int,
) -> None:
    while base[v] != top:
        blossom.update((base[v], base[mate[v]]))
        parent[v] = child
        child = mate[v]
        v = parent[mate[v]]
