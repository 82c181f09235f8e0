"""Messages between agents in a match: routed by the host, granted by the manifest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devspark.arena.match import MatchSpec
from devspark.arena.messaging import MatchBus, granted
from devspark.arena.replay import record_match, verify_replay
from devspark.core.manifest import parse_manifest
from devspark.core.ports import AgentPackage, Decision
from devspark.core.results import AgentStatus, MatchResult
from devspark.sandbox import IsolationLevel
from devspark.sandbox.worker import MAX_PUBLISH_PER_MOVE

integration = pytest.mark.integration
"""Plays real agent processes (Python and node)."""

PROCESS = IsolationLevel.PROCESS
ROUNDS = 4
TELL = ["bus:publish:team.*"]
LISTEN = ["bus:subscribe:team.*"]

PY_TELLER = """
def act(observation, context):
    context.publish("team.x", {"move": "D", "round": observation["round"]})
    return "D"
"""
JS_TELLER = """
export function act(observation, context) {
  context.publish("team.x", { move: "D", round: observation.round });
  return "D";
}
"""
PY_LISTENER = """
heard = []

def on_message(message, context):
    heard.append(message["payload"]["move"])

def act(observation, context):
    assert [m["payload"]["move"] for m in context.messages] == heard
    move = heard[-1] if heard else "C"
    heard.clear()
    return move
"""
JS_LISTENER = """
const heard = [];
export function on_message(message, context) { heard.push(message.payload.move); }
export function act(observation, context) {
  const told = context.messages.map((m) => m.payload.move);
  if (JSON.stringify(told) !== JSON.stringify(heard)) throw new Error("hook and list differ");
  const move = heard.length ? heard[heard.length - 1] : "C";
  heard.length = 0;
  return move;
}
"""
SOURCES = {
    ("python", "teller"): PY_TELLER,
    ("javascript", "teller"): JS_TELLER,
    ("python", "listener"): PY_LISTENER,
    ("javascript", "listener"): JS_LISTENER,
}


def _agent(
    make_agent: Callable[..., Path],
    role: str,
    language: str,
    capabilities: list[str],
    *,
    code: str | None = None,
) -> str:
    folder = make_agent(
        code or SOURCES[(language, role)],
        name=f"{role}-{language}-{len(capabilities)}",
        language=language,
        scenarios=("prisoners_dilemma",),
        extra={"capabilities": capabilities},
    )
    return str(folder)


def _play(*agents: str) -> tuple[MatchResult, list[dict[str, Any]]]:
    spec = MatchSpec(
        "prisoners_dilemma", agents, seed=5, options={"rounds": ROUNDS}, isolation=PROCESS
    )
    result, replay = record_match(spec)
    return result, replay.steps


def _moves(steps: list[dict[str, Any]], seat: int) -> list[Any]:
    return [step["moves"][seat]["action"] for step in steps]


@integration
@pytest.mark.parametrize(
    ("teller", "listener"),
    [("python", "javascript"), ("javascript", "python"), ("python", "python")],
)
def test_a_subscriber_acts_on_what_the_publisher_told_it(
    make_agent: Callable[..., Path], teller: str, listener: str
) -> None:
    told = _agent(make_agent, "teller", teller, TELL)
    hears = _agent(make_agent, "listener", listener, LISTEN)
    deaf = _agent(make_agent, "listener", listener, [])

    result, steps = _play(told, hears)
    assert [a.status for a in result.agents] == [AgentStatus.OK, AgentStatus.OK]
    assert _moves(steps, 1) == ["C"] + ["D"] * (ROUNDS - 1)  # round 0 heard nothing yet
    assert steps[0]["messages"] == [
        {
            "sender": "player_0",
            "channel": "team.x",
            "payload": {"move": "D", "round": 0},
            "to": ["player_1"],
        }
    ]
    assert result.agents[0].messages_sent == ROUNDS and result.agents[0].messages_refused == 0

    result, steps = _play(told, deaf)  # no bus:subscribe: never receives anything
    assert _moves(steps, 1) == ["C"] * ROUNDS
    assert all(step["messages"][0]["to"] == [] for step in steps)


@integration
def test_a_publish_without_the_capability_is_refused_and_reported(
    make_agent: Callable[..., Path],
) -> None:
    errors_seen = """
