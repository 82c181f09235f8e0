"""Bus-coordinated foraging team player (``foraging-v1``).

The team talks over the message bus instead of the radio (its signal is always 0).
Every round each agent publishes one report on ``team.forage``: its seat, where it
stands, the food it sees and the heavy item it waits at for help (if any). Teammates
get the reports with their next move (``context.messages``) and merge them into their
own map, so the whole team shares one map and every call for help is heard at once.

The manifest grants ``bus:publish:team.*`` and ``bus:subscribe:team.*``. Without them
the host refuses the reports, nothing arrives, and the agent plays alone on what it
sees: the same code, uncoordinated (the collaboration test compares the two).

Each round, in order of preference:

1. ``LOAD`` next to a known item it lifts alone;
2. help the lowest-seated teammate calling for help (callers never wait for each other);
3. the nearest known item it lifts alone;
4. the nearest known heavy item: go there, call for help and ``LOAD`` next to it;
5. explore: the nearest cell nobody on the team has seen, else the stalest one.

An agent that has loaded at a heavy item for ``2 * size`` rounds without lifting it
gives the item up for as long. Runs inside the sandbox on the standard library only.
"""

from collections import deque

CHANNEL = "team.forage"
DIRECTIONS = {"N": (-1, 0), "E": (0, 1), "S": (1, 0), "W": (0, -1)}
PATIENCE = 2  # how long to load at heavy food alone: this many rounds per cell of the side


