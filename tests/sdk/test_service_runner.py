"""Both runners' service side, on the wire: tasks, progress, blocking requests and submits.

The host's end is played by hand (no sandbox), as in test_js_runner.py, so the exact
lines are checked and the two runners are held to the same behaviour.
"""

from __future__ import annotations

import pytest
from test_js_runner import Runner, hello, observe, spawn

__all__ = ["spawn"]  # the fixture, used by name

AGENTS = {
    "agent.py": """
        def on_message(message, context):
            context.log("heard " + str(message["body"]))

        def act(observation, context):
            try:
                return {"answer": context.request("sys.memory", observation, timeout_ms=50)}
            except context.RequestError as exc:
                return {"refused": str(exc)}

        def handle(task, context):
            context.progress({"at": "start", "id": context.task_id})
            if task["payload"] == "fail":
                raise KeyError("nope")
            if task["payload"] == "nan":
                return float("nan")
            sub = context.submit("echo", task["payload"], to="i-1", timeout_ms=70)
            return {"type": task["type"], "sub": sub, "left": context.time_left_ms > 0}
        """,
    "agent.mjs": """
        export function on_message(message, context) { context.log("heard " + message.body); }

        export function act(observation, context) {
          try {
            return { answer: context.request("sys.memory", observation, 50) };
          } catch (error) {
            if (!(error instanceof context.RequestError)) throw error;
            return { refused: error.message };
          }
        }

        export async function handle(task, context) {
          context.progress({ at: "start", id: context.task_id });
          if (task.payload === "fail") throw new Error("nope");
          if (task.payload === "nan") return NaN;
          const sub = context.submit("echo", task.payload, "i-1", 70);
          return { type: task.type, sub, left: context.time_left_ms > 0 };
        }
        """,
}
ENTRIES = list(AGENTS)


def task(payload: object, ident: str = "t1") -> dict[str, object]:
    return {
        "type": "task",
        "id": ident,
        "task_type": "demo",
        "payload": payload,
        "deadline_ms": 500,
    }


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_request_blocks_and_lines_that_arrive_meanwhile_wait(spawn, entry: str) -> None:
    runner: Runner = spawn(AGENTS[entry], entry)
    hello(runner)
    runner.send(observe(0, {"key": "k"}))
    request = runner.recv()
    assert request == {
        "type": "request",
        "id": "r1",
        "to": "sys.memory",
        "timeout_ms": 50,
        "payload": {"key": "k"},
    }
    runner.send({"type": "message", "body": "early"})  # kept until the move is over
    runner.send({"type": "response", "id": "r1", "ok": True, "payload": [1, 2]})
    assert runner.recv() == {"type": "action", "step": 0, "action": {"answer": [1, 2]}}
    assert runner.recv()["message"] == "heard early"
    runner.send(observe(1, None))
    assert runner.recv()["id"] == "r2"
    runner.send({"type": "response", "id": "r2", "ok": False, "error": "unknown target"})
    assert runner.recv()["action"] == {"refused": "unknown target"}
    assert runner.finish() == (0, b"")


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_task_streams_progress_submits_and_answers(spawn, entry: str) -> None:
    runner: Runner = spawn(AGENTS[entry], entry)
    hello(runner)
    runner.send(task({"n": 1}))
    assert runner.recv() == {"type": "progress", "id": "t1", "data": {"at": "start", "id": "t1"}}
    submit = runner.recv()
    assert submit == {
        "type": "submit",
        "id": "s1",
        "task_type": "echo",
        "to": "i-1",
        "timeout_ms": 70,
        "payload": {"n": 1},
    }
    runner.send({"type": "response", "id": "s1", "ok": True, "payload": {"n": 1}})
    result = runner.recv()
    assert result == {
        "type": "task_result",
        "id": "t1",
        "ok": True,
        "result": {"type": "demo", "sub": {"n": 1}, "left": True},
    }
    assert runner.finish() == (0, b"")


@pytest.mark.parametrize("entry", ENTRIES)
def test_task_failures_are_task_results(spawn, entry: str) -> None:
    runner: Runner = spawn(AGENTS[entry], entry)
    hello(runner)
    runner.send(task("fail"))
    assert runner.recv()["type"] == "progress"
    failed = runner.recv()
    assert (failed["type"], failed["id"], failed["ok"], failed["kind"]) == (
        "task_result",
        "t1",
        False,
        "exception",
    )
    assert "nope" in failed["error"]
    runner.send(task("nan", "t2"))
    assert runner.recv()["type"] == "progress"
    nan = runner.recv()
    assert (nan["id"], nan["ok"]) == ("t2", False)
    assert nan["error"].startswith("the result is not JSON")
    assert runner.finish() == (0, b"")


@pytest.mark.parametrize("entry", ENTRIES)
def test_progress_outside_a_task_is_not_sent(spawn, entry: str) -> None:
    source = (
        "def act(observation, context):\n    context.progress(1)\n    return context.task_id\n"
        if entry == "agent.py"
        else "export function act(o, context) { context.progress(1); return context.task_id; }\n"
    )
    runner: Runner = spawn(source, entry)
    hello(runner)
    assert runner.ask(observe(0)) == {"type": "action", "step": 0, "action": None}
    runner.send(task(None))
    assert runner.recv() == {
        "type": "task_result",
        "id": "t1",
        "ok": False,
        "error": "agent has no handle()",
    }
    assert runner.finish() == (0, b"")
