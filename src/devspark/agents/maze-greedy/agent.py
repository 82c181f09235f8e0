"""Maze heuristic: a greedy depth-first walk towards the goal.

At each step the agent moves to an unvisited neighbouring cell, preferring the one
closest to the goal by Manhattan distance (ties broken with ``context.rng``). When
every open neighbour has been visited (a dead end, or a loop closing) it steps back
along the path it came by. It always reaches the goal eventually, but it never plans:
it walks into dead ends that point towards the goal and does not look for shortcuts.

The observation is ``{"grid", "position", "goal", ...}`` (see ``maze-v1``); only
``position``, ``goal`` and ``context.legal_actions`` are used, so fog does not matter.
Memory (visited cells, the path) is reset at the start of each episode. Standard
library only: this file runs inside the sandbox.
"""

MOVES = {"N": (-1, 0), "E": (0, 1), "S": (1, 0), "W": (0, -1)}


class Agent:
    def __init__(self):
        self.visited = set()
        self.path = []

    def reset(self, config, context):
        self.visited = set()
        self.path = []

    def act(self, observation, context):
        row, col = observation["position"]
        goal_row, goal_col = observation["goal"]
        here = (row, col)
        if not self.path or self.path[-1] != here:
            self.path.append(here)
        self.visited.add(here)
        legal = context.legal_actions
        best, best_distance = [], None
        for name in legal:
            dr, dc = MOVES[name]
            cell = (row + dr, col + dc)
            if cell in self.visited:
                continue
            distance = abs(cell[0] - goal_row) + abs(cell[1] - goal_col)
            if best_distance is None or distance < best_distance:
                best, best_distance = [name], distance
            elif distance == best_distance:
                best.append(name)
        if best:
            return best[0] if len(best) == 1 else context.rng.choice(best)
        if len(self.path) >= 2:  # back out of the dead end
            self.path.pop()
            back_row, back_col = self.path[-1]
            for name in legal:
                dr, dc = MOVES[name]
                if (row + dr, col + dc) == (back_row, back_col):
                    return name
        return context.rng.choice(legal)  # only when the memory was lost
