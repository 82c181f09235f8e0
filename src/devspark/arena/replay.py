"""Replays: record a match step by step, write it as JSON (optionally gzip), verify it.

A replay holds everything needed to re-run and to watch a match: the scenario id and
version, seed, options, isolation, every agent's version and content hash, per step
the moves (actor, action, status, time), the messages agents sent each other (and
how many were refused), the requests they made to the collaboration tools and the
answers, the rewards and the scenario's
``render_state()``, the agents' captured logs (capped by the runtime) and the outcome.

Format ``devspark-replay`` version 1 (documented in ``docs/replays.md``). States are
stored compactly: a full ``state`` at step 0 and every :data:`KEYFRAME_EVERY` steps,
and in between a ``delta`` holding only the top-level keys of the state that changed,
a ``patch`` with just the changed items of lists that kept their length (a maze row,
a board cell) and ``removed`` keys. A scenario whose state is a dict with its static
parts under their own keys thus stores them once.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from devspark.arena.agents import resolve_agent
from devspark.arena.match import MatchSpec, Move, run_match
from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.core.isolation import IsolationLevel
from devspark.core.ports import AgentPackage
from devspark.core.results import MatchResult
from devspark.scenarios import AnyScenario, ScenarioCore, resolve

FORMAT = "devspark-replay"
VERSION = 1
KEYFRAME_EVERY = 1000
"""Steps between two full states; the others store deltas."""

_MISSING = object()


class ReplayRecorder:
    """A :data:`~devspark.arena.match.StepRecorder` that builds a replay's steps.

    Attributes:
        initial: ``render_state()`` after reset (set by the first step).
        steps: One record per applied step.

    """

    def __init__(self) -> None:
        self.initial: Any = None
        self.steps: list[dict[str, Any]] = []
        self._last: Any = _MISSING

    def start(self, env: AnyScenario) -> None:
        """Record the state after reset (called before the first step)."""
        self.initial = plain_json(env.render_state())
        self._last = self.initial

    def __call__(self, step: int, moves: list[Move], env: AnyScenario) -> None:
        """Record one applied step."""
        if self._last is _MISSING:  # pragma: no cover - play_episode always starts first
            raise InvalidArgumentError("ReplayRecorder.start() was not called")
        record: dict[str, Any] = {"moves": moves_json(moves)}
        record.update(messages_json(moves))
        rewards = {agent: reward for agent, reward in env.rewards.items() if reward}
        if rewards:
            record["rewards"] = rewards
        state = plain_json(env.render_state())
        if (len(self.steps) + 1) % KEYFRAME_EVERY == 0 or not (
            isinstance(state, dict) and isinstance(self._last, dict)
        ):
            record["state"] = state
        else:
            record.update(_diff(self._last, state))
        self._last = state
        self.steps.append(record)


@dataclass(frozen=True, slots=True)
class Replay:
    """A replay read back from a file (or just recorded).

    Attributes:
        data: The JSON document.

    """

    data: dict[str, Any]

    @property
    def scenario_id(self) -> str:
        """Versioned scenario id, e.g. ``"connect_four-v1"``."""
        scenario = self.data["scenario"]
        if scenario["id"].startswith("pettingzoo:"):  # PettingZoo's own versioned name
            return str(scenario["id"])
        return f"{scenario['id']}-v{scenario['version']}"

    @property
    def spec(self) -> MatchSpec:
        """The match this replay recorded, ready to re-run."""
        return MatchSpec(
            scenario=self.scenario_id,
            agents=tuple(agent["ref"] for agent in self.data["agents"]),
            seed=self.data["seed"],
            options=dict(self.data["options"]),
            isolation=IsolationLevel.parse(self.data["isolation"]),
            params=_seat_params(self.data["agents"]),
        )

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The step records (moves, rewards, state or delta)."""
        steps: list[dict[str, Any]] = self.data["steps"]
        return steps

    def scenario_class(self) -> type[ScenarioCore]:
        """The registered class of the replay's scenario version (for ``render_text``)."""
        return resolve(self.scenario_id)

    def states(self) -> Iterator[Any]:
        """Full ``render_state()`` values: after reset, then after every step."""
        state = self.data["initial"]
        yield state
        for record in self.steps:
            state = record["state"] if "state" in record else _patch(state, record)
            yield state


