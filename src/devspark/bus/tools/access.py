"""Capability checks shared by the collaboration tools (manifest grants, NATS patterns)."""

from __future__ import annotations

from collections.abc import Sequence

from devspark.bus.channels import check_channel, matches
from devspark.core.errors import InvalidArgumentError, PermissionDeniedError


def check_name(kind: str, name: object) -> str:
    """``name`` as a dot-separated channel-style name (a space, a topic), or an error.

    Raises:
        InvalidArgumentError: naming ``kind``, the value and the syntax.

    """
    if not isinstance(name, str):
        raise InvalidArgumentError(f"{kind} must be a string, got {type(name).__name__}")
    try:
        return check_channel(name)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{kind} {name!r}: {exc}") from None


def granted(capabilities: Sequence[str], prefix: str, name: str) -> bool:
    """Whether a ``PREFIX:PATTERN`` capability of ``capabilities`` matches ``name``.

    Args:
        capabilities: A manifest's capabilities, e.g. ``["memory:read:team.*"]``.
        prefix: ``"bus:request"``, ``"memory:read"`` or ``"memory:write"``.
        name: The target, space or channel asked for.

    """
    start = prefix + ":"
    return any(
        matches(item.removeprefix(start), name) for item in capabilities if item.startswith(start)
    )


def require(capabilities: Sequence[str], prefix: str, name: str) -> None:
    """Raise unless :func:`granted`.

    Raises:
        PermissionDeniedError: naming the capability that would allow it.

    """
    if not granted(capabilities, prefix, name):
        raise PermissionDeniedError(
            f"the manifest grants no {prefix} capability matching {name!r} "
            f"(add e.g. {prefix}:{name} to capabilities)"
        )


__all__ = ["check_name", "granted", "require"]
