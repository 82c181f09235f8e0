"""Host-carried requests in a move and service tasks (``ProcessWorker.serve``), both SDKs.

Real agent processes at the ``process`` level (one test also in the ``sandbox``); the
trusted twin at the end. Hostile service agents live in tests/security.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devspark.arena.agents import resolve_agent
from devspark.core.errors import InvalidArgumentError
from devspark.core.lifecycle import LifecycleState
from devspark.core.ports import AgentPackage, TaskOutcome
from devspark.core.results import AgentStatus
from devspark.sandbox import IsolationLevel, ProcessWorker, TrustedWorker, open_service
from devspark.sandbox.worker import MAX_PROGRESS, MAX_REQUESTS

pytestmark = pytest.mark.integration

S = LifecycleState
BOARD = {"board": [0] * 9, "mark": 1}
LEGAL = list(range(9))
LANGUAGES = ["python", "javascript"]

ASKER = {
    "python": """
        def act(observation, context):
            answers = []
            for call in observation["calls"]:
                try:
                    if call[0] == "request":
                        answers.append(context.request(call[1], call[2], timeout_ms=5000))
                    else:
                        answers.append(context.submit(call[1], call[2]))
                except context.RequestError as exc:
                    answers.append("refused: " + str(exc))
            return answers
        """,
    "javascript": """
        export function act(observation, context) {
          const answers = [];
          for (const [kind, target, payload] of observation.calls) {
            try {
              answers.push(kind === "request"
                ? context.request(target, payload, 5000)
                : context.submit(target, payload));
            } catch (error) {
              if (!(error instanceof context.RequestError)) throw error;
              answers.push(`refused: ${error.message}`);
            }
          }
          return answers;
        }
        """,
}

SERVICE = {
    "python": """
        import os
        import time

        def handle(task, context):
            payload = task["payload"]
            action = payload.get("do")
            context.log(f"task {context.task_id} {task['type']}")
            if action == "raise":
                raise ValueError("bad task on purpose")
            if action == "sleep":
                time.sleep(60)
            if action == "exit":
                os._exit(3)
            if action == "progress":
                for step in range(payload["steps"]):
                    context.progress({"step": step})
            if action == "ask":
                sub = context.submit("echo", {"n": 1})
                other = context.request("svc.echo", {"n": 2}, timeout_ms=60000)
                return {"sub": sub, "other": other, "left": context.time_left_ms}
            return {"echo": payload, "id": context.task_id}
        """,
    "javascript": """
        export function handle(task, context) {
          const payload = task.payload;
          context.log(`task ${context.task_id} ${task.type}`);
          if (payload.do === "raise") throw new Error("bad task on purpose");
          if (payload.do === "sleep") { for (;;) {} }
          if (payload.do === "exit") process.exit(3);
          if (payload.do === "progress") {
            for (let step = 0; step < payload.steps; step++) context.progress({ step });
          }
          if (payload.do === "ask") {
            const sub = context.submit("echo", { n: 1 });
            const other = context.request("svc.echo", { n: 2 }, 60000);
            return { sub, other, left: context.time_left_ms };
          }
          return { echo: payload, id: context.task_id };
        }
        """,
}


@pytest.fixture
def workers() -> Iterator[list[ProcessWorker]]:
    started: list[ProcessWorker] = []
    yield started
    for worker in started:
        worker.close()


@pytest.fixture
def open_agent(
    workers: list[ProcessWorker], make_agent: Callable[..., Path]
) -> Callable[..., ProcessWorker]:
    def open_(
        source: str | None = None,
        language: str = "python",
        *,
        ref: str | None = None,
        level: IsolationLevel = IsolationLevel.PROCESS,
    ) -> ProcessWorker:
        if ref is None:
            assert source is not None
            ref = str(make_agent(source, name=f"agent{len(workers)}", language=language))
        worker = ProcessWorker(resolve_agent(ref), level=level, seed=1)
        workers.append(worker)
        return worker

    return open_


class Host:
    """Records what a worker asked the host; answers like a tiny ``svc.*`` router."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.progress: list[Any] = []

    def answer(self, line: dict[str, Any]) -> dict[str, Any]:
        self.lines.append(line)
        if line.get("to") == "sys.nowhere":
            return {"ok": False, "error": "unknown target"}
        return {"ok": True, "payload": {"got": line.get("payload"), "type": line["type"]}}

    def serve(self, worker: ProcessWorker | TrustedWorker, payload: Any, **kw: Any) -> TaskOutcome:
        task = {"id": kw.pop("task_id", "t1"), "type": kw.pop("type", "demo"), "payload": payload}
        timeout_ms = kw.pop("timeout_ms", 5000)
        return worker.serve(
            task, timeout_ms=timeout_ms, on_progress=self.progress.append, on_request=self.answer
        )


