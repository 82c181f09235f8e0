"""The ``trusted`` level: a Python agent imported into the host process.

For baselines and tests only: there is no isolation and no preemption (a move that runs
past its deadline is recorded as a timeout once it returns). Same context fields as the
sandboxed runner, and the same Kaggle adapter (``adapter = "kaggle"``): the runner's
own :class:`~devspark.sdk.kaggle.KaggleAgent`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from devspark.core.errors import FailedPreconditionError
from devspark.core.lifecycle import Lifecycle, LifecycleState
from devspark.core.ports import AgentPackage, Decision, EpisodeLog, RequestHandler, TaskOutcome
from devspark.core.results import AgentStatus, Usage
from devspark.sandbox.worker import (
    DEFAULT_REQUEST_MS,
    MAX_PROGRESS,
    MAX_PROGRESS_BYTES,
    MAX_REQUESTS,
    Outbox,
    PlatformCaps,
)
from devspark.sdk.kaggle import KaggleAgent
from devspark.sdk.runner import RequestError

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode

_ids = itertools.count()


class TrustedContext:
    """In-process twin of the runner's ``Context``."""

    RequestError = RequestError
    """What ``request`` and ``submit`` raise on a refusal (the runner's class)."""

    def __init__(self, params: dict[str, Any], seed: int, logs: list[str]) -> None:
        self.params = params
        self.seed = seed
        self.rng = random.Random(seed)
        self.legal_actions: list[Any] | None = None
        self.step = -1
        self.role = ""
        self.scenario = ""
        self.episode = -1
        self._deadline = 0.0
        self._bank_ms = 0.0
        self._logs = logs
        self.messages: list[dict[str, Any]] = []
        self.bus_errors: list[dict[str, Any]] = []
        self._outbox = Outbox()
        self.task_id: str | None = None
        self._on_request: RequestHandler | None = None
        self._on_progress: Callable[[Any], None] | None = None
        self._requests = 0
        self._progress_sent = self._progress_dropped = 0

    @property
    def time_left_ms(self) -> float:
        """Milliseconds left for this move, time bank included."""
        return max(0.0, (self._deadline - time.monotonic()) * 1000.0)

    def log(self, message: object) -> None:
        """Record a log line."""
        if len(self._logs) < 200:
            self._logs.append(str(message)[:4096])

    def publish(self, channel: str, payload: Any) -> None:
        """Publish ``payload`` on ``channel`` (kept under the same limits as the runner's)."""
        self._outbox.offer({"type": "publish", "channel": channel, "payload": payload})

    def request(self, to: str, payload: Any = None, timeout_ms: int = 1000) -> Any:
        """Ask ``to`` through the host's handler; the answer's payload, or RequestError."""
        return self._ask({"type": "request", "to": to, "payload": payload}, timeout_ms)

    def submit(
        self, task_type: str, payload: Any = None, to: str | None = None, timeout_ms: int = 10000
    ) -> Any:
        """Submit a sub-task and wait for its result (service agents, within a task)."""
        message = {"type": "submit", "task_type": task_type, "payload": payload, "to": to}
        return self._ask(message, timeout_ms)

    def progress(self, data: Any) -> None:
        """Report progress on the current task (same caps as the sandboxed host's)."""
        if self.task_id is None:
            return
        try:
            fits = len(_encode(data)) <= MAX_PROGRESS_BYTES
        except (TypeError, ValueError, RecursionError):
            fits = False
        if not fits or self._progress_sent >= MAX_PROGRESS:
            self._progress_dropped += 1
            return
        self._progress_sent += 1
        if self._on_progress is not None:
            with contextlib.suppress(Exception):
                self._on_progress(data)

    def _ask(self, message: dict[str, Any], timeout_ms: Any) -> Any:
        """What the sandboxed host does with a request line, in-process."""
        self._requests += 1
        kind = message["type"]
        left_ms = int(self.time_left_ms)
        if self._requests > MAX_REQUESTS:
            raise RequestError(f"over the request limit ({MAX_REQUESTS} per move or task)")
        if kind == "submit" and self.task_id is None:
            raise RequestError("submit is for service agents")
        if self._on_request is None:
            raise RequestError("requests are not available here")
        if left_ms <= 0:
            raise RequestError("no time left")
        _encode(message)  # TypeError/ValueError for a payload that is not JSON, as the runner
        valid = isinstance(timeout_ms, int) and not isinstance(timeout_ms, bool) and timeout_ms > 0
        message["timeout_ms"] = min(timeout_ms if valid else DEFAULT_REQUEST_MS, left_ms)
        message["id"] = f"{kind[0]}{self._requests}"
        try:
            answer = self._on_request(message)
        except Exception as exc:
            raise RequestError(f"the host could not answer: {type(exc).__name__}") from None
        if isinstance(answer, dict) and answer.get("ok") is True:
            return answer.get("payload")
        error = answer.get("error") if isinstance(answer, dict) else None
        raise RequestError(str(error or "refused"))


