"""In-match messages between agents: the host routes what agents publish.

Agents never get a socket. During a move an agent writes ``publish`` lines (see
docs/protocol.md); its worker keeps them within the host's limits in
:attr:`~devspark.core.ports.Decision.published`. After each step :class:`MatchBus`
checks every message against the publisher's manifest (``bus:publish:PATTERN``) and
delivers the accepted ones to every other agent granted ``bus:subscribe:PATTERN`` for
the channel, with its next move. The order is deterministic: by step, then seat, then
publish order, so a re-run of a match with deterministic agents delivers the same
messages in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from devspark.bus.channels import check_channel, matches
from devspark.core.errors import InvalidArgumentError
from devspark.core.ports import AgentPackage, Decision

_PUBLISH = "bus:publish:"
_SUBSCRIBE = "bus:subscribe:"


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


__all__ = ["MatchBus", "granted"]
