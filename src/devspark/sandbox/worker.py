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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devspark.core.errors import InvalidArgumentError
from devspark.core.isolation import IsolationLevel
from devspark.core.lifecycle import Lifecycle, LifecycleState
from devspark.core.ports import AgentPackage, Decision, EpisodeLog
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

    # -- process management -------------------------------------------------------------
    def start(self) -> None:
        """Start the process and wait for ``ready`` (a failure is kept as a start fault)."""
        self.lifecycle.move(LifecycleState.DEPLOYING, f"starting at isolation {self.level.value}")
        self._start_fault = None
        try:
            self.proc = self._spawn()
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
    ) -> Decision:
        """Ask for an action under the move deadline plus what is left of the bank.

        ``messages`` and ``bus_errors`` ride on the ``observe`` line; the publishes the
        agent writes before its reply come back in :attr:`Decision.published` (and the
        refused ones in :attr:`Decision.bus_errors`).
        """
        decision = self._act(step, observation, legal_actions, bus_fields(messages, bus_errors))
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
        if kind == "action" and expect_step is not None:
            if message.get("step") != expect_step or "action" not in message:
                raise _FaultError(
                    _S.PROTOCOL_ERROR,
                    f"action for step {message.get('step')!r}, expected step {expect_step}",
                )
            return message
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
        if kind in ("request", "reply"):
            return None  # reserved: agent-to-agent requests do not exist yet
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