def act(observation, context):
    if context.bus_errors:
        context.log(f"refused {context.bus_errors[0]['count']} {context.bus_errors[0]['error']}")
    context.publish("team.x", {"move": "D"})
    return "D"
"""
    ungranted = _agent(make_agent, "teller", "python", [], code=errors_seen)
    hears = _agent(make_agent, "listener", "javascript", LISTEN)
    result, steps = _play(ungranted, hears)
    teller = result.agents[0]
    assert teller.status is AgentStatus.OK and result.agents[1].status is AgentStatus.OK
    assert (teller.messages_sent, teller.messages_refused) == (0, ROUNDS)
    assert _moves(steps, 1) == ["C"] * ROUNDS
    assert all(step["refused"] == {"player_0": 1} and "messages" not in step for step in steps)
    assert len(teller.logs) == ROUNDS - 1
    assert all(
        line.startswith("refused 1 the manifest grants no bus:publish") for line in teller.logs
    )


@integration
@pytest.mark.parametrize("language", ["python", "javascript"])
def test_a_flood_of_messages_is_cut_at_the_limit_and_the_match_goes_on(
    make_agent: Callable[..., Path], language: str
) -> None:
    flood = {
        "python": """
def act(observation, context):
    for error in context.bus_errors:
        context.log(f"{error['count']} {error['error']}")
    for index in range(1000):
        context.publish("team.x", {"move": "D", "index": index})
    return "D"
""",
        "javascript": """
export function act(observation, context) {
  for (const error of context.bus_errors) context.log(`${error.count} ${error.error}`);
  for (let index = 0; index < 1000; index++) context.publish("team.x", { move: "D", index });
  return "D";
}
""",
    }[language]
    flooder = _agent(make_agent, "teller", language, TELL, code=flood)
    hears = _agent(make_agent, "listener", "python", LISTEN)
    result, steps = _play(flooder, hears)
    assert [a.status for a in result.agents] == [AgentStatus.OK, AgentStatus.OK]
    refused = 1000 - MAX_PUBLISH_PER_MOVE
    assert result.agents[0].messages_sent == MAX_PUBLISH_PER_MOVE * ROUNDS
    assert result.agents[0].messages_refused == refused * ROUNDS
    assert [m["payload"]["index"] for m in steps[0]["messages"]] == list(range(32))
    assert result.agents[0].logs == [f"{refused} more than 32 messages in one move"] * (ROUNDS - 1)
    assert _moves(steps, 1) == ["C"] + ["D"] * (ROUNDS - 1)


@integration
def test_an_oversized_payload_is_refused_not_a_fault(make_agent: Callable[..., Path]) -> None:
    big = """
def act(observation, context):
    context.publish("team.x", "x" * (2 << 20))  # over the line cap: skipped by the host
    context.publish("team.x", "y" * 20000)  # over the payload cap
    context.publish("team.x", {"move": "D"})
    return "D"
