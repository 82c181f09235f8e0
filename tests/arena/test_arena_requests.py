"""Requests in a match: sys.* answered by the match's own tools, in order, replayed."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_arena_messaging import _agent, _package

from devspark.arena.match import MatchSpec
from devspark.arena.messaging import RECORDED_BYTES, AnsweredDecision, MatchTools
from devspark.arena.replay import Replay, messages_json, record_match, verify_replay
from devspark.core.ports import Decision
from devspark.core.results import AgentStatus
from devspark.sandbox import IsolationLevel

integration = pytest.mark.integration
"""Plays real agent processes (Python and node)."""

ROUNDS = 4
WRITE = ["bus:request:sys.memory", "memory:write:team.*"]
READ = ["bus:request:sys.*", "memory:read:team.*"]

PY_WRITER = """
def act(observation, context):
    move = "D" if observation["round"] % 2 else "C"
    answer = context.request(
        "sys.memory", {"op": "put", "space": "team.pd", "key": "move", "value": move}
    )
    context.log(f"version {answer['version']}")
    return move
"""
JS_WRITER = """
export function act(observation, context) {
  const move = observation.round % 2 ? "D" : "C";
  const answer = context.request(
    "sys.memory", { op: "put", space: "team.pd", key: "move", value: move });
  context.log(`version ${answer.version}`);
  return move;
}
"""
PY_READER = """
def act(observation, context):
    return context.request("sys.memory", {"op": "get", "space": "team.pd", "key": "move"})[
        "value"
    ] or "C"
"""
JS_READER = """
export function act(observation, context) {
  const got = context.request("sys.memory", { op: "get", space: "team.pd", key: "move" });
  return got.value ?? "C";
}
"""
SOURCES = {
    ("python", "writer"): PY_WRITER,
    ("javascript", "writer"): JS_WRITER,
    ("python", "reader"): PY_READER,
    ("javascript", "reader"): JS_READER,
}


def _seat(make_agent: Callable[..., Path], role: str, language: str, grants: list[str]) -> str:
    """An agent folder playing ``role`` (writer or reader) in ``language``."""
    return _agent(make_agent, role, language, grants, code=SOURCES[(language, role)])


def _spec(*agents: str, isolation: IsolationLevel = IsolationLevel.PROCESS) -> MatchSpec:
    return MatchSpec(
        "prisoners_dilemma", agents, seed=3, options={"rounds": ROUNDS}, isolation=isolation
    )


def _moves(replay: Replay, seat: int) -> list[Any]:
    return [step["moves"][seat]["action"] for step in replay.steps]


@integration
@pytest.mark.parametrize(("writer", "reader"), [("python", "javascript"), ("javascript", "python")])
def test_a_later_seat_reads_what_an_earlier_seat_wrote_in_the_same_round(
    make_agent: Callable[..., Path], writer: str, reader: str
) -> None:
    spec = _spec(
        _seat(make_agent, "writer", writer, WRITE), _seat(make_agent, "reader", reader, READ)
    )
    result, replay = record_match(spec)
    assert [a.status for a in result.agents] == [AgentStatus.OK, AgentStatus.OK]
    assert _moves(replay, 1) == _moves(replay, 0) == ["C", "D", "C", "D"]
    assert result.agents[0].logs == [f"version {n}" for n in range(1, ROUNDS + 1)]
    assert replay.steps[1]["requests"] == [
        {
            "agent": "player_0",
            "to": "sys.memory",
            "payload": {"op": "put", "space": "team.pd", "key": "move", "value": "D"},
            "ok": True,
            "answer": {"version": 2},
        },
        {
            "agent": "player_1",
            "to": "sys.memory",
            "payload": {"op": "get", "space": "team.pd", "key": "move"},
            "ok": True,
            "answer": {"value": "D", "version": 2},
        },
    ]
    # Every match has its own tools: a second one starts from an empty memory.
    _, again = record_match(spec)
    assert again.steps[0]["requests"][0]["answer"] == {"version": 1}


@integration
def test_replay_verify_compares_requests(make_agent: Callable[..., Path]) -> None:
    spec = _spec(
        _seat(make_agent, "writer", "python", WRITE),
        _seat(make_agent, "reader", "javascript", READ),
    )
    _, replay = record_match(spec)
    assert verify_replay(replay) == []
    tampered = replay.data | {"steps": [dict(step) for step in replay.steps]}
    changed = [dict(tampered["steps"][2]["requests"][1], answer={"value": "D", "version": 3})]
    tampered["steps"][2]["requests"] = [tampered["steps"][2]["requests"][0], *changed]
    found = verify_replay(Replay(tampered))
    assert found and found[0].startswith("step 2: requests recorded")


ASKS_EVERYTHING = """
def act(observation, context):
    asks = [
        ("sys.memory", {"op": "get", "space": "team.pd", "key": "k"}),
        ("sys.memory", {"op": "put", "space": "other.pd", "key": "k", "value": 1}),
        ("svc.echo", {"text": "hi"}),
        ("nowhere", {}),
    ]
    for to, payload in asks:
        try:
            context.request(to, payload)
            context.log(f"{to}: ok")
        except context.RequestError as exc:
            context.log(f"{to}: {exc}")
    try:
        context.submit("echo", {})
    except context.RequestError as exc:
        context.log(f"submit: {exc}")
    return "C"