def start_episode(worker: ProcessWorker) -> None:
    worker.reset(episode=0, scenario="tictactoe-v1", role="player_0", seed=5, config={})


# --- requests during a move ------------------------------------------------------------
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_request_in_a_move_is_answered_through_on_request(
    open_agent: Callable[..., ProcessWorker], language: str
) -> None:
    worker = open_agent(ASKER[language], language)
    start_episode(worker)
    host = Host()
    calls = [["request", "sys.memory", {"op": "get"}], ["request", "sys.nowhere", 1]]
    decision = worker.act(0, {"calls": calls}, LEGAL, on_request=host.answer)
    assert decision.status is AgentStatus.OK, decision.detail
    assert decision.action == [
        {"got": {"op": "get"}, "type": "request"},
        "refused: unknown target",
    ]
    first = host.lines[0]
    assert (first["type"], first["to"], first["payload"]) == (
        "request",
        "sys.memory",
        {"op": "get"},
    )
    budget = worker.move_ms + worker.overage_ms
    assert 0 < first["timeout_ms"] <= budget  # asked 5000 ms, cut to what the move has left
    assert worker.lifecycle.state is S.BUSY  # the process is fine: answers are not faults


@pytest.mark.parametrize("language", LANGUAGES)
def test_requests_without_a_handler_and_submits_in_a_match_are_refused(
    open_agent: Callable[..., ProcessWorker], language: str
) -> None:
    worker = open_agent(ASKER[language], language)
    start_episode(worker)
    no_handler = worker.act(0, {"calls": [["request", "svc.echo", 1]]}, LEGAL)
    assert no_handler.action == ["refused: requests are not available here"]
    host = Host()
    submit = worker.act(1, {"calls": [["submit", "echo", 1]]}, LEGAL, on_request=host.answer)
    assert submit.action == ["refused: submit is for service agents"]
    assert host.lines == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_requests_over_the_limit_are_refused_not_faults(
    open_agent: Callable[..., ProcessWorker], language: str
) -> None:
    worker = open_agent(ASKER[language], language)
    start_episode(worker)
    host = Host()
    calls = [["request", "svc.echo", n] for n in range(MAX_REQUESTS + 3)]
    decision = worker.act(0, {"calls": calls}, LEGAL, on_request=host.answer)
    assert decision.status is AgentStatus.OK, decision.detail
    refused = [a for a in decision.action if isinstance(a, str)]
    assert len(host.lines) == MAX_REQUESTS
    assert refused == [f"refused: over the request limit ({MAX_REQUESTS} per move or task)"] * 3
    again = worker.act(1, {"calls": calls[:1]}, LEGAL, on_request=host.answer)
    assert again.action == [{"got": 0, "type": "request"}]  # the count starts again each move


# --- tasks --------------------------------------------------------------------------------
@pytest.mark.parametrize("ref", ["builtin:echo", "builtin:echo-js"])
def test_builtin_echo_answers_and_streams_progress(
    open_agent: Callable[..., ProcessWorker], ref: str
) -> None:
    worker = open_agent(ref=ref)
    worker.start()
    assert worker.lifecycle.state is S.ONLINE
    host = Host()
    outcome = host.serve(worker, {"hello": [1, 2]}, type="echo")
    assert outcome == TaskOutcome(True, {"hello": [1, 2]}, "", AgentStatus.OK, outcome.elapsed_ms)
    slow = host.serve(worker, {"pause_ms": 1}, type="echo.slow", task_id="t2")
    assert slow.ok and slow.result == {"pause_ms": 1}
    assert host.progress == [{"step": step, "of": 3} for step in (1, 2, 3)]
    assert worker.lifecycle.state is S.IDLE
    assert [t.target for t in worker.lifecycle.history] == [
        S.DEPLOYING, S.ONLINE, S.BUSY, S.IDLE, S.BUSY, S.IDLE
    ]  # fmt: skip