def record_match(spec: MatchSpec) -> tuple[MatchResult, Replay]:
    """Play ``spec`` like :func:`~devspark.arena.match.run_match`, recording a replay.

    Returns:
        The result and its replay.

    Raises:
        NotFoundError: Unknown scenario or agent.
        InvalidArgumentError: An agent does not play the scenario.

    """
    packages = spec.packages()
    recorder = ReplayRecorder()
    result = run_match(spec, recorder=recorder)
    return result, Replay(replay_document(spec, result, recorder, packages))


def _seat_params(agents: Sequence[dict[str, Any]]) -> tuple[dict[str, Any] | None, ...]:
    """Per seat, the parameter values a replay recorded (``()`` when every seat had defaults)."""
    params = tuple(agent.get("params") for agent in agents)
    return params if any(value is not None for value in params) else ()


def replay_document(
    spec: MatchSpec,
    result: MatchResult,
    recorder: ReplayRecorder,
    packages: Sequence[AgentPackage],
) -> dict[str, Any]:
    """The ``devspark-replay`` document of a match played with ``recorder`` attached.

    Args:
        spec: The match as asked for.
        result: Its result.
        recorder: The recorder that saw every step.
        packages: The agents in seat order.

    """
    cls = resolve(result.scenario)
    agents = [
        {
            "seat": seat,
            "role": record.role,
            "ref": package.ref,
            "name": package.manifest.name,
            "version": package.manifest.version,
            "language": package.manifest.language,
            "sha256": package.sha256,
            "logs": record.logs,
            "stderr": record.stderr,
        }
        for seat, (package, record) in enumerate(zip(packages, result.agents, strict=True))
    ]
    for seat, agent in enumerate(agents):  # only seats given values: older replays match
        params = spec.seat_params(seat)
        if params is not None:
            agent["params"] = plain_json(params)
    return {
        "format": FORMAT,
        "version": VERSION,
        "devspark": _devspark_version(),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenario": {"id": cls.scenario_id, "version": cls.version},
        "seed": spec.seed,
        "options": plain_json(spec.options),
        "isolation": str(spec.isolation),
        "agents": agents,
        "initial": recorder.initial,
        "steps": recorder.steps,
        "outcome": _outcome(result),
    }


def moves_json(moves: Sequence[Move]) -> list[dict[str, Any]]:
    """The JSON form of a step's moves, as replays and live events carry them."""
    return [
        {
            "agent": agent,
            "action": plain_json(decision.action),
            "status": str(decision.status),
            "ms": round(decision.elapsed_ms, 3),
            **({"detail": decision.detail} if decision.detail else {}),
        }
        for agent, decision in moves
    ]


def messages_json(moves: Sequence[Move]) -> dict[str, Any]:
    """A step's routed messages for a replay record (empty when there were none).

    Returns:
        ``messages``: the accepted ones in delivery order (seat, then publish order),
        each ``{"sender", "channel", "payload", "to"}``; ``refused``: per agent, how many
        of its publishes were refused; ``requests``: the requests made during the moves
        (seat order, then the order made), each ``{"agent", "to", "payload", "ok",
        "answer" | "error"}``. Each key is absent when empty.

    """
    messages = [
        {
            "sender": agent,
            "channel": message["channel"],
            "payload": plain_json(message["payload"]),
            "to": list(message.get("to", [])),
        }
        for agent, decision in moves
        for message in decision.published
    ]
    refused = {
        agent: count
        for agent, decision in moves
        if (count := sum(int(entry.get("count", 1)) for entry in decision.bus_errors))
    }
    requests = [
        {"agent": agent, **plain_json(asked)}
        for agent, decision in moves
        for asked in getattr(decision, "requests", ())
    ]
    record: dict[str, Any] = {}
    if messages:
        record["messages"] = messages
    if refused:
        record["refused"] = refused
    if requests:
        record["requests"] = requests
    return record


