"""Host side of wire protocol v1: a warm agent process behind deadlines and caps.

One :class:`ProcessWorker` owns one agent process at the ``process``, ``sandbox`` or
``gvisor`` level. Every fault (late, silent, crashed, flooding, malformed, out of step)
becomes a :class:`~devspark.core.results.AgentStatus` on the move; nothing an agent does
raises out of here. A worker whose process faulted is restarted at the next episode.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from devspark.core.errors import InvalidArgumentError
from devspark.core.isolation import IsolationLevel
from devspark.core.lifecycle import Lifecycle, LifecycleState
from devspark.core.ports import AgentPackage, Decision, EpisodeLog, RequestHandler, TaskOutcome
from devspark.core.results import AgentStatus, Usage
from devspark.sandbox import staging
from devspark.sandbox.cgroups import CgroupUsage
from devspark.sandbox.deps import build_deps
from devspark.sandbox.isolation import sandbox_user
from devspark.sandbox.launcher import AgentProcess, ProcessSpec
from devspark.sdk import SDK_DIR

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 1 << 20
MAX_MOVE_OUTPUT = 8 << 20
MAX_LOG_LINES = 200
MAX_LOG_CHARS = 4096
MAX_STDERR_BYTES = 64 << 10
MAX_PUBLISH_PER_MOVE = 32
"""Publishes an agent may write in one move; later ones are refused."""
MAX_PAYLOAD_BYTES = 16 << 10
"""Largest publish payload, as compact JSON; larger ones are refused."""
MAX_MOVE_DISCARD = 64 << 20
"""Bytes of over-long publish lines skipped in one move before it is a protocol error."""
MAX_REQUESTS = 32
"""Requests plus submits the host answers in one move or task; later ones are refused."""
MAX_REQUEST_BYTES = 256 << 10
"""Largest ``request``/``submit`` line; larger ones are refused (the bus's message limit)."""
DEFAULT_REQUEST_MS = 1000
"""A request's ``timeout_ms`` when it gives none (always cut to what the move has left)."""
MAX_PROGRESS = 64
"""``progress`` lines passed on per task; later ones are dropped and counted."""
MAX_PROGRESS_BYTES = 16 << 10
"""Largest progress ``data``, as compact JSON; larger ones are dropped and counted."""
_PUBLISH_PREFIX = b'{"type":"publish"'
_S = AgentStatus
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_NO_HITS = CgroupUsage(0.0, 0, 0, 0, 0)
_LIMIT_MARKERS = (b"heap out of memory", b"Allocation failed", b"MemoryError")


@dataclass(frozen=True, slots=True)
class PlatformCaps:
    """Upper bounds the platform puts on what manifests ask for."""

    move_ms: int = 10_000
    overage_ms: int = 60_000
    memory_mb: int = 2048
    start_ms: int = 10_000
    cpu_cores: float = 1.0
    max_pids: int = 64
    tmp_mb: int = 64
    file_mb: int = 64
    state_mb: int = 64


class Outbox:
    """The publishes of one move, within the host's limits (shared by every level).

    Attributes:
        published: Accepted messages, ``{"channel", "payload"}``, in publish order.
        errors: Refusals, ``{"channel", "error", "count"}``; equal ones are merged.

    """

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self._tried = 0

    def offer(self, message: dict[str, Any], size_hint: int = 0) -> None:
        """Keep one ``publish`` message or refuse it (never raises).

        Args:
            message: The decoded ``publish`` line.
            size_hint: The line's length in bytes; a line no longer than
                :data:`MAX_PAYLOAD_BYTES` needs no re-encoding to be measured.

        """
        self._tried += 1
        channel = message.get("channel")
        name = channel if isinstance(channel, str) else None
        if self._tried > MAX_PUBLISH_PER_MOVE:
            self.refuse(None, f"more than {MAX_PUBLISH_PER_MOVE} messages in one move")
            return
        if name is None or not 0 < len(name) <= 255:
            self.refuse(None, "a publish needs a channel name of 1-255 characters")
            return
        if "payload" not in message:
            self.refuse(name, "a publish needs a payload")
            return
        payload = message["payload"]
        if size_hint <= 0 or size_hint > MAX_PAYLOAD_BYTES:
            try:
                size = len(_encode(payload))
            except (TypeError, ValueError, RecursionError):
                self.refuse(name, "the payload is not JSON")
                return
            if size > MAX_PAYLOAD_BYTES:
                self.refuse(name, f"payload over {MAX_PAYLOAD_BYTES} bytes")
                return
        self.published.append({"channel": name, "payload": payload})

    def refuse(self, channel: str | None, error: str) -> None:
        """Count a refused publish, merged with an equal earlier refusal."""
        for entry in self.errors:
            if entry["channel"] == channel and entry["error"] == error:
                entry["count"] += 1
                return
        self.errors.append({"channel": channel, "error": error, "count": 1})


def bus_fields(
    messages: Sequence[dict[str, Any]], bus_errors: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The ``messages`` and ``bus_errors`` fields of an ``observe`` (absent when empty)."""
    fields: dict[str, Any] = {}
    if messages:
        fields["messages"] = list(messages)
    if bus_errors:
        fields["bus_errors"] = list(bus_errors)
    return fields


class _FaultError(Exception):
    def __init__(self, status: AgentStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class ProcessWorker:
    """A warm agent process speaking JSON lines (implements ``AgentWorker``)."""

    def __init__(
        self,
        package: AgentPackage,
        *,
        level: IsolationLevel = IsolationLevel.SANDBOX,
        seed: int = 0,
        params: dict[str, Any] | None = None,
        caps: PlatformCaps | None = None,
        state_key: str | None = None,
    ) -> None:
        if package.manifest.adapter != "native" and package.manifest.language != "python":
            raise InvalidArgumentError(
                f"adapter {package.manifest.adapter!r} is only supported for language 'python'"
            )
        self.package = package
        self.level = level
        self.seed = seed
        self.params = package.manifest.default_params() | (params or {})
        self.caps = caps or PlatformCaps()
        limits = package.manifest.limits
        self.move_ms = min(limits.move_ms, self.caps.move_ms)
        self.overage_ms = min(limits.overage_ms, self.caps.overage_ms)
        self.start_ms = min(limits.start_ms, self.caps.start_ms)
        self.memory_mb = min(limits.memory_mb, self.caps.memory_mb)
        self.state_key = state_key or f"{package.manifest.name}-{package.sha256[:16]}"
        self.lifecycle = Lifecycle()
        self.proc: AgentProcess | None = None
        self._poller = select.poll()
        self._buffer = b""
        self._skipping = False  # inside an over-long publish line, dropping it
        self._outbox = Outbox()
        self._stderr = bytearray()
        self._logs: list[str] = []
        self._broken = False
        self._start_fault: _FaultError | None = None
        self._bank_ms = float(self.overage_ms)
        self._think_ms = 0.0  # host-measured time of this episode's moves
        self._final_usage: tuple[float, int] | None = None  # read before a faulted process closed
        self._cpu_start = 0.0
        self._hits_seen = _NO_HITS  # limit counters when last checked (a new cgroup starts at 0)
        # What the current move or task answers requests with, and its counters.
        self._deadline = 0.0
        self._on_request: RequestHandler | None = None
        self._requests = 0
        self._task: str | None = None  # the id of the task being served
        self._on_progress: Callable[[Any], None] | None = None
        self._progress_sent = self._progress_dropped = 0

    # -- process management -------------------------------------------------------------
    def start(self) -> None:
        """Start the process and wait for ``ready`` (a failure is kept as a start fault)."""
        self.lifecycle.move(LifecycleState.DEPLOYING, f"starting at isolation {self.level.value}")
        self._start_fault = None
        try:
            self.proc = self._spawn()
            # Writes must not block on an agent that stops reading (it could flood us
            # with requests and never read the answers): _send waits to the deadline.
            os.set_blocking(self.proc.stdin_fd, False)
            self._hits_seen = _NO_HITS
            self._poller = select.poll()
            self._poller.register(self.proc.stdout_fd, select.POLLIN)
            self._poller.register(self.proc.stderr_fd, select.POLLIN)
            self._buffer = b""
            self._skipping = False
            hello = {
                "type": "hello",
                "protocol": PROTOCOL_VERSION,
                "agent": {
                    "name": self.package.manifest.name,
                    "version": self.package.manifest.version,
                },
                "params": self.params,
                "limits": {
                    "move_ms": self.move_ms,
                    "overage_ms": self.overage_ms,
                    "memory_mb": self.memory_mb,
                },
                "seed": self.seed,
            }
            deadline = time.monotonic() + self.start_ms / 1000
            self._send(hello, deadline)
            message = self._receive(deadline, expect_step=None)
            if message.get("type") != "ready" or message.get("protocol") != PROTOCOL_VERSION:
                raise _FaultError(
                    _S.PROTOCOL_ERROR, f"expected ready for protocol 1, got {str(message)[:200]}"
                )
        except _FaultError as fault:
            self._start_fault = fault
            self._broken = True
            self.lifecycle.move(
                LifecycleState.ERROR, f"start failed: {fault.status.value}: {fault.detail}"
            )
            return
        self._broken = False
        self.lifecycle.move(LifecycleState.ONLINE, "ready")

    def _spawn(self) -> AgentProcess:
        manifest = self.package.manifest
        user = sandbox_user() if self.level is IsolationLevel.SANDBOX else None
        agent = staging.stage(self.package.folder)
        sdk = staging.stage(SDK_DIR, kind="sdk")
        state = staging.state_dir(
            self.state_key,
            user.uid if user else None,
            user.gid if user else None,
            quota_mb=self.caps.state_mb,
        )
        deps = build_deps(manifest.requirements) if manifest.requirements else None
        network = None
        for capability in manifest.capabilities:
            if capability.startswith("net:"):
                network = capability.removeprefix("net:")
        spec = ProcessSpec(
            language=manifest.language,
            entrypoint=manifest.entrypoint,
            agent_dir=agent.path,
            sdk_dir=sdk.path,
            state_dir=state,
            deps_dir=deps,
            memory_mb=self.memory_mb,
            cpu_cores=self.caps.cpu_cores,
            max_pids=self.caps.max_pids,
            tmp_mb=self.caps.tmp_mb,
            file_mb=self.caps.file_mb,
            network=network,
            adapter=manifest.adapter,
        )
        return AgentProcess(spec, self.level)

    def close(self) -> None:
        """Say ``bye``, then make sure nothing of the agent survives."""
        if self.proc is not None:
            with contextlib.suppress(_FaultError):
                self._send({"type": "bye"}, time.monotonic() + 0.05)
            self.proc.close()
            self.proc = None
        if self.lifecycle.state is not LifecycleState.OFFLINE:
            with contextlib.suppress(Exception):
                self.lifecycle.move(LifecycleState.OFFLINE, "closed")

    # -- episodes ---------------------------------------------------------------------
    def reset(
        self, *, episode: int, scenario: str, role: str, seed: int, config: dict[str, Any]
    ) -> None:
        """Start an episode, restarting the process first if it faulted before."""
        if self.proc is None or self._broken:
            if self.proc is not None:
                self.proc.close()
                self.proc = None
            self.start()
        self._bank_ms = float(self.overage_ms)
        self._logs = []
        self._stderr.clear()
        self._think_ms = 0.0
        self._final_usage = None
        if self.proc is not None:
            self.proc.reset_peak()
            self._cpu_start = self.proc.cpu_and_peak()[0]
        if self._start_fault is not None:
            return
        self.lifecycle.move(LifecycleState.BUSY, f"episode {episode} of {scenario} as {role}")
        message = {
            "type": "reset",
            "episode": episode,
            "scenario": scenario,
            "role": role,
            "seed": seed,
            "config": config,
        }
        try:
            self._send(message, time.monotonic() + self.move_ms / 1000)
        except _FaultError as fault:
            self._fail(fault)

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
        """Ask for an action under the move deadline plus what is left of the bank.

        ``messages`` and ``bus_errors`` ride on the ``observe`` line; the publishes the
        agent writes before its reply come back in :attr:`Decision.published` (and the
        refused ones in :attr:`Decision.bus_errors`). The ``request`` lines the agent
        writes before its reply are answered through ``on_request`` (``ok: False``
        without one; ``submit`` always: it is for service agents), at most
        :data:`MAX_REQUESTS` of them, their time counted against the move.
        """
        self._on_request, self._requests = on_request, 0
        try:
            decision = self._act(step, observation, legal_actions, bus_fields(messages, bus_errors))
        finally:
            self._on_request = None
        outbox, self._outbox = self._outbox, Outbox()
        decision.published, decision.bus_errors = outbox.published, outbox.errors
        return decision

    def _act(
        self, step: int, observation: Any, legal_actions: list[Any] | None, bus: dict[str, Any]
    ) -> Decision:
        if self._start_fault is not None:
            return Decision(None, self._start_fault.status, self._start_fault.detail)
        if self._broken:
            return Decision(None, _S.CRASHED, "agent process is gone")
        started = time.monotonic()
        budget_ms = self.move_ms + self._bank_ms
        deadline = started + budget_ms / 1000
        message = {
            "type": "observe",
            "step": step,
            "observation": observation,
            "legal_actions": legal_actions,
            "deadline_ms": self.move_ms,
            "time_bank_ms": int(self._bank_ms),
            **bus,
        }
        try:
            self._send(message, deadline)
            reply = self._receive(deadline, expect_step=step)
        except _FaultError as fault:
            elapsed = (time.monotonic() - started) * 1000
            self._think_ms += elapsed
            status = self._classify(fault.status)  # before _fail: it removes the cgroup
            self._fail(fault)
            return Decision(None, status, fault.detail, elapsed)
        elapsed = (time.monotonic() - started) * 1000
        self._think_ms += elapsed
        if elapsed > self.move_ms:
            self._bank_ms = max(0.0, self._bank_ms - (elapsed - self.move_ms))
        if reply["type"] == "error":
            kind = _S.LIMIT_EXCEEDED if reply.get("kind") == "limit_exceeded" else _S.ERROR
            if kind is _S.ERROR:  # e.g. a thread bomb that hit pids.max reports a RuntimeError
                kind = self._classify(kind)
            detail = reply.get("message", "")
            text = detail[-MAX_LOG_CHARS:] if isinstance(detail, str) else "<non-text error>"
            return Decision(None, kind, text, elapsed)
        return Decision(reply.get("action"), _S.OK, "", elapsed)

    def finish(self, *, reward: float, status: AgentStatus) -> tuple[Usage, EpisodeLog]:
        """Send ``result``; return the episode's usage and captured output."""
        if self.proc is not None and not self._broken:
            with contextlib.suppress(_FaultError):
                self._send(
                    {"type": "result", "reward": reward, "status": status.value},
                    time.monotonic() + 0.05,
                )
        usage = Usage(wall_ms=self._think_ms)
        reading = self._final_usage
        if self.proc is not None:
            self._drain_stderr()
            reading = self.proc.cpu_and_peak()
        if reading is not None:
            cpu_s, peak = reading
            usage = Usage(self._think_ms, max(0.0, cpu_s - self._cpu_start), peak / 2**20)
        if self.lifecycle.state is LifecycleState.BUSY:
            self.lifecycle.move(LifecycleState.IDLE, f"episode over: {status.value}")
        log = EpisodeLog(self._logs, self._stderr.decode(errors="replace"))
        return usage, log

    # -- service mode -----------------------------------------------------------------
    def serve(
        self,
        task: dict[str, Any],
        *,
        timeout_ms: int,
        on_progress: Callable[[Any], None],
        on_request: RequestHandler,
    ) -> TaskOutcome:
        """Hand one task to the agent's ``handle`` and wait for its ``task_result``.

        Implements :class:`devspark.core.ports.ServiceWorker`. The process must have been
        started with :meth:`start`. ``task`` is ``{"id", "type", "payload"}``; the agent
        has ``timeout_ms`` to answer. Its ``progress`` lines call ``on_progress(data)``
        (at most :data:`MAX_PROGRESS` per task, :data:`MAX_PROGRESS_BYTES` each; the
        others are dropped and counted in the logs), its ``request`` and ``submit`` lines
        are answered through ``on_request`` (at most :data:`MAX_REQUESTS`, ``timeout_ms``
        cut to what the task has left) and its ``log`` lines end up in
        :attr:`TaskOutcome.logs`.

        Nothing the agent does raises out of here. A task the agent answered, even with
        an error, is ``status=ok``; a fault (timeout, crash, garbage, a flood, a memory
        limit) is ``ok=False`` with the fault's status, and the process is killed
        (lifecycle ``error``): the caller restarts it with :meth:`start`.

        Example::

            worker = ProcessWorker(resolve_agent("builtin:echo"))
            worker.start()
            outcome = worker.serve(
                {"id": "t1", "type": "echo", "payload": {"hi": 1}},
                timeout_ms=5000,
                on_progress=lambda data: print("progress", data),
                on_request=lambda line: {"ok": False, "error": "unknown target"},
            )
            assert outcome.ok and outcome.result == {"hi": 1}
            if outcome.status is not AgentStatus.OK:
                worker.start()  # the faulted process is gone
            worker.close()

        Raises:
            InvalidArgumentError: ``task`` is not JSON (the caller's bug, not the agent's).

        """
        started = time.monotonic()
        if self._start_fault is not None:
            fault = self._start_fault
            return TaskOutcome(False, error=fault.detail, status=fault.status)
        if self.proc is None or self._broken:
            return TaskOutcome(False, error="agent process is not running", status=_S.CRASHED)
        task_id = str(task.get("id"))
        self._logs = []
        self._stderr.clear()
        self._task, self._on_request, self._on_progress = task_id, on_request, on_progress
        self._requests = self._progress_sent = self._progress_dropped = 0
        if self.lifecycle.state is not LifecycleState.BUSY:
            self.lifecycle.move(LifecycleState.BUSY, f"task {task_id[:64]}")
        deadline = started + timeout_ms / 1000
        message = {
            "type": "task",
            "id": task_id,
            "task_type": task.get("type"),
            "payload": task.get("payload"),
            "deadline_ms": timeout_ms,
        }
        try:
            self._send(message, deadline)
            reply = self._receive(deadline, expect_step=None)
        except _FaultError as fault:
            status = self._classify(fault.status)  # before _fail: it removes the cgroup
            self._fail(fault)
            return self._outcome(False, None, fault.detail, status, started)
        finally:
            self._task = self._on_request = self._on_progress = None
            self._outbox = Outbox()  # publishing is for matches: dropped in a task
        if reply.get("ok") is True:
            outcome = self._outcome(True, reply.get("result"), "", _S.OK, started)
        else:
            error = reply.get("error", "")
            text = error[-MAX_LOG_CHARS:] if isinstance(error, str) else "<non-text error>"
            status = _S.OK
            if reply.get("kind") == "limit_exceeded":  # MemoryError and friends: restart
                status = _S.LIMIT_EXCEEDED
                self._fail(_FaultError(status, text))
            outcome = self._outcome(False, None, text, status, started)
        if self.lifecycle.state is LifecycleState.BUSY:
            self.lifecycle.move(LifecycleState.IDLE, f"task {task_id[:64]} done")
        return outcome

    def _outcome(
        self, ok: bool, result: Any, error: str, status: AgentStatus, started: float
    ) -> TaskOutcome:
        logs = list(self._logs)
        if self._progress_dropped:
            logs.append(
                f"host: dropped {self._progress_dropped} progress lines (at most "
                f"{MAX_PROGRESS} per task, {MAX_PROGRESS_BYTES} bytes each)"
            )
        elapsed = (time.monotonic() - started) * 1000
        return TaskOutcome(ok, result, error, status, elapsed, logs)

    # -- wire ---------------------------------------------------------------------------
    def _fail(self, fault: _FaultError) -> None:
        self._broken = True
        if self.proc is not None:
            self._drain_stderr()
            self._final_usage = self.proc.cpu_and_peak()
            self.proc.close(grace=0.0)
            self.proc = None
        with contextlib.suppress(Exception):
            self.lifecycle.move(LifecycleState.ERROR, f"{fault.status.value}: {fault.detail[:200]}")

    def _classify(self, status: AgentStatus) -> AgentStatus:
        """Promote a fault to ``limit_exceeded`` when a resource limit caused it."""
        if self.proc is None:
            return status
        if any(marker in self._stderr for marker in _LIMIT_MARKERS):
            return _S.LIMIT_EXCEEDED
        if self.proc.cgroup is not None:
            after, before = self.proc.raw_usage(), self._hits_seen
            self._hits_seen = after
            if (
                after.oom_kills > before.oom_kills
                or after.pids_hits > before.pids_hits
                or after.memory_hits > before.memory_hits
            ):
                return _S.LIMIT_EXCEEDED
        if self.proc.exit_signal() in (signal.SIGXCPU, signal.SIGXFSZ):
            return _S.LIMIT_EXCEEDED
        return status

    def _send(self, message: dict[str, Any], deadline: float) -> None:
        assert self.proc is not None
        try:
            data = memoryview(_encode(message).encode() + b"\n")
        except (TypeError, ValueError) as exc:
            # A scenario bug, not the agent's fault.
            raise InvalidArgumentError(f"message for the agent is not JSON: {exc}") from None
        fd = self.proc.stdin_fd
        while data:
            try:
                data = data[os.write(fd, data) :]
            except BlockingIOError:
                self._wait_writable(fd, deadline)
            except OSError as exc:  # EPIPE: the agent is gone or closed its input
                raise _FaultError(
                    _S.CRASHED, f"agent stopped reading its input ({exc.strerror})"
                ) from None

    def _wait_writable(self, fd: int, deadline: float) -> None:
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _FaultError(_S.TIMEOUT, "agent did not read its input before the deadline")
            if poller.poll(max(1, int(remaining * 1000))):
                return
            self._drain_stderr()

    def _receive(self, deadline: float, *, expect_step: int | None) -> dict[str, Any]:
        """Read lines until a reply (action, error or ready) arrives or the deadline passes."""
        assert self.proc is not None
        stdout_fd = self.proc.stdout_fd
        received = discarded = 0
        self._deadline = deadline
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = self._buffer[:end]
                self._buffer = self._buffer[end + 1 :]
                reply = self._handle(line, expect_step)
                if reply is not None:
                    return reply
                continue
            if len(self._buffer) > MAX_LINE_BYTES and self._buffer.startswith(_PUBLISH_PREFIX):
                self._outbox.refuse(None, f"publish line longer than {MAX_LINE_BYTES} bytes")
                self._buffer, self._skipping = b"", True
            if len(self._buffer) > MAX_LINE_BYTES:
                raise _FaultError(_S.PROTOCOL_ERROR, f"line longer than {MAX_LINE_BYTES} bytes")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _FaultError(_S.TIMEOUT, "no reply before the deadline")
            for fd, _ in self._poller.poll(remaining * 1000 + 0.5):
                if fd == stdout_fd:
                    try:
                        chunk = os.read(fd, 1 << 16)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        self._wait_exit()
                        raise _FaultError(_S.CRASHED, self._exit_detail())
                    if self._skipping:  # the rest of an over-long publish line
                        discarded += len(chunk)
                        if discarded > MAX_MOVE_DISCARD:
                            raise _FaultError(
                                _S.PROTOCOL_ERROR,
                                f"more than {MAX_MOVE_DISCARD} bytes of refused publish lines",
                            )
                        end = chunk.find(b"\n")
                        if end < 0:
                            continue
                        chunk, self._skipping = chunk[end + 1 :], False
                    received += len(chunk)
                    if received > MAX_MOVE_OUTPUT:
                        raise _FaultError(
                            _S.PROTOCOL_ERROR,
                            f"more than {MAX_MOVE_OUTPUT} bytes of output in one move",
                        )
                    self._buffer += chunk
                else:
                    self._drain_stderr()

    def _handle(self, line: bytes, expect_step: int | None) -> dict[str, Any] | None:
        if len(line) > MAX_LINE_BYTES and line.startswith(_PUBLISH_PREFIX):
            self._outbox.refuse(None, f"publish line longer than {MAX_LINE_BYTES} bytes")
            return None
        if len(line) > MAX_LINE_BYTES:
            raise _FaultError(_S.PROTOCOL_ERROR, f"line longer than {MAX_LINE_BYTES} bytes")
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: hostile nesting depth
            raise _FaultError(_S.PROTOCOL_ERROR, f"malformed JSON line: {line[:120]!r}") from None
        if not isinstance(message, dict):
            raise _FaultError(
                _S.PROTOCOL_ERROR, f"a line must be a JSON object, got {line[:120]!r}"
            )
        kind = message.get("type")
        if kind == "log":
            text = message.get("message", "")
            if len(self._logs) < MAX_LOG_LINES:
                self._logs.append(
                    text[:MAX_LOG_CHARS] if isinstance(text, str) else "<non-text log>"
                )
            return None
        if kind == "publish":
            self._outbox.offer(message, len(line))
            return None
        if kind in ("request", "submit"):
            self._answer(kind, message, len(line))
            return None
        if kind == "progress":
            if self._task is not None:
                self._progress(message, len(line))
            return None  # outside a task there is nobody to tell
        if kind == "reply":
            return None  # reserved
        if self._task is not None:
            if kind != "task_result":
                raise _FaultError(
                    _S.PROTOCOL_ERROR, f"unexpected message type {kind!r} while handling a task"
                )
            if message.get("id") != self._task:
                raise _FaultError(
                    _S.PROTOCOL_ERROR,
                    f"task_result for task {str(message.get('id'))[:80]!r}, "
                    f"expected {self._task[:80]!r}",
                )
            if not isinstance(message.get("ok"), bool):
                raise _FaultError(_S.PROTOCOL_ERROR, "task_result needs ok: true or false")
            return message
        if kind == "action" and expect_step is not None:
            if message.get("step") != expect_step or "action" not in message:
                raise _FaultError(
                    _S.PROTOCOL_ERROR,
                    f"action for step {message.get('step')!r}, expected step {expect_step}",
                )
            return message
        if kind == "ready" and expect_step is None:
            return message
        if kind == "error":
            if expect_step is None:
                raise _FaultError(
                    _S.CRASHED, f"agent failed to start: {str(message.get('message'))[-800:]}"
                )
            if message.get("step") != expect_step:
                raise _FaultError(
                    _S.PROTOCOL_ERROR,
                    f"error for step {message.get('step')!r}, expected {expect_step}",
                )
            return message
        raise _FaultError(_S.PROTOCOL_ERROR, f"unexpected message type {kind!r}")

    def _answer(self, kind: str, message: dict[str, Any], size: int) -> None:
        """Answer a ``request`` or ``submit`` line with a ``response`` (never a fault)."""
        ident = message.get("id")
        if isinstance(ident, bool) or not isinstance(ident, str | int):
            ident = None
        self._requests += 1
        left_ms = int((self._deadline - time.monotonic()) * 1000)
        handler = self._on_request
        target = message.get("to") if kind == "request" else message.get("task_type")
        refusal = ""
        if ident is None:
            refusal = f"a {kind} needs an id (a string)"
        elif self._requests > MAX_REQUESTS:
            refusal = f"over the request limit ({MAX_REQUESTS} per move or task)"
        elif size > MAX_REQUEST_BYTES:
            refusal = f"{kind} over {MAX_REQUEST_BYTES} bytes"
        elif kind == "submit" and self._task is None:
            refusal = "submit is for service agents"
        elif not isinstance(target, str) or not 0 < len(target) <= 255:
            field = "to" if kind == "request" else "task_type"
            refusal = f"a {kind} needs {field}: a name of 1-255 characters"
        elif handler is None:
            refusal = "requests are not available here"
        elif left_ms <= 0:
            refusal = "no time left"
        if refusal:
            self._respond(ident, {"ok": False, "error": refusal})
            return
        assert handler is not None
        asked = message.get("timeout_ms")
        timeout_ms = DEFAULT_REQUEST_MS
        if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
            timeout_ms = asked
        timeout_ms = min(timeout_ms, left_ms)
        try:
            answer = handler({**message, "timeout_ms": timeout_ms})
        except Exception as exc:  # the handler's bug: still not the agent's fault
            answer = {"ok": False, "error": f"the host could not answer: {type(exc).__name__}"}
        self._respond(ident, answer)

    def _respond(self, ident: str | int | None, answer: Any) -> None:
        ok = isinstance(answer, dict) and answer.get("ok") is True
        response: dict[str, Any] = {"type": "response", "id": ident, "ok": ok}
        if ok:
            response["payload"] = answer.get("payload")
        else:
            error = answer.get("error") if isinstance(answer, dict) else None
            response["error"] = str(error or "refused")[:MAX_LOG_CHARS]
        try:
            self._send(response, self._deadline)
        except InvalidArgumentError:
            fallback = {"type": "response", "id": ident, "ok": False, "error": "answer not JSON"}
            self._send(fallback, self._deadline)

    def _progress(self, message: dict[str, Any], size: int) -> None:
        data = message.get("data")
        fits = size <= MAX_PROGRESS_BYTES
        if not fits:
            with contextlib.suppress(TypeError, ValueError, RecursionError):
                fits = len(_encode(data)) <= MAX_PROGRESS_BYTES
        if not fits or self._progress_sent >= MAX_PROGRESS or message.get("id") != self._task:
            self._progress_dropped += 1
            return
        self._progress_sent += 1
        if self._on_progress is not None:
            with contextlib.suppress(Exception):  # the watcher's bug, not the agent's
                self._on_progress(data)

    def _drain_stderr(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            for _ in range(64):
                chunk = os.read(self.proc.stderr_fd, 1 << 16)
                if not chunk:
                    return
                room = MAX_STDERR_BYTES - len(self._stderr)
                if room > 0:
                    self._stderr += chunk[:room]

    def _wait_exit(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(Exception):
            self.proc.popen.wait(timeout=0.2)
        self._drain_stderr()

    def _exit_detail(self) -> str:
        assert self.proc is not None
        code = self.proc.popen.returncode
        if code is None:
            return "agent closed its output"
        killed_by = self.proc.exit_signal()
        if killed_by is not None:
            return f"agent killed by signal {signal.Signals(killed_by).name}"
        tail = self._stderr[-400:].decode(errors="replace").strip()
        return f"agent exited with status {code}" + (f": {tail}" if tail else "")