def _load(package: AgentPackage, limits: dict[str, Any]) -> Any:
    path = package.folder / package.manifest.entrypoint
    name = f"_devspark_trusted_{next(_ids)}"
    if package.manifest.adapter == "kaggle":
        return KaggleAgent(str(path), limits, module_name=name)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FailedPreconditionError(f"cannot import {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if callable(getattr(module, "act", None)) or callable(getattr(module, "handle", None)):
        return module
    cls = getattr(module, "Agent", None)
    if cls is None:  # as the runner does: the first class defined here with act or handle
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == name
                and (
                    callable(getattr(value, "act", None))
                    or callable(getattr(value, "handle", None))
                )
            ):
                cls = value
                break
    if cls is None:
        raise FailedPreconditionError(f"{path} defines neither act(), handle() nor an Agent class")
    return cls()


class TrustedWorker:
    """An in-process agent (implements ``AgentWorker`` and ``ServiceWorker``)."""

    def __init__(
        self,
        package: AgentPackage,
        *,
        seed: int = 0,
        params: dict[str, Any] | None = None,
        caps: PlatformCaps | None = None,
    ) -> None:
        if package.manifest.language != "python":
            raise FailedPreconditionError(
                "isolation level 'trusted' is unavailable: it runs Python agents only"
            )
        self.package = package
        self.lifecycle = Lifecycle()
        self.lifecycle.move(LifecycleState.DEPLOYING, "importing in-process")
        self._logs: list[str] = []
        self.context = TrustedContext(
            package.manifest.default_params() | (params or {}), seed, self._logs
        )
        limits, caps = package.manifest.limits, caps or PlatformCaps()
        self.move_ms = min(limits.move_ms, caps.move_ms)
        self.overage_ms = min(limits.overage_ms, caps.overage_ms)
        self.agent = _load(package, {"move_ms": self.move_ms, "overage_ms": self.overage_ms})
        self.lifecycle.move(LifecycleState.ONLINE, "imported")
        self._reset_error: Exception | None = None
        self._bank = float(self.overage_ms)
        self._think_ms = 0.0
        self._cpu = 0.0

    def start(self) -> None:
        """Nothing to start: the agent was imported when the worker was made."""
        if self.lifecycle.state in (LifecycleState.ERROR, LifecycleState.OFFLINE):
            self.lifecycle.move(LifecycleState.DEPLOYING, "restarting in-process")
            self.lifecycle.move(LifecycleState.ONLINE, "imported")

    def reset(
        self, *, episode: int, scenario: str, role: str, seed: int, config: dict[str, Any]
    ) -> None:
        """Start an episode."""
        self.lifecycle.move(LifecycleState.BUSY, f"episode {episode} of {scenario} as {role}")
        self._logs.clear()
        self._bank = float(self.overage_ms)
        self._think_ms = 0.0
        self._cpu = time.process_time()
        context = self.context
        context.episode, context.role, context.scenario, context.step = episode, role, scenario, -1
        context.rng.seed(seed)
        self._reset_error = None
        hook = getattr(self.agent, "reset", None)
        if callable(hook):
            try:
                hook(config, context)
            except Exception as exc:  # charged to the first move, as in the runner
                self._reset_error = exc

    def act(
        self,
        step: int,
        observation: Any,
        legal_actions: list[Any] | None,
        *,
        messages: Sequence[dict[str, Any]] = (),
        bus_errors: Sequence[dict[str, Any]] = (),
        on_request: RequestHandler | None = None,
    ) -> Decision:
        """Call the agent's ``on_message`` hook for each message, then its ``act``.

        ``context.request`` during the move calls ``on_request`` (refused without one).
        """
        context = self.context
        context.step, context.legal_actions = step, legal_actions
        context.messages, context.bus_errors = list(messages), list(bus_errors)
        context._on_request, context._requests = on_request, 0
        hook = getattr(self.agent, "on_message", None)
        if callable(hook):
            for message in context.messages:
                try:
                    hook(message, context)
                except Exception as exc:  # as in the runner: logged, no move is charged
                    context.log(f"on_message raised: {exc!r}")
        try:
            decision = self._act(observation, context)
        finally:
            context._on_request = None
        outbox, context._outbox = context._outbox, Outbox()
        decision.published, decision.bus_errors = outbox.published, outbox.errors
        return decision

    def _act(self, observation: Any, context: TrustedContext) -> Decision:
        context._bank_ms = self._bank
        started = time.monotonic()
        context._deadline = started + (self.move_ms + self._bank) / 1000
        try:
            if self._reset_error is not None:
                pending, self._reset_error = self._reset_error, None
                raise pending
            action = self.agent.act(observation, context)
        except MemoryError:
            return Decision(None, AgentStatus.LIMIT_EXCEEDED, "MemoryError")
        except Exception as exc:  # the agent's own fault
            return Decision(None, AgentStatus.ERROR, f"{type(exc).__name__}: {exc}")
        elapsed = (time.monotonic() - started) * 1000
        self._think_ms += elapsed
        if elapsed > self.move_ms:
            self._bank -= elapsed - self.move_ms
            if self._bank < 0:
                return Decision(None, AgentStatus.TIMEOUT, f"move took {elapsed:.0f} ms", elapsed)
        return Decision(action, AgentStatus.OK, "", elapsed)

    def serve(
        self,
        task: dict[str, Any],
        *,
        timeout_ms: int,
        on_progress: Callable[[Any], None],
        on_request: RequestHandler,
    ) -> TaskOutcome:
        """Call the agent's ``handle(task, context)`` in-process (see ``ProcessWorker.serve``).

        No preemption: a task that runs past ``timeout_ms`` is a ``timeout`` once it returns.
        """
        context = self.context
        self._logs.clear()
        if self.lifecycle.state is not LifecycleState.BUSY:
            self.lifecycle.move(LifecycleState.BUSY, f"task {str(task.get('id'))[:64]}")
        started = time.monotonic()
        context._deadline = started + timeout_ms / 1000
        context.task_id = str(task.get("id"))
        context._on_request, context._on_progress = on_request, on_progress
        context._requests = context._progress_sent = context._progress_dropped = 0
        handle = getattr(self.agent, "handle", None)
        ok, result, error, status = True, None, "", AgentStatus.OK
        try:
            if not callable(handle):
                ok, error = False, "agent has no handle()"
            else:
                given = {
                    "id": context.task_id,
                    "type": task.get("type"),
                    "payload": task.get("payload"),
                }
                result = handle(given, context)
        except MemoryError:
            ok, error, status = False, "MemoryError", AgentStatus.LIMIT_EXCEEDED
        except Exception as exc:  # the agent's own fault, as the runner reports it
            ok, error, result = False, f"{type(exc).__name__}: {exc}", None
        finally:
            context.task_id = context._on_request = context._on_progress = None
        if ok:
            try:
                _encode(result)
            except (TypeError, ValueError, RecursionError) as exc:  # as the runner says it
                ok, error, result = False, f"the result is not JSON: {exc}", None
        elapsed = (time.monotonic() - started) * 1000
        if elapsed > timeout_ms:
            ok, result, status = False, None, AgentStatus.TIMEOUT
            error = f"task took {elapsed:.0f} ms"
        logs = list(self._logs)
        if context._progress_dropped:
            logs.append(f"host: dropped {context._progress_dropped} progress lines")
        if status is AgentStatus.OK:
            self.lifecycle.move(LifecycleState.IDLE, "task done")
        else:
            self.lifecycle.move(LifecycleState.ERROR, f"{status.value}: {error[:200]}")
        return TaskOutcome(ok, result, error, status, elapsed, logs)

    def finish(self, *, reward: float, status: AgentStatus) -> tuple[Usage, EpisodeLog]:
        """End the episode."""
        hook = getattr(self.agent, "on_result", None)
        if callable(hook):
            try:
                hook({"type": "result", "reward": reward, "status": status.value}, self.context)
            except Exception as exc:  # outside a move: logged, as in the runner
                self.context.log(f"on_result raised: {exc!r}")
        if self.lifecycle.state is LifecycleState.BUSY:
            self.lifecycle.move(LifecycleState.IDLE, f"episode over: {status.value}")
        return Usage(wall_ms=self._think_ms, cpu_s=time.process_time() - self._cpu), EpisodeLog(
            list(self._logs)
        )

    def close(self) -> None:
        """Nothing to stop; record the transition."""
        self.lifecycle.move(LifecycleState.OFFLINE, "closed")
