"""Roles and what each may do; shared checks on text and enumerated values.

Part of the accounts service (:mod:`devspark.services.accounts` re-exports these names).
"""

from __future__ import annotations

import difflib
import uuid
from enum import StrEnum
from typing import TypeVar

from devspark.core.errors import InvalidArgumentError

__all__ = [
    "KEY_SCOPES",
    "Action",
    "Role",
    "can",
    "check_text",
    "enum_value",
    "parse_role",
    "role_scopes",
]

_E = TypeVar("_E", bound=StrEnum)

# --------------------------------------------------------------------------- roles


class Role(StrEnum):
    """An account's role (stored in ``users.role``)."""

    VIEWER = "viewer"
    USER = "user"
    AGENT = "agent"
    ADMIN = "admin"


class Action(StrEnum):
    """What a caller wants to do with a resource."""

    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    EXECUTE = "execute"
    ADMIN = "admin"


_ALLOWED: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.READ}),
    Role.USER: frozenset({Action.READ, Action.CREATE, Action.UPDATE, Action.DELETE}),
    Role.AGENT: frozenset({Action.READ, Action.EXECUTE}),
    Role.ADMIN: frozenset(Action),
}
_OWNED_ACTIONS = frozenset({Action.UPDATE, Action.DELETE})


def can(
    role: Role | str,
    action: Action | str,
    *,
    owner_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
) -> bool:
    """Whether ``role`` may perform ``action`` on a resource owned by ``owner_id``.

    The matrix ("own" means ``owner_id == actor_id``, both given):

    ======  ====  ======  ======  ======  =======  =====
    role    read  create  update  delete  execute  admin
    ======  ====  ======  ======  ======  =======  =====
    viewer  yes   no      no      no      no       no
    user    yes   yes     own     own     no       no
    agent   yes   no      no      no      yes      no
    admin   yes   yes     yes     yes     yes      yes
    ======  ====  ======  ======  ======  =======  =====

    ``read`` means public resources (what a route exposes to any authenticated caller);
    ``execute`` is what an agent identity does: submit results, fetch what it plays with.
    A user's ``update``/``delete`` without a known owner is refused (fail closed). API
    key scopes narrow this further (see :func:`has_scope`); they never widen it.

    Args:
        role: The actor's role.
        action: The action asked for.
        owner_id: Owner of the resource, when it has one.
        actor_id: The actor's user id.

    Raises:
        InvalidArgumentError: ``role`` or ``action`` is not a known value.
    """
    role = enum_value(Role, role, "role")
    action = enum_value(Action, action, "action")
    if action not in _ALLOWED[role]:
        return False
    if role is Role.ADMIN or action not in _OWNED_ACTIONS:
        return True
    return owner_id is not None and actor_id is not None and owner_id == actor_id


# ------------------------------------------------------------------- API key scopes

KEY_SCOPES: dict[str, str] = {
    "agents:write": "upload agents and versions; start, stop and deprecate them",
    "matches:write": "create matches",
    "tournaments:write": "create, start and cancel tournaments",
    "users:read": "read the calling account (and, for an admin, the accounts)",
    "users:write": "change an account's role or disable it (admins only)",
    "api_keys:read": "list the caller's API keys",
    "api_keys:write": "create and revoke API keys",
}
"""Every scope an API key is checked for, with what it allows.

Reads of public data need no scope. A key may also hold ``resource:*`` or ``*``.
``GET /api/v1/users/me/api-keys/scopes`` serves this list (the dashboard's key form).
"""

_SCOPE_ACTIONS: dict[str, frozenset[Action]] = {
    "agents:write": frozenset({Action.CREATE, Action.UPDATE, Action.DELETE}),
    "matches:write": frozenset({Action.CREATE, Action.EXECUTE}),
    "tournaments:write": frozenset({Action.CREATE, Action.UPDATE}),
    "users:read": frozenset({Action.READ}),
    "users:write": frozenset({Action.ADMIN}),
    "api_keys:read": frozenset({Action.READ}),
    "api_keys:write": frozenset({Action.READ}),  # every account manages its own keys
}
"""The actions behind each scope: a role that may do none of them has no use for it."""


def role_scopes(role: Role | str) -> list[str]:
    """Every scope of :data:`KEY_SCOPES` that ``role`` can use, in that table's order.

    A key holding these acts with everything its role may do, and nothing more (scopes
    narrow a role, never widen it).

    Raises:
        InvalidArgumentError: ``role`` is not a role (with a suggestion).

    """
    allowed = _ALLOWED[parse_role(role)]
    return [scope for scope in KEY_SCOPES if _SCOPE_ACTIONS[scope] & allowed]


def enum_value(kind: type[_E], value: _E | str, name: str) -> _E:
    """The member of ``kind`` named ``value``.

    Raises:
        InvalidArgumentError: No such member; the message lists them and suggests the
            nearest.

    """
    try:
        return kind(value)
    except ValueError:
        allowed = [member.value for member in kind]
        close = difflib.get_close_matches(str(value).lower(), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InvalidArgumentError(
            f"{name} must be one of {', '.join(allowed)}, got {value!r}{hint}"
        ) from None


def parse_role(value: Role | str) -> Role:
    """The :class:`Role` named by ``value``.

    Raises:
        InvalidArgumentError: Not a role; the message lists the roles and suggests the
            nearest one.

    """
    return enum_value(Role, value, "role")


def check_text(name: str, value: str) -> str:
    """Refuse a NUL character in text bound for the database (PostgreSQL cannot store it).

    Args:
        name: The field, named in the error.
        value: The text.

    Returns:
        ``value`` unchanged.

    Raises:
        InvalidArgumentError: ``value`` contains a NUL character (``U+0000``).

    """
    if "\x00" in value:
        raise InvalidArgumentError(f"{name} must not contain NUL characters, got {value!r}")
    return value
