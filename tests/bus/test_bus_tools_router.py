"""ToolRouter: request lines for sys.* answered from the tools, capabilities checked."""

from pathlib import Path
from typing import Any

import pytest

from devspark.bus.tools import OPS, Consensus, ToolRouter

ALL = [
    "bus:request:sys.*",
    "memory:read:team.*",
    "memory:write:team.*",
]
GRANTS = {
    "ada": ALL,
    "bob": ["bus:request:sys.memory", "memory:read:team.*"],
    "eve": ["memory:read:team.*", "memory:write:team.*"],  # may not request at all
}


def router() -> ToolRouter:
    return ToolRouter(GRANTS.__getitem__)


def ask(tools: ToolRouter, who: str, to: str, **payload: Any) -> dict[str, Any]:
    answer = tools.answer(who, {"type": "request", "id": "r1", "to": to, "payload": payload})
    assert set(answer) == ({"ok", "payload"} if answer["ok"] else {"ok", "error"})
    return answer


def test_memory_put_get_and_compare_and_set() -> None:
    tools = router()
    put = ask(tools, "ada", "sys.memory", op="put", space="team.red", key="goal", value=[3, 4])
    assert put == {"ok": True, "payload": {"version": 1}}
    got = ask(tools, "bob", "sys.memory", op="get", space="team.red", key="goal")
    assert got["payload"] == {"value": [3, 4], "version": 1}
    stale = ask(
        tools,
        "ada",
        "sys.memory",
        op="put",
        space="team.red",
        key="goal",
        value=0,
        expected_version=0,
    )
    assert stale == {
        "ok": False,
        "error": "version conflict on team.red/goal: expected version 0, current version 1",
    }
    keys = ask(tools, "bob", "sys.memory", op="keys", space="team.red")
    assert keys["payload"] == {"keys": ["goal"]}
    deleted = ask(tools, "ada", "sys.memory", op="delete", space="team.red", key="goal")
    assert deleted["payload"] == {"deleted": True}
    missing = ask(tools, "bob", "sys.memory", op="get", space="team.red", key="goal")
    assert missing["payload"] == {"value": None, "version": 0}


@pytest.mark.parametrize(
    ("who", "to", "payload", "error"),
    [
        ("eve", "sys.memory", {"op": "get", "space": "team.x", "key": "k"},
         "grants no bus:request capability matching 'sys.memory'"),
        ("bob", "sys.consensus", {"op": "result", "id": "p1"},
         "grants no bus:request capability matching 'sys.consensus'"),
        ("bob", "sys.memory", {"op": "put", "space": "team.x", "key": "k", "value": 1},
         "grants no memory:write capability matching 'team.x'"),
        ("ada", "sys.memory", {"op": "get", "space": "secret.x", "key": "k"},
         "grants no memory:read capability matching 'secret.x'"),
        ("ada", "sys.memory", {"op": "fetch"}, "op 'fetch' is not one of ['get', 'put', 'delete', 'keys']"),
        ("ada", "sys.memory", {"op": "put", "space": "team.x", "key": "k"}, "put needs value"),
        ("ada", "sys.teams", {"op": "get", "id": 3}, "id 3 must be a string"),
        ("ada", "sys.nothing", {"op": "get"}, "unknown target 'sys.nothing'"),
        ("ada", "svc.echo", {}, "service tasks are not available here"),
    ],
)  # fmt: skip
def test_refusals_are_answers_that_say_why(
    who: str, to: str, payload: dict[str, Any], error: str
) -> None:
    answer = ask(router(), who, to, **payload)
    assert answer["ok"] is False and error in answer["error"]


def test_a_payload_that_is_not_an_object_and_submit_are_refused() -> None:
    tools = router()
    line = {"type": "request", "id": "r1", "to": "sys.memory", "payload": [1]}
    assert tools.answer("ada", line) == {
        "ok": False,
        "error": "sys.memory: payload must be an object with an op",
    }
    submit = {"type": "submit", "id": "s1", "task_type": "echo", "payload": 1}
    assert tools.handler("ada")(submit) == {"ok": False, "error": "submit is for service agents"}