def test_echo_in_the_sandbox(open_agent: Callable[..., ProcessWorker]) -> None:
    worker = open_agent(ref="builtin:echo", level=IsolationLevel.SANDBOX)
    worker.start()
    outcome = Host().serve(worker, "sandboxed", type="echo")
    assert (outcome.ok, outcome.result, outcome.status) == (True, "sandboxed", AgentStatus.OK)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_task_error_is_the_agents_answer_and_the_process_stays(
    open_agent: Callable[..., ProcessWorker], language: str
) -> None:
    worker = open_agent(SERVICE[language], language)
    worker.start()
    assert worker.proc is not None
    pid = worker.proc.pid
    host = Host()
    failed = host.serve(worker, {"do": "raise"})
    assert (failed.ok, failed.status) == (False, AgentStatus.OK)
    assert "bad task on purpose" in failed.error
    assert failed.logs == ["task t1 demo"]
    fine = host.serve(worker, {"do": "nothing"}, task_id="t2")
    assert fine.ok and fine.result == {"echo": {"do": "nothing"}, "id": "t2"}
    assert fine.logs == ["task t2 demo"]
    assert worker.proc is not None and worker.proc.pid == pid


@pytest.mark.parametrize("language", LANGUAGES)
def test_submit_and_request_inside_a_task(
    open_agent: Callable[..., ProcessWorker], language: str
) -> None:
    worker = open_agent(SERVICE[language], language)
    worker.start()
    host = Host()
    outcome = host.serve(worker, {"do": "ask"}, timeout_ms=3000)
    assert outcome.ok, outcome
    assert outcome.result["sub"] == {"got": {"n": 1}, "type": "submit"}
    assert outcome.result["other"] == {"got": {"n": 2}, "type": "request"}
    submit, request = host.lines
    assert (submit["task_type"], submit["to"]) == ("echo", None)
    assert 0 < submit["timeout_ms"] <= 3000 and 0 < request["timeout_ms"] <= 3000
    assert 0 < outcome.result["left"] <= 3000  # context.time_left_ms counts the task's deadline


@pytest.mark.parametrize("language", LANGUAGES)
def test_progress_is_capped_per_task(
    open_agent: Callable[..., ProcessWorker], language: str
) -> None:
    worker = open_agent(SERVICE[language], language)
    worker.start()
    host = Host()
    outcome = host.serve(worker, {"do": "progress", "steps": MAX_PROGRESS + 10})
    assert outcome.ok, outcome
    assert host.progress == [{"step": step} for step in range(MAX_PROGRESS)]
    assert outcome.logs[-1].startswith("host: dropped 10 progress lines")


@pytest.mark.parametrize(
    ("language", "do", "status"),
    [
        ("python", "sleep", AgentStatus.TIMEOUT),
        ("javascript", "sleep", AgentStatus.TIMEOUT),
        ("python", "exit", AgentStatus.CRASHED),
        ("javascript", "exit", AgentStatus.CRASHED),
    ],
)
def test_a_fault_kills_the_process_and_start_brings_it_back(
    open_agent: Callable[..., ProcessWorker], language: str, do: str, status: AgentStatus
) -> None:
    worker = open_agent(SERVICE[language], language)
    worker.start()
    host = Host()
    outcome = host.serve(worker, {"do": do}, timeout_ms=300)
    assert (outcome.ok, outcome.status) == (False, status), outcome
    assert outcome.error
    assert worker.lifecycle.state is S.ERROR and worker.proc is None
    gone = host.serve(worker, {"do": "nothing"})
    assert (gone.ok, gone.status) == (False, AgentStatus.CRASHED)
    worker.start()
    again = host.serve(worker, {"do": "nothing"}, task_id="t3")
    assert again.ok and again.result["id"] == "t3"


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_agent_without_handle_says_so(
    open_agent: Callable[..., ProcessWorker], language: str
) -> None:
    source = (
        "def act(observation, context):\n    return 0\n"
        if language == "python"
        else "export function act(observation, context) { return 0; }\n"
    )
    worker = open_agent(source, language)
    worker.start()
    outcome = Host().serve(worker, {})
    assert (outcome.ok, outcome.error, outcome.status) == (
        False,
        "agent has no handle()",
        AgentStatus.OK,
    )