class Agent:
    size = 0  # of the grid of the episode under way; 0 before the first move

    def reset(self, config=None, context=None):
        self.size = 0  # a new episode: act() starts afresh

    def _begin(self, observation):
        self.size = observation["size"]
        self.food = {}  # (row, col) -> level, as last seen by anyone on the team
        self.seen = {}  # (row, col) -> the latest step anyone on the team saw it
        self.calls = {}  # seat -> the heavy item it calls for help at
        self.calling = None  # the heavy item this agent calls for help at
        self.waiting = None  # (item, since step) while loading next to it
        self.tabu = {}  # heavy items given up on -> the step they count again
        self.last = (None, None)  # (position, move) of the previous round

    # ------------------------------------------------------------ the shared map

    def _merge(self, step, centre, radius, visible):
        """Merge what an agent at ``centre`` saw at ``step``; newer sightings win."""
        items = {(r, c): level for r, c, level in visible}
        top, left = max(0, centre[0] - radius), max(0, centre[1] - radius)
        for r in range(top, min(self.size, centre[0] + radius + 1)):
            for c in range(left, min(self.size, centre[1] + radius + 1)):
                if self.seen.get((r, c), -1) > step:
                    continue
                self.seen[(r, c)] = step
                if (r, c) in items:
                    self.food[(r, c)] = items[(r, c)]
                else:
                    self.food.pop((r, c), None)

    def _hear(self, payload, radius):
        """Take in a teammate's report (a malformed one is ignored)."""
        try:
            seat, step = int(payload["me"]), int(payload["step"])
            centre = (int(payload["at"][0]), int(payload["at"][1]))
            visible = [(int(r), int(c), int(level)) for r, c, level in payload["food"]]
            call = payload.get("call")
            self.calls[seat] = None if call is None else (int(call[0]), int(call[1]))
        except (KeyError, TypeError, ValueError, IndexError):
            return
        self._merge(step, centre, radius, visible)

    # ------------------------------------------------------------ decision

    def act(self, observation, context):
        if self.size != observation["size"] or observation["step"] == 0:
            self._begin(observation)
        self.step = step = observation["step"]
        me, radius = observation["me"], observation["view_radius"]
        here = tuple(observation["positions"][me])
        self._merge(step, here, radius, observation["food"])
        for message in getattr(context, "messages", ()):
            if message.get("channel") == CHANNEL and isinstance(message.get("payload"), dict):
                self._hear(message["payload"], radius)
        moves = {action["move"] for action in context.legal_actions}
        blocked = set(self.food)
        blocked.update(tuple(p) for i, p in enumerate(observation["positions"]) if p and i != me)
        routes = self._routes(here, blocked)
        move = self._choose(me, observation["levels"][me], here, moves, routes, context.rng)
        if move not in moves:
            move = "STAY"
        if move != "LOAD":
            self.waiting = None
        self.last = (here, move)
        report = {"me": me, "step": step, "at": list(here), "food": observation["food"]}
        report["call"] = list(self.calling) if self.calling else None
        publish = getattr(context, "publish", None)
        if publish is not None:
            publish(CHANNEL, report)
        return {"move": move, "signal": 0}

    def _choose(self, me, level, here, moves, routes, rng):
        near = [cell for cell in self._around(here) if cell in self.food]
        if "LOAD" in moves and any(self.food[cell] <= level for cell in near):
            return "LOAD"
        helping = self._help_target(me)
        if helping is not None:
            if helping != self.calling:
                self.calling = None
            return self._fetch(helping, here, moves, routes, rng)
        light = [cell for cell, lv in self.food.items() if lv <= level]
        target = self._closest(light, routes)
        if target is not None:
            self.calling = None
            return self._fetch(target, here, moves, routes, rng)
        if not self._open(self.calling):
            self.calling = self._closest([c for c in self.food if self._open(c)], routes)
        if self.calling is not None:
            return self._fetch(self.calling, here, moves, routes, rng)
        return self._explore(here, moves, routes, rng)

    def _help_target(self, me):
        """The item of the lowest-seated caller this agent should help, if any.

        A caller seated above this agent, while this agent calls elsewhere, comes to
        help this one instead: two callers never wait for each other.
        """
        callers = sorted(
            (s, cell) for s, cell in self.calls.items() if s != me and self._open(cell)
        )
        if not callers:
            return None
        seat, cell = callers[0]
        return cell if seat < me or self.calling in (None, cell) else None

    def _open(self, item):
        """Whether ``item`` is known food this agent has not given up on for now."""
        return item in self.food and self.step >= self.tabu.get(item, -1) + 1

    def _fetch(self, item, here, moves, routes, rng):
        """Walk next to ``item`` and load it (giving up on heavy food nobody helps with)."""
        if item not in self._around(here):
            spots = sorted((routes[cell][0], cell) for cell in self._around(item) if cell in routes)
            if not spots:
                return self._wander(moves, rng)
            return self._walk(spots[0][1], here, moves, routes, rng)
        since = self.waiting[1] if self.waiting and self.waiting[0] == item else self.step
        self.waiting = (item, since)
        if self.step - since > PATIENCE * self.size:  # nobody came: elsewhere for a while
            self.tabu[item] = self.step + PATIENCE * self.size
            self.calling = self.waiting = None
        return "LOAD"

    def _explore(self, here, moves, routes, rng):
        def staleness(cell):
            seen = self.seen.get(cell, -1)
            return (0, routes[cell][0]) if seen < 0 else (1, routes[cell][0] + seen - self.step)

        goal = min(routes, key=lambda cell: (staleness(cell), cell))
        if goal == here:
            return self._wander(moves, rng)
        return self._walk(goal, here, moves, routes, rng)

    def _walk(self, goal, here, moves, routes, rng):
        move = routes[goal][1]
        if move not in moves or (self.last == (here, move) and rng.random() < 0.5):
            return self._wander(moves, rng)  # blocked last round: break the tie
        return move

    @staticmethod
    def _wander(moves, rng):
        steps = sorted(moves & set(DIRECTIONS))
        return rng.choice(steps) if steps else "STAY"

    # ------------------------------------------------------------ geometry

    def _around(self, cell):
        """The neighbours of ``cell`` on the grid."""
        return [near for near in self._around_all(cell) if near is not None]

    def _routes(self, here, blocked):
        """Every cell reachable from ``here``: (distance, first move on a shortest path)."""
        routes = {here: (0, None)}
        frontier = deque([here])
        while frontier:
            cell = frontier.popleft()
            distance, first = routes[cell]
            for move, cell_after in zip(DIRECTIONS, self._around_all(cell), strict=True):
                if cell_after is None or cell_after in routes or cell_after in blocked:
                    continue
                routes[cell_after] = (distance + 1, first or move)
                frontier.append(cell_after)
        return routes

    def _around_all(self, cell):
        """The four neighbours of ``cell`` in ``DIRECTIONS`` order, ``None`` off the grid."""
        return [
            (cell[0] + dr, cell[1] + dc)
            if 0 <= cell[0] + dr < self.size and 0 <= cell[1] + dc < self.size
            else None
            for dr, dc in DIRECTIONS.values()
        ]

    def _closest(self, items, routes):
        """The item with the nearest free neighbour (ties by cell), or ``None``."""
        best, best_key = None, None
        for item in items:
            reach = [routes[cell][0] for cell in self._around(item) if cell in routes]
            if reach and (best_key is None or (min(reach), item) < best_key):
                best, best_key = item, (min(reach), item)
        return best