"""
    teller = _agent(make_agent, "teller", "python", TELL, code=big)
    hears = _agent(make_agent, "listener", "python", LISTEN)
    result, steps = _play(teller, hears)
    assert [a.status for a in result.agents] == [AgentStatus.OK, AgentStatus.OK]
    assert (result.agents[0].messages_sent, result.agents[0].messages_refused) == (
        ROUNDS,
        2 * ROUNDS,
    )
    assert _moves(steps, 1) == ["C"] + ["D"] * (ROUNDS - 1)


@integration
def test_replay_verify_reproduces_a_match_with_messages(make_agent: Callable[..., Path]) -> None:
    told = _agent(make_agent, "teller", "javascript", TELL)
    hears = _agent(make_agent, "listener", "python", LISTEN)
    spec = MatchSpec(
        "prisoners_dilemma", (told, hears), seed=9, options={"rounds": ROUNDS}, isolation=PROCESS
    )
    _, replay = record_match(spec)
    assert sum(len(step.get("messages", [])) for step in replay.steps) == ROUNDS
    assert verify_replay(replay) == []
    tampered = replay.data | {"steps": [dict(step) for step in replay.steps]}
    tampered["steps"][1]["messages"] = [{**tampered["steps"][1]["messages"][0], "payload": 0}]
    found = verify_replay(type(replay)(tampered))
    assert found and found[0].startswith("step 1: messages recorded")


# --- the router alone -------------------------------------------------------------------


def _package(capabilities: list[str]) -> AgentPackage:
    manifest = parse_manifest(
        {
            "name": "bot",
            "version": "1.0.0",
            "language": "python",
            "entrypoint": "agent.py",
            "license": "MIT",
            "scenarios": ["foraging"],
            "capabilities": capabilities,
        }
    )
    return AgentPackage("bot", Path("."), manifest, "0" * 64)


def test_routing_order_is_step_then_seat_then_publish_order() -> None:
    names = ["a", "b", "c"]
    bus = MatchBus(names, [_package(TELL + LISTEN), _package(TELL), _package(LISTEN)])
    said = [{"channel": "team.x", "payload": n} for n in range(2)]
    moves = [
        ("c", Decision("x", published=[{"channel": "team.x", "payload": "c"}])),
        ("b", Decision("x", published=[dict(m) for m in said])),
        ("a", Decision("x", published=[{"channel": "team.y", "payload": "a"}])),
    ]
    bus.route(moves)
    inbox_c, errors_c = bus.take("c")
    assert [(m["sender"], m["payload"]) for m in inbox_c] == [("a", "a"), ("b", 0), ("b", 1)]
    assert [(e["channel"], e["count"]) for e in errors_c] == [("team.x", 1)]
    inbox_a, _ = bus.take("a")
    assert [(m["sender"], m["payload"]) for m in inbox_a] == [("b", 0), ("b", 1)]
    assert bus.take("b") == ([], [])  # no subscribe grant
    assert bus.refused == {"a": 0, "b": 0, "c": 1}
    assert bus.take("c") == ([], [])  # taken once


def test_invalid_channels_are_refused() -> None:
    bus = MatchBus(["a", "b"], [_package(["bus:publish:*"]), _package(["bus:subscribe:*"])])
    decision = Decision("x", published=[{"channel": "bad..name", "payload": 1}])
    bus.route([("a", decision)])
    _, errors = bus.take("a")
    assert errors[0]["channel"] == "bad..name" and "bad token" in errors[0]["error"]
    assert bus.take("b") == ([], [])


def test_granted_reads_patterns() -> None:
    capabilities = ["bus:publish:team.*", "net:loopback", "bus:subscribe:svc.x"]
    assert granted(capabilities, "bus:publish:") == ["team.*"]
    assert granted(capabilities, "bus:subscribe:") == ["svc.x"]


def test_trusted_agents_talk_with_the_same_names(make_agent: Callable[..., Path]) -> None:
    told = _agent(make_agent, "teller", "python", TELL)
    hears = _agent(make_agent, "listener", "python", LISTEN)
    spec = MatchSpec(
        "prisoners_dilemma",
        (told, hears),
        seed=5,
        options={"rounds": ROUNDS},
        isolation=IsolationLevel.TRUSTED,
    )
    result, replay = record_match(spec)
    assert [a.status for a in result.agents] == [AgentStatus.OK, AgentStatus.OK]
    assert _moves(replay.steps, 1) == ["C"] + ["D"] * (ROUNDS - 1)
    assert result.agents[0].messages_sent == ROUNDS