def test_a_handle_only_agent_cannot_play(open_agent: Callable[..., ProcessWorker]) -> None:
    worker = open_agent(SERVICE["python"])
    start_episode(worker)
    decision = worker.act(0, BOARD, LEGAL)
    assert decision.status is AgentStatus.ERROR
    assert "act" in decision.detail


# --- the trusted twin -------------------------------------------------------------------
def trusted(make_agent: Callable[..., Path], source: str) -> TrustedWorker:
    package: AgentPackage = resolve_agent(str(make_agent(source, name="twin")))
    return TrustedWorker(package, seed=1)


def test_trusted_serve_has_the_same_context(make_agent: Callable[..., Path]) -> None:
    worker = trusted(make_agent, SERVICE["python"])
    worker.start()
    host = Host()
    assert host.serve(worker, {"do": "nothing"}).result == {"echo": {"do": "nothing"}, "id": "t1"}
    asked = host.serve(worker, {"do": "ask"}, timeout_ms=3000)
    assert asked.ok, asked
    assert asked.result["sub"] == {"got": {"n": 1}, "type": "submit"}
    assert 0 < host.lines[1]["timeout_ms"] <= 3000
    progress = host.serve(worker, {"do": "progress", "steps": MAX_PROGRESS + 1})
    assert len(host.progress) == MAX_PROGRESS
    assert progress.logs[-1] == "host: dropped 1 progress lines"
    failed = host.serve(worker, {"do": "raise"})
    assert (failed.ok, failed.status) == (False, AgentStatus.OK)
    assert failed.error == "ValueError: bad task on purpose"


def test_trusted_requests_in_a_move(make_agent: Callable[..., Path]) -> None:
    worker = trusted(make_agent, ASKER["python"])
    worker.reset(episode=0, scenario="tictactoe-v1", role="player_0", seed=5, config={})
    host = Host()
    calls = [["request", "sys.memory", 1], ["submit", "echo", 2]]
    decision = worker.act(0, {"calls": calls}, LEGAL, on_request=host.answer)
    assert decision.action == [
        {"got": 1, "type": "request"},
        "refused: submit is for service agents",
    ]
    alone = worker.act(1, {"calls": calls[:1]}, LEGAL)
    assert alone.action == ["refused: requests are not available here"]


def test_open_service_needs_a_service_table() -> None:
    echo = open_service(resolve_agent("builtin:echo"), IsolationLevel.PROCESS)
    assert isinstance(echo, ProcessWorker) and echo.lifecycle.state is S.REGISTERED
    assert isinstance(
        open_service(resolve_agent("builtin:echo"), IsolationLevel.TRUSTED), TrustedWorker
    )
    with pytest.raises(InvalidArgumentError, match=r"builtin:random|random@1.0.0"):
        open_service(resolve_agent("builtin:random"))


def test_trusted_tasks_see_only_id_type_and_payload(make_agent: Callable[..., Path]) -> None:
    worker = trusted(
        make_agent,
        """
        def handle(task, context):
            return float("nan") if task["payload"] == "nan" else sorted(task)
        """,
    )
    host = Host()
    task = {"id": 7, "type": "t", "payload": 1, "extra": True}
    outcome = worker.serve(task, timeout_ms=1000, on_progress=print, on_request=host.answer)
    assert outcome.result == ["id", "payload", "type"]
    nan = host.serve(worker, "nan")
    assert (nan.ok, nan.status) == (False, AgentStatus.OK)
    assert nan.error.startswith("the result is not JSON")