def test_other_targets_go_to_the_fallback() -> None:
    seen: list[dict[str, Any]] = []

    def fallback(line: dict[str, Any]) -> dict[str, Any]:
        seen.append(line)
        return {"ok": True, "payload": "from a service"}

    tools = ToolRouter(GRANTS.__getitem__, fallback=fallback)
    assert ask(tools, "ada", "svc.echo", text="hi")["payload"] == "from a service"
    assert seen[0]["to"] == "svc.echo"


def test_consensus_through_requests_with_a_deadline() -> None:
    now = [0.0]  # the clock: one step per unit
    tools = ToolRouter(
        lambda who: ALL,
        consensus=Consensus(lambda: now[0]),
        deadline_field="deadline_steps",
        deadline_scale=1,
    )
    opened = ask(
        tools, "a", "sys.consensus", op="propose", topic="plan", options=["x", "y"],
        voters=["a", "b", "c"], deadline_steps=3,
    )  # fmt: skip
    assert opened["payload"]["id"] == "p1" and opened["payload"]["deadline"] == 3
    assert opened["payload"]["proposer"] == "a"
    assert ask(tools, "a", "sys.consensus", op="vote", id="p1", option="x")["ok"]
    decided = ask(tools, "b", "sys.consensus", op="vote", id="p1", option="x")["payload"]
    assert (decided["state"], decided["winner"], decided["tally"]) == (
        "decided",
        "x",
        {"x": 2, "y": 0},
    )
    late = ask(tools, "a", "sys.consensus", op="propose", topic="t", options=["x", "y"],
               voters=["a", "b"], deadline_steps=2)  # fmt: skip
    now[0] = 2
    assert (
        ask(tools, "a", "sys.consensus", op="result", id=late["payload"]["id"])["payload"]["state"]
        == "no_decision"
    )
    missing = ask(tools, "a", "sys.consensus", op="propose", topic="t", options=["x", "y"])
    assert missing["error"] == "sys.consensus propose needs deadline_steps > 0, got None"


def test_discovery_and_teams_through_requests() -> None:
    tools = ToolRouter(lambda who: ["bus:request:sys.*"])
    ask(tools, "scout", "sys.discovery", op="register", capabilities=["scout"], info={"x": 1})
    ask(tools, "lifter", "sys.discovery", op="register", capabilities=["lift"])
    found = ask(tools, "anyone", "sys.discovery", op="find", capability="lift")
    assert found["payload"] == {
        "members": [{"member": "lifter", "capabilities": ["lift"], "info": None}]
    }
    team = ask(tools, "scout", "sys.teams", op="form", required=["scout", "lift"])["payload"]
    assert team == {
        "id": "t1",
        "required": ["scout", "lift"],
        "members": ["lifter", "scout"],
        "covers": {"scout": "scout", "lift": "lifter"},
        "formed_by": "scout",
    }
    assert ask(tools, "anyone", "sys.teams", op="list")["payload"]["teams"][0]["id"] == "t1"
    refused = ask(tools, "outsider", "sys.teams", op="dissolve", id="t1")
    assert refused["error"] == "only the members of team t1 may dissolve it"
    assert ask(tools, "lifter", "sys.teams", op="dissolve", id="t1")["ok"]
    assert ask(tools, "lifter", "sys.discovery", op="unregister")["payload"] == {"removed": True}
    members = ask(tools, "x", "sys.discovery", op="list")["payload"]["members"]
    assert [m["member"] for m in members] == ["scout"]


def test_every_op_is_documented() -> None:
    text = (Path(__file__).parents[2] / "docs" / "collaboration.md").read_text()
    for target, ops in OPS.items():
        assert f'context.request("{target}"' in text or f"`{target}`" in text
        for op in ops:
            assert f'"op": "{op}"' in text, (target, op)
