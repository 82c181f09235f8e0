"""The error family shared by every layer.

Each error carries a canonical ``code`` (the API maps code to HTTP status, the CLI
maps it to an exit status, each in one place). Messages name the argument and the
bad value.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import ClassVar


class DevSparkError(Exception):
    """Root of every error DevSpark raises on purpose."""

    code: ClassVar[str] = "internal"


class InvalidArgumentError(DevSparkError, ValueError):
    """An argument, manifest field or request value is malformed."""

    code = "invalid_argument"


class NotFoundError(DevSparkError, LookupError):
    """A named thing (scenario, agent, file) does not exist."""

    code = "not_found"


class FailedPreconditionError(DevSparkError):
    """The system is not in a state where the operation can run.

    For example an isolation level whose tools are not installed.
    """

    code = "failed_precondition"


class DeadlineExceededError(DevSparkError, TimeoutError):
    """An operation ran past its deadline."""

    code = "deadline_exceeded"


class ConflictError(DevSparkError):
    """The operation conflicts with existing state (duplicate, immutable)."""

    code = "conflict"


class PermissionDeniedError(DevSparkError, PermissionError):
    """The caller may not perform the operation."""

    code = "permission_denied"


class UnauthenticatedError(PermissionDeniedError):
    """The caller did not prove who it is: bad credentials, or an expired or unknown token.

    A :class:`PermissionDeniedError` (so code that refuses either catches both) with its
    own code, which the API answers with 401 instead of 403.
    """

    code = "unauthenticated"


class ResourceExhaustedError(DevSparkError):
    """A quota or rate limit is used up; the caller may retry later.

    Attributes:
        retry_after: Seconds after which a retry may succeed, when known.

    """

    code = "resource_exhausted"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean `swiss`?)`` for the choices nearest ``word``, else ``""``.

    Args:
        word: What was given.
        choices: What is allowed.

    """
    near = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not near:
        return ""
    return " (did you mean " + " or ".join(f"`{name}`" for name in near) + "?)"
