"""The host side of ``context.request("sys.…", payload)``: the collaboration tools.

:class:`ToolRouter` answers an agent's ``request`` line for the targets ``sys.memory``,
``sys.consensus``, ``sys.discovery`` and ``sys.teams`` (``payload = {"op": ..., ...}``,
see docs/collaboration.md), checking the agent's capabilities first:
``bus:request:PATTERN`` must match the target and shared memory also needs
``memory:read:PATTERN`` / ``memory:write:PATTERN`` on the space. It returns the
:data:`~devspark.core.ports.RequestHandler` answer, ``{"ok": True, "payload": ...}`` or
``{"ok": False, "error": "..."}``, and never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from devspark.bus.tools.access import require
from devspark.bus.tools.consensus import Consensus
from devspark.bus.tools.directory import Discovery, Teams
from devspark.bus.tools.memory import MemoryStore, SharedMemory
from devspark.core.errors import DevSparkError, InvalidArgumentError, PermissionDeniedError
from devspark.core.ports import RequestHandler

TARGETS = ("sys.memory", "sys.consensus", "sys.discovery", "sys.teams")
"""The targets the router answers."""
OPS: Mapping[str, tuple[str, ...]] = {
    "sys.memory": ("get", "put", "delete", "keys"),
    "sys.consensus": ("propose", "vote", "result"),
    "sys.discovery": ("register", "unregister", "find", "list"),
    "sys.teams": ("form", "dissolve", "get", "list"),
}
"""The ``op`` values each target knows."""

Answer = dict[str, Any]
_Op = Callable[[str, Sequence[str], dict[str, Any]], Any]


class ToolRouter:
    """Answers ``sys.*`` requests from the tools it holds (one set per scope).

    Args:
        capabilities_of: The manifest capabilities of a requester (by its name).
        memory, consensus, discovery, teams: The tools (fresh in-process ones when
            omitted; ``memory`` may be a :class:`~devspark.bus.tools.redis_memory.RedisSharedMemory`).
        deadline_field: The payload field of a proposal's deadline, relative to now:
            ``deadline_ms`` (wall time) or, in a match, ``deadline_steps``.
        deadline_scale: Clock units per unit of ``deadline_field`` (the default clock
            counts seconds, so 0.001 for ``deadline_ms``).
        fallback: Answers requests for other targets (``svc.*``); without one they
            are refused.

    """

    def __init__(
        self,
        capabilities_of: Callable[[str], Sequence[str]],
        *,
        memory: MemoryStore | None = None,
        consensus: Consensus | None = None,
        discovery: Discovery | None = None,
        teams: Teams | None = None,
        deadline_field: str = "deadline_ms",
        deadline_scale: float = 0.001,
        fallback: RequestHandler | None = None,
    ) -> None:
        self.capabilities_of = capabilities_of
        self.memory: MemoryStore = memory or SharedMemory()
        self.consensus = consensus or Consensus()
        self.discovery = discovery or Discovery()
        self.teams = teams or Teams(self.discovery)
        self.deadline_field = deadline_field
        self.deadline_scale = deadline_scale
        self.fallback = fallback
        self._ops: dict[str, dict[str, _Op]] = {
            "sys.memory": {
                "get": self._memory_get,
                "put": self._memory_put,
                "delete": self._memory_delete,
                "keys": self._memory_keys,
            },
            "sys.consensus": {
                "propose": self._propose,
                "vote": self._vote,
                "result": self._result,
            },
            "sys.discovery": {
                "register": self._register,
                "unregister": self._unregister,
                "find": self._find,
                "list": self._members,
            },
            "sys.teams": {
                "form": self._form,
                "dissolve": self._dissolve,
                "get": self._team,
                "list": self._teams,
            },
        }

    def handler(self, requester: str) -> RequestHandler:
        """The ``on_request`` handler of ``requester`` (see :meth:`answer`)."""
        return lambda line: self.answer(requester, line)

    def answer(self, requester: str, line: Mapping[str, Any]) -> Answer:
        """Answer one ``request`` (or ``submit``) line of ``requester``; never raises."""
        if line.get("type") == "submit":
            if self.fallback is not None:
                return self.fallback(dict(line))
            return {"ok": False, "error": "submit is for service agents"}
        target = line.get("to")
        if not isinstance(target, str):
            return {"ok": False, "error": "a request needs to: a target name"}
        try:
            capabilities = self.capabilities_of(requester)
            ops = self._ops.get(target)
            if ops is None:
                if self.fallback is not None:
                    return self.fallback(dict(line))
                return {"ok": False, "error": _unknown(target)}
            require(capabilities, "bus:request", target)
            payload = line.get("payload")
            if not isinstance(payload, dict):
                raise InvalidArgumentError(f"{target}: payload must be an object with an op")
            op = ops.get(payload.get("op"))  # type: ignore[arg-type]
            if op is None:
                raise InvalidArgumentError(
                    f"{target}: op {payload.get('op')!r} is not one of {list(OPS[target])}"
                )
            return {"ok": True, "payload": op(requester, capabilities, payload)}
        except DevSparkError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug here is still never the agent's fault
            return {"ok": False, "error": f"{target} failed: {type(exc).__name__}"}

    # ------------------------------------------------------------ sys.memory

    def _memory_get(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        space, key = _space(caps, payload, "read"), payload.get("key")
        entry = self.memory.get(space, key)  # type: ignore[arg-type]
        if entry is None:
            return {"value": None, "version": 0}
        return {"value": entry.value, "version": entry.version}

    def _memory_put(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        space = _space(caps, payload, "write")
        if "value" not in payload:
            raise InvalidArgumentError("sys.memory put needs value")
        version = self.memory.put(
            space,
            payload.get("key"),  # type: ignore[arg-type]
            payload["value"],
            expected_version=_version(payload),
        )
        return {"version": version}

    def _memory_delete(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        space = _space(caps, payload, "write")
        key = payload.get("key")
        deleted = self.memory.delete(space, key, expected_version=_version(payload))  # type: ignore[arg-type]
        return {"deleted": deleted}

    def _memory_keys(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        prefix = payload.get("prefix", "")
        if not isinstance(prefix, str):
            raise InvalidArgumentError(f"prefix {prefix!r} must be a string")
        return {"keys": self.memory.keys(_space(caps, payload, "read"), prefix)}

    # ------------------------------------------------------------ sys.consensus

    def _propose(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        wait = payload.get(self.deadline_field)
        if isinstance(wait, bool) or not isinstance(wait, int | float) or wait <= 0:
            raise InvalidArgumentError(
                f"sys.consensus propose needs {self.deadline_field} > 0, got {wait!r}"
            )
        proposal = self.consensus.propose(
            payload.get("topic"),  # type: ignore[arg-type]
            payload.get("options"),  # type: ignore[arg-type]
            deadline=self.consensus.now() + wait * self.deadline_scale,
            rule=payload.get("rule", "majority"),
            voters=payload.get("voters"),
            quorum=payload.get("quorum"),
            proposer=who,
        )
        return proposal.public()

    def _vote(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        option = payload.get("option")
        return self.consensus.vote(_id(payload), who, option).public()  # type: ignore[arg-type]

    def _result(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        return self.consensus.result(_id(payload)).public()

    # ------------------------------------------------------------ sys.discovery, sys.teams

    def _register(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        offered = payload.get("capabilities")
        return self.discovery.register(who, offered, payload.get("info")).public()  # type: ignore[arg-type]

    def _unregister(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        return {"removed": self.discovery.unregister(who)}

    def _find(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        capability = payload.get("capability")
        if not isinstance(capability, str):
            raise InvalidArgumentError(f"capability {capability!r} must be a string")
        return {"members": [member.public() for member in self.discovery.find(capability)]}

    def _members(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        return {"members": [member.public() for member in self.discovery.members()]}

    def _form(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        return self.teams.form(payload.get("required"), formed_by=who).public()  # type: ignore[arg-type]

    def _dissolve(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        team = self.teams.get(_id(payload))
        if who != team.formed_by and who not in team.members:
            raise PermissionDeniedError(f"only the members of team {team.id} may dissolve it")
        return self.teams.dissolve(team.id).public()

    def _team(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        return self.teams.get(_id(payload)).public()

    def _teams(self, who: str, caps: Sequence[str], payload: dict[str, Any]) -> Any:
        return {"teams": [team.public() for team in self.teams.teams()]}


def _space(caps: Sequence[str], payload: dict[str, Any], access: str) -> str:
    space = payload.get("space")
    if not isinstance(space, str):
        raise InvalidArgumentError(f"sys.memory needs space: a name, got {space!r}")
    require(caps, f"memory:{access}", space)
    return space


def _version(payload: dict[str, Any]) -> int | None:
    version = payload.get("expected_version")
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise InvalidArgumentError(f"expected_version {version!r} must be an int >= 0")
    return version


def _id(payload: dict[str, Any]) -> str:
    ident = payload.get("id")
    if not isinstance(ident, str):
        raise InvalidArgumentError(f"id {ident!r} must be a string")
    return ident


def _unknown(target: str) -> str:
    if target.startswith("svc."):
        return f"unknown target {target!r}: service tasks are not available here"
    return f"unknown target {target!r} (targets here: {', '.join(TARGETS)})"


__all__ = ["OPS", "TARGETS", "ToolRouter"]