def write_replay(replay: Replay, path: Path) -> int:
    """Write ``replay`` as JSON, gzip-compressed when ``path`` ends in ``.gz``.

    Returns:
        The number of bytes written.

    """
    text = json.dumps(replay.data, separators=(",", ":"), allow_nan=False).encode()
    if path.suffix == ".gz":
        text = gzip.compress(text, compresslevel=6, mtime=0)
    path.write_bytes(text)
    return len(text)


def load_replay(path: Path) -> Replay:
    """Read a replay file (JSON, or gzip-compressed JSON; detected by content).

    Raises:
        NotFoundError: No such file.
        InvalidArgumentError: Not a replay, or a format version this DevSpark cannot read;
            the message names what is wrong.

    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"replay {str(path)!r}: no such file") from None
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        data = json.loads(raw)
    except (OSError, EOFError, ValueError) as exc:
        raise InvalidArgumentError(f"replay {str(path)!r} is not JSON or gzip JSON: {exc}") from exc
    _check_document(data, path)
    return Replay(data)


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "scenario": dict,
    "seed": int,
    "options": dict,
    "isolation": str,
    "agents": list,
    "steps": list,
    "outcome": dict,
}


def _check_document(data: Any, path: Path) -> None:
    where = f"replay {str(path)!r}"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidArgumentError(f"{where}: not a DevSpark replay (format is not {FORMAT!r})")
    if data.get("version") != VERSION:
        raise InvalidArgumentError(
            f"{where}: format version {data.get('version')!r} is not supported "
            f"(this DevSpark reads version {VERSION})"
        )
    for key, kind in _REQUIRED.items():
        if not isinstance(data.get(key), kind):
            raise InvalidArgumentError(f"{where}: field {key!r} is missing or malformed")
    scenario = data["scenario"]
    if not isinstance(scenario.get("id"), str) or not isinstance(scenario.get("version"), int):
        raise InvalidArgumentError(f"{where}: field 'scenario' needs a string id and int version")
    for index, agent in enumerate(data["agents"]):
        if not isinstance(agent, dict) or not isinstance(agent.get("ref"), str):
            raise InvalidArgumentError(f"{where}: agents[{index}] has no 'ref'")


def verify_replay(replay: Replay, *, sources: Mapping[str, str] | None = None) -> list[str]:
    """Re-run the match of ``replay`` and compare it step by step.

    Deterministic agents with seeded generators reproduce their match exactly;
    timings and logs are not compared.

    Args:
        replay: The replay to re-run.
        sources: Reference -> folder for agents whose reference does not resolve here
            (an uploaded ``agent:USER/NAME@VERSION``).

    Returns:
        Human-readable differences, empty when the re-run matches.

    Raises:
        NotFoundError: The scenario or an agent no longer exists.

    """
    differences: list[str] = []
    folders = dict(sources or {})
    for agent in replay.data["agents"]:
        current = resolve_agent(agent["ref"], source=folders.get(agent["ref"])).sha256
        if agent.get("sha256") and current != agent["sha256"]:
            differences.append(
                f"agent {agent['ref']!r} changed since recording "
                f"(sha256 {agent['sha256'][:12]} -> {current[:12]})"
            )
    spec = replay.spec
    if folders:
        spec = dataclasses.replace(spec, sources=tuple(folders.get(ref, "") for ref in spec.agents))
    _, again = record_match(spec)
    if replay.scenario_id != again.scenario_id:
        differences.append(f"scenario {replay.scenario_id} re-ran as {again.scenario_id}")
    first, second = replay.steps, again.steps
    if len(first) != len(second):
        differences.append(f"{len(first)} steps recorded, {len(second)} on re-run")
    states = zip(replay.states(), again.states(), strict=False)
    initial_a, initial_b = next(states)
    if initial_a != initial_b:
        differences.append("the initial state differs")
    for index, (a, b, (state_a, state_b)) in enumerate(zip(first, second, states, strict=False)):
        found = _step_differences(index, a, b, state_a, state_b)
        differences.extend(found)
        if found:
            break
    outcome_a = _comparable_outcome(replay.data["outcome"])
    outcome_b = _comparable_outcome(again.data["outcome"])
    if outcome_a != outcome_b:
        differences.append(f"outcome differs: recorded {outcome_a}, re-run {outcome_b}")
    return differences


def _step_differences(
    index: int, a: dict[str, Any], b: dict[str, Any], state_a: Any, state_b: Any
) -> list[str]:
    found = []
    moves_a = [(m["agent"], m["action"], m["status"]) for m in a["moves"]]
    moves_b = [(m["agent"], m["action"], m["status"]) for m in b["moves"]]
    if moves_a != moves_b:
        found.append(f"step {index}: moves recorded {moves_a}, re-run {moves_b}")
    if a.get("messages", []) != b.get("messages", []):
        found.append(
            f"step {index}: messages recorded {str(a.get('messages', []))[:300]}, "
            f"re-run {str(b.get('messages', []))[:300]}"
        )
    if a.get("requests", []) != b.get("requests", []):
        found.append(
            f"step {index}: requests recorded {str(a.get('requests', []))[:300]}, "
            f"re-run {str(b.get('requests', []))[:300]}"
        )
    if a.get("refused", {}) != b.get("refused", {}):
        found.append(
            f"step {index}: refused messages recorded {a.get('refused', {})}, "
            f"re-run {b.get('refused', {})}"
        )
    if a.get("rewards", {}) != b.get("rewards", {}):
        found.append(
            f"step {index}: rewards recorded {a.get('rewards')}, re-run {b.get('rewards')}"
        )
    if state_a != state_b:
        found.append(f"step {index}: the state after the step differs")
    return found


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The delta from ``old`` to ``new``: changed keys, and changed items of long lists.

    A list that kept its length and changed in under half its items (a grid row, a
    board cell) is stored as ``patch[key] = {index: item}``; other changed values go to
    ``delta`` whole; keys that disappeared go to ``removed``.
    """
    delta: dict[str, Any] = {}
    patch: dict[str, dict[str, Any]] = {}
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if before == value:
            continue
        if isinstance(value, list) and isinstance(before, list) and len(value) == len(before) > 4:
            items = {
                str(i): v for i, (a, v) in enumerate(zip(before, value, strict=True)) if a != v
            }
            if len(items) * 2 < len(value):
                patch[key] = items
                continue
        delta[key] = value
    record: dict[str, Any] = {"delta": delta}
    if patch:
        record["patch"] = patch
    removed = [key for key in old if key not in new]
    if removed:
        record["removed"] = removed
    return record


def _patch(state: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """Apply a :func:`_diff` record to ``state`` (a new dict; ``state`` is unchanged)."""
    state = {**state, **record["delta"]}
    for key, items in record.get("patch", {}).items():
        value = list(state[key])
        for index, item in items.items():
            value[int(index)] = item
        state[key] = value
    for key in record.get("removed", ()):
        state.pop(key, None)
    return state


def _outcome(result: MatchResult) -> dict[str, Any]:
    return {
        "steps": result.steps,
        "wall_ms": round(result.wall_ms, 3),
        "agents": [
            {**record.public(), "role": record.role, "detail": record.detail}
            for record in result.agents
        ],
    }


def _comparable_outcome(outcome: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (a["role"], a["agent"], a["status"], a["reward"], a["moves"]) for a in outcome["agents"]
    ]


def plain_json(value: Any) -> Any:
    """``value`` as plain JSON (numpy values become lists and numbers; NaN is refused)."""
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"cannot store non-finite number {value!r} in a replay")
        return value
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    if hasattr(value, "tolist"):
        return plain_json(value.tolist())
    raise InvalidArgumentError(f"cannot store {type(value).__name__} in a replay")


def _devspark_version() -> str:
    try:
        return metadata.version("devspark")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"
