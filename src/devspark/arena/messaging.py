"""In-match messages between agents: the host routes what agents publish.

Agents never get a socket. During a move an agent writes ``publish`` lines (see
docs/protocol.md); its worker keeps them within the host's limits in
:attr:`~devspark.core.ports.Decision.published`. After each step :class:`MatchBus`
checks every message against the publisher's manifest (``bus:publish:PATTERN``) and
delivers the accepted ones to every other agent granted ``bus:subscribe:PATTERN`` for
the channel, with its next move. The order is deterministic: by step, then seat, then
publish order, so a re-run of a match with deterministic agents delivers the same
messages in the same order.

Requests an agent makes during a move (``context.request("sys.memory", ...)``) are
answered at once by :class:`MatchTools`: the collaboration tools of this episode
(shared memory, consensus, discovery, teams; :mod:`devspark.bus.tools`), which no
other match sees. Consensus deadlines count steps (``deadline_steps``). When any seat
is granted a ``bus:request`` capability its round's agents are asked one after another
in seat order, so the requests reach the tools in the same order on every run. Each
move's request/answer pairs travel with its decision (:class:`AnsweredDecision`) into
the replay. ``svc.*`` targets and ``submit`` are refused in a match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from devspark.bus.channels import check_channel, matches
from devspark.bus.tools import Consensus, ToolRouter
from devspark.core.errors import InvalidArgumentError
from devspark.core.ports import AgentPackage, Decision, RequestHandler

_PUBLISH = "bus:publish:"
_SUBSCRIBE = "bus:subscribe:"
_REQUEST = "bus:request:"
RECORDED_BYTES = 16 * 1024
"""The largest request payload or answer a replay stores whole (larger: size and hash)."""


def granted(capabilities: Sequence[str], prefix: str) -> list[str]:
    """The channel patterns of ``capabilities`` that start with ``prefix``.

    Args:
        capabilities: A manifest's capabilities, e.g. ``["bus:publish:team.*"]``.
        prefix: ``"bus:publish:"`` or ``"bus:subscribe:"``.

    Returns:
        The patterns, in manifest order.

    """
    return [item.removeprefix(prefix) for item in capabilities if item.startswith(prefix)]


class MatchBus:
    """Routes one episode's messages between its seats.

    Attributes:
        sent: Per seat name, accepted messages.
        refused: Per seat name, refused messages (host limits and capability checks).

    """

    def __init__(self, names: Sequence[str], packages: Sequence[AgentPackage]) -> None:
        """Read every seat's grants.

        Args:
            names: Seat names, in seat order.
            packages: The agents, in the same order.

        """
        self._names = list(names)
        self._publish = {
            name: granted(package.manifest.capabilities, _PUBLISH)
            for name, package in zip(names, packages, strict=True)
        }
        self._subscribe = {
            name: granted(package.manifest.capabilities, _SUBSCRIBE)
            for name, package in zip(names, packages, strict=True)
        }
        self._inbox: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        self._errors: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        self.sent = dict.fromkeys(names, 0)
        self.refused = dict.fromkeys(names, 0)

    def take(self, name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """What ``name`` gets with its next move: (messages, bus errors), then cleared."""
        messages, errors = self._inbox[name], self._errors[name]
        self._inbox[name], self._errors[name] = [], []
        return messages, errors

    def route(self, moves: Sequence[tuple[str, Decision]]) -> None:
        """Check and deliver the messages published in one step's moves.

        Each decision is updated for the record: ``published`` keeps the accepted
        messages, each with ``to`` (the recipients, in seat order), and ``bus_errors``
        gains the capability refusals.

        Args:
            moves: (seat name, decision) of the step, in any order; routed in seat order.

        """
        seat = {name: index for index, name in enumerate(self._names)}
        for name, decision in sorted(moves, key=lambda move: seat[move[0]]):
            accepted: list[dict[str, Any]] = []
            for message in decision.published:
                error = self._refusal(name, message["channel"])
                if error is not None:
                    decision.bus_errors.append(
                        {"channel": message["channel"], "error": error, "count": 1}
                    )
                    continue
                recipients = [
                    other
                    for other in self._names
                    if other != name
                    and any(
                        matches(pattern, message["channel"]) for pattern in self._subscribe[other]
                    )
                ]
                delivered = {
                    "sender": name,
                    "channel": message["channel"],
                    "payload": message["payload"],
                }
                for other in recipients:
                    self._inbox[other].append(dict(delivered))
                accepted.append({**message, "to": recipients})
            decision.published = accepted
            self.sent[name] += len(accepted)
            self.refused[name] += sum(int(entry["count"]) for entry in decision.bus_errors)
            self._errors[name].extend(decision.bus_errors)

    def _refusal(self, name: str, channel: str) -> str | None:
        """Why ``name`` may not publish on ``channel``, or ``None`` when it may."""
        try:
            check_channel(channel)
        except InvalidArgumentError as exc:
            return str(exc)
        if not any(matches(pattern, channel) for pattern in self._publish[name]):
            return f"the manifest grants no bus:publish capability matching {channel!r}"
        return None


@dataclass(slots=True)
class AnsweredDecision(Decision):
    """A decision with the requests its move made and how the host answered them."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    """``{"to", "payload", "ok", "answer" | "error"}`` per request, in the order made."""


class MatchTools:
    """The collaboration tools of one episode, answering its agents' requests.

    Attributes:
        router: Answers ``sys.*`` (capabilities from each seat's manifest).
        sequential: Some seat may request: ask a round's agents one after another.
        step: The step being played (the consensus clock).

    """

    def __init__(self, names: Sequence[str], packages: Sequence[AgentPackage]) -> None:
        """Fresh tools for the seats ``names`` played by ``packages``."""
        grants = {
            name: list(package.manifest.capabilities)
            for name, package in zip(names, packages, strict=True)
        }
        self.step = 0
        self.router = ToolRouter(
            grants.__getitem__,
            consensus=Consensus(lambda: self.step),
            deadline_field="deadline_steps",
            deadline_scale=1,
        )
        self.sequential = any(granted(caps, _REQUEST) for caps in grants.values())

    def ask(self, name: str, step: int, act: Callable[[RequestHandler], Decision]) -> Decision:
        """Run ``act`` (a worker's move) with ``name``'s request handler.

        Returns:
            The decision; an :class:`AnsweredDecision` when the move made requests.

        """
        self.step = step
        asked: list[dict[str, Any]] = []

        def on_request(line: dict[str, Any]) -> dict[str, Any]:
            answer = self.router.answer(name, line)
            target = line.get("to") if line.get("type") != "submit" else line.get("task_type")
            record = {"to": target, "payload": recorded(line.get("payload")), "ok": answer["ok"]}
            if answer["ok"]:
                record["answer"] = recorded(answer.get("payload"))
            else:
                record["error"] = answer.get("error")
            asked.append(record)
            return answer

        decision = act(on_request)
        if not asked:
            return decision
        kept = {item.name: getattr(decision, item.name) for item in fields(Decision)}
        return AnsweredDecision(**kept, requests=asked)


def recorded(value: Any) -> Any:
    """``value`` as a replay keeps it: whole up to :data:`RECORDED_BYTES` of JSON.

    A larger value becomes ``{"omitted_bytes", "sha256"}`` of its compact JSON (still
    compared by ``replay verify``); one that is not plain JSON (NaN, an infinity, from a
    hand-written request line) becomes ``{"unrecordable": reason}``.
    """
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        return {"unrecordable": str(exc)[:200]}
    if len(text) <= RECORDED_BYTES:
        return value
    return {"omitted_bytes": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}


__all__ = ["RECORDED_BYTES", "AnsweredDecision", "MatchBus", "MatchTools", "granted", "recorded"]