"""


@integration
@pytest.mark.parametrize(
    "isolation", [IsolationLevel.TRUSTED, IsolationLevel.PROCESS, IsolationLevel.SANDBOX]
)
def test_refused_requests_are_answers_and_the_match_goes_on(
    make_agent: Callable[..., Path], isolation: IsolationLevel
) -> None:
    asker = _agent(make_agent, "asker", "python", READ, code=ASKS_EVERYTHING)
    quiet = _agent(make_agent, "reader", "python", [], code="def act(o, c):\n    return 'C'\n")
    result, replay = record_match(_spec(asker, quiet, isolation=isolation))
    assert [a.status for a in result.agents] == [AgentStatus.OK, AgentStatus.OK]
    assert result.agents[0].logs[:5] == [
        "sys.memory: ok",
        "sys.memory: the manifest grants no memory:write capability matching 'other.pd' "
        "(add e.g. memory:write:other.pd to capabilities)",
        "svc.echo: unknown target 'svc.echo': service tasks are not available here",
        "nowhere: unknown target 'nowhere' (targets here: sys.memory, sys.consensus, "
        "sys.discovery, sys.teams)",
        "submit: submit is for service agents",
    ]
    recorded = replay.steps[0]["requests"]
    assert [(r["to"], r["ok"]) for r in recorded] == [
        ("sys.memory", True),
        ("sys.memory", False),
        ("svc.echo", False),
        ("nowhere", False),
    ]


VOTER = """
def act(observation, context):
    me = context.role
    if observation["round"] == 0:
        if me == "player_0":
            proposal = context.request("sys.consensus", {
                "op": "propose", "topic": "plan", "options": ["C", "D"],
                "voters": ["player_0", "player_1"], "deadline_steps": 3,
            })
            context.log(proposal["id"])
        context.request("sys.discovery", {"op": "register", "capabilities": [me[-1]]})
        return "C"
    if observation["round"] == 1:
        result = context.request("sys.consensus", {"op": "vote", "id": "p1", "option": "D"})
        team = context.request("sys.teams", {"op": "get", "id": "t1"}) if me == "player_1" else (
            context.request("sys.teams", {"op": "form", "required": ["0", "1"]}))
        context.log(f"{result['state']} {team['members']}")
        return "C"
    return context.request("sys.consensus", {"op": "result", "id": "p1"})["winner"]
"""


@integration
def test_consensus_discovery_and_teams_between_two_agents(
    make_agent: Callable[..., Path],
) -> None:
    one = _agent(make_agent, "voter", "python", ["bus:request:sys.*"], code=VOTER)
    result, replay = record_match(_spec(one, one))
    assert [a.status for a in result.agents] == [AgentStatus.OK, AgentStatus.OK]
    assert result.agents[0].logs == ["p1", "open ['player_0', 'player_1']"]
    assert result.agents[1].logs == ["decided ['player_0', 'player_1']"]
    assert _moves(replay, 0)[2:] == _moves(replay, 1)[2:] == ["D", "D"]
    assert verify_replay(replay) == []


# --- the tools alone ----------------------------------------------------------------------


def test_match_tools_answer_in_order_and_keep_the_pairs_with_the_decision() -> None:
    tools = MatchTools(["a", "b"], [_package(WRITE), _package([])])
    assert tools.sequential

    def writes(on_request: Any) -> Decision:
        line = {"type": "request", "id": "r1", "to": "sys.memory", "timeout_ms": 9}
        on_request(line | {"payload": {"op": "put", "space": "team.x", "key": "k", "value": 1}})
        return Decision("C", elapsed_ms=3.0, published=[{"channel": "team.x", "payload": 1}])

    decision = tools.ask("a", 7, writes)
    assert isinstance(decision, AnsweredDecision)
    assert (decision.action, decision.elapsed_ms, decision.published[0]["payload"]) == ("C", 3.0, 1)
    assert decision.requests == [
        {
            "to": "sys.memory",
            "payload": {"op": "put", "space": "team.x", "key": "k", "value": 1},
            "ok": True,
            "answer": {"version": 1},
        }
    ]
    assert tools.step == 7
    plain = Decision("C")
    assert tools.ask("b", 8, lambda on_request: plain) is plain  # no requests: unchanged


def test_agents_without_request_grants_may_still_be_asked_concurrently() -> None:
    tools = MatchTools(["a", "b"], [_package(["bus:publish:team.*"]), _package([])])
    assert not tools.sequential


def test_big_or_unplain_payloads_are_recorded_by_size_and_hash_or_a_reason() -> None:
    tools = MatchTools(["a", "b"], [_package(WRITE), _package([])])
    big = "x" * RECORDED_BYTES

    def asks(on_request: Any) -> Decision:
        for value in (big, float("nan")):
            payload = {"op": "put", "space": "team.x", "key": "k", "value": value}
            on_request({"type": "request", "id": "r1", "to": "sys.memory", "payload": payload})
        return Decision("C")

    decision = tools.ask("a", 0, asks)
    [first, second] = messages_json([("a", decision)])["requests"]  # plain JSON: no raise
    assert (
        first["payload"]["omitted_bytes"] > RECORDED_BYTES and len(first["payload"]["sha256"]) == 64
    )
    assert first["ok"] is True and first["answer"] == {"version": 1}  # stored whole, 16 KiB
    not_json = "Out of range float values are not JSON compliant"
    assert second["payload"]["unrecordable"].startswith(not_json)
    assert second["ok"] is False and second["error"].startswith(f"value is not JSON: {not_json}")
