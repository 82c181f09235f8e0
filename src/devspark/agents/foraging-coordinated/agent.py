"""Coordinated foraging team player (``foraging-v1``).

Memory: a map of every food item seen (forgotten when its cell is seen empty) and when
each cell was last in view.

Radio protocol: frames of four rounds aligned on the shared step counter (rounds
``4k .. 4k+3``); each round carries one base-4 digit, most significant first, of a
value ``v`` chosen at the frame's first round. ``v = 0`` means nothing; otherwise
``v - 1`` is the index of an interior cell, ``(row - 1) * (size - 2) + (col - 1)``
(food never lies on the border), where the sender waits at heavy food and asks for
help.

Each round, in order of preference:

1. ``LOAD`` when next to a known item it lifts alone;
2. help: go to the cell called by a teammate (the lowest-seated caller wins, so two
   callers never wait for each other) and ``LOAD`` next to it;
3. the nearest known item it lifts alone;
4. the nearest known heavy item: go there, call for help and ``LOAD`` next to it;
5. explore: walk to the nearest cell never seen, else the stalest one.

An agent that has loaded next to a heavy item for ``2 * size`` rounds without lifting
it (a teammate that does not listen, or not enough help) gives the item up for as
long, then may come back to it.

Paths are breadth-first around food and the teammates in view; a move that failed
(another agent took the cell) is retried at random.

Runs inside the sandbox on the standard library only.
"""

from collections import deque

STEPS = (("N", -1, 0), ("E", 0, 1), ("S", 1, 0), ("W", 0, -1))
FRAME = 4
PATIENCE = 2  # rounds (per cell of the side) to wait at heavy food before giving up


class Agent:
    def __init__(self):
        self.size = 0

    def reset(self, config=None, context=None):
        self.size = 0

    def _start(self, observation):
        n = len(observation["levels"])
        self.size = observation["size"]
        self.food = {}  # (row, col) -> level, None when only heard of
        self.seen = [[-1] * self.size for _ in range(self.size)]
        self.digits = [[] for _ in range(n)]
        self.calls = [None] * n  # cell each agent calls for help at
        self.frame_value = 0
        self.calling = None  # heavy item this agent waits at and calls for
        self.waiting = None  # heavy item this agent loads at, and since when
        self.tabu = {}  # heavy items given up on -> step until which they are ignored
        self.last_position = None
        self.last_move = None

    # ------------------------------------------------------------ memory

    def _observe(self, observation):
        step, size, radius = observation["step"], self.size, observation["view_radius"]
        row, col = observation["positions"][observation["me"]]
        visible = {(r, c): level for r, c, level in observation["food"]}
        for r in range(max(0, row - radius), min(size, row + radius + 1)):
            line = self.seen[r]
            for c in range(max(0, col - radius), min(size, col + radius + 1)):
                line[c] = step
                if (r, c) in self.food and (r, c) not in visible:
                    del self.food[(r, c)]
        self.food.update(visible)
        if step == 0:
            return
        sent = step - 1  # the round the observed signals were sent in
        for agent, signal in enumerate(observation["signals"]):
            digits = self.digits[agent]
            if sent % FRAME == 0:
                digits.clear()
            digits.append(signal)
            if len(digits) == FRAME:
                self.calls[agent] = self._decode(digits, sent - FRAME + 1)

    def _decode(self, digits, frame_start):
        value = 0
        for digit in digits:
            value = value * 4 + digit
        inner = self.size - 2
        if value == 0 or value > inner * inner:
            return None
        cell = ((value - 1) // inner + 1, (value - 1) % inner + 1)
        if self.seen[cell[0]][cell[1]] < frame_start and cell not in self.food:
            self.food[cell] = None
        return cell

    # ------------------------------------------------------------ decision

    def act(self, observation, context):
        if self.size != observation["size"] or observation["step"] == 0:
            self._start(observation)
        self._observe(observation)
        self.step = observation["step"]
        me = observation["me"]
        here = tuple(observation["positions"][me])
        level = observation["levels"][me]
        moves = {action["move"] for action in context.legal_actions}
        blocked = set(self.food)
        for index, position in enumerate(observation["positions"]):
            if position is not None and index != me:
                blocked.add(tuple(position))
        move, call = self._choose(observation, here, level, moves, blocked, context.rng)
        if move not in moves:
            move = "STAY"
        if move != "LOAD":
            self.waiting = None
        if observation["step"] % FRAME == 0:
            self.frame_value = self._encode(call)
        shift = 2 * (FRAME - 1 - observation["step"] % FRAME)
        signal = (self.frame_value >> shift) & 3
        self.last_position, self.last_move = here, move
        return {"move": move, "signal": signal}

    def _choose(self, observation, here, level, moves, blocked, rng):
        """Return (move, cell this agent calls for help at or None)."""
        adjacent = [cell for cell in self._neighbours(here) if cell in self.food]
        if "LOAD" in moves and any(
            self.food[cell] is not None and self.food[cell] <= level for cell in adjacent
        ):
            return "LOAD", None
        distance, first = self._paths(here, blocked)
        helping = self._help_target(observation["me"])
        if helping is not None:
            if helping != self.calling:
                self.calling = None
            return self._go_load(helping, here, moves, distance, first, rng), self.calling
        light = [cell for cell, lv in self.food.items() if lv is not None and lv <= level]
        target = self._nearest(light, distance)
        if target is not None:
            self.calling = None
            return self._go_load(target, here, moves, distance, first, rng), None
        if not self._open(self.calling):
            heavy = [cell for cell in self.food if self._open(cell)]
            self.calling = self._nearest(heavy, distance)
        target = self.calling
        if target is not None:
            return self._go_load(target, here, moves, distance, first, rng), target
        return self._explore(observation["step"], here, moves, distance, first, rng), None

    def _help_target(self, me):
        """The cell of the lowest-seated caller this agent should help, if any."""
        for agent, cell in enumerate(self.calls):
            if agent == me or not self._open(cell):
                continue
            if agent < me or self.calling is None or cell == self.calling:
                return cell
            return None  # a higher-seated caller comes to help this one instead
        return None

    def _open(self, cell):
        """Whether ``cell`` holds a known item this agent has not given up on."""
        return cell in self.food and self.tabu.get(cell, -1) < self.step

    def _go_load(self, target, here, moves, distance, first, rng):
        if target in self._neighbours(here):
            if self.waiting is None or self.waiting[0] != target:
                self.waiting = (target, self.step)
            elif self.step - self.waiting[1] > PATIENCE * self.size:
                # Nobody came (a teammate that does not listen?): try elsewhere a while.
                self.tabu[target] = self.step + PATIENCE * self.size
                self.calling = self.waiting = None
            return "LOAD"
        goals = [cell for cell in self._neighbours(target) if cell in distance]
        if not goals:
            return self._wander(moves, rng)
        goal = min(goals, key=lambda cell: (distance[cell], cell))
        return self._step_to(goal, here, moves, first, rng)

    def _explore(self, step, here, moves, distance, first, rng):
        best, best_score = None, None
        for cell, d in distance.items():
            seen = self.seen[cell[0]][cell[1]]
            score = (0, d) if seen < 0 else (1, d - (step - seen))
            if best_score is None or score < best_score:
                best, best_score = cell, score
        if best is None or best == here:
            return self._wander(moves, rng)
        return self._step_to(best, here, moves, first, rng)

    def _step_to(self, goal, here, moves, first, rng):
        move = first.get(goal)
        if move is None or move not in moves:
            return self._wander(moves, rng)
        if here == self.last_position and self.last_move == move and rng.random() < 0.5:
            return self._wander(moves, rng)  # blocked last round: break the tie
        return move

    def _wander(self, moves, rng):
        steps = sorted(move for move in moves if move not in ("LOAD", "STAY"))
        return rng.choice(steps) if steps else "STAY"

    # ------------------------------------------------------------ geometry

    def _neighbours(self, cell):
        size = self.size
        row, col = cell
        return [
            (row + dr, col + dc)
            for _, dr, dc in STEPS
            if 0 <= row + dr < size and 0 <= col + dc < size
        ]

    def _paths(self, here, blocked):
        """Breadth-first distances from ``here`` and the first move towards each cell."""
        distance, first = {here: 0}, {}
        queue = deque([here])
        size = self.size
        while queue:
            cell = queue.popleft()
            d = distance[cell] + 1
            for name, dr, dc in STEPS:
                nxt = (cell[0] + dr, cell[1] + dc)
                if (
                    nxt in distance
                    or nxt in blocked
                    or not (0 <= nxt[0] < size and 0 <= nxt[1] < size)
                ):
                    continue
                distance[nxt] = d
                first[nxt] = first.get(cell, name)
                queue.append(nxt)
        return distance, first

    def _nearest(self, cells, distance):
        best, best_d = None, None
        for cell in sorted(cells):
            goals = [distance[n] for n in self._neighbours(cell) if n in distance]
            if goals and (best_d is None or min(goals) < best_d):
                best, best_d = cell, min(goals)
        return best

    def _encode(self, cell):
        if cell is None:
            return 0
        inner = self.size - 2
        return (cell[0] - 1) * inner + (cell[1] - 1) + 1
