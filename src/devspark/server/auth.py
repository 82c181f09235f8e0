"""Who is calling: the authenticated actor of a request (bearer token or API key)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from devspark.core.errors import PermissionDeniedError, UnauthenticatedError
from devspark.server.deps import get_session
from devspark.server.errors import ErrorBody
from devspark.services import accounts
from devspark.services.accounts import Action, Role, TokenService
from devspark.services.roles import KEY_SCOPES  # the scopes' home; re-exported for routes
from devspark.store.models import ApiKeyRow, UserRow

API_KEY_HEADER = "X-API-Key"
"""Header carrying an API key (``dsk_<prefix>_<secret>``)."""

bearer_scheme = HTTPBearer(
    scheme_name="BearerAuth",
    bearerFormat="JWT",
    description="An access token from `POST /api/v1/auth/login` or `/refresh`.",
    auto_error=False,
)
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKeyAuth",
    description="An API key from `POST /api/v1/users/me/api-keys` (`dsk_...`).",
    auto_error=False,
)

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Unauthenticated: no valid credentials."},
    403: {"model": ErrorBody, "description": "Permission denied: the caller may not do this."},
}
"""OpenAPI responses of every route that requires credentials."""


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated caller of a request.

    Attributes:
        user: The account.
        role: Its role.
        via: ``"token"`` (a bearer access token) or ``"api_key"``.
        api_key: The key used, when ``via`` is ``"api_key"``.

    """

    user: UserRow
    role: Role
    via: str
    api_key: ApiKeyRow | None = None

    @property
    def is_admin(self) -> bool:
        """Whether the caller is an administrator."""
        return self.role is Role.ADMIN


def _from_token(request: Request, session: Session, token: str) -> Actor:
    tokens: TokenService = request.app.state.tokens
    claims = tokens.check_access(session, token)  # refused once its login is revoked
    user = session.get(UserRow, claims.user_id)
    if user is None:
        raise UnauthenticatedError("access token names an account that no longer exists")
    if user.disabled:
        raise PermissionDeniedError(f"account {user.username!r} is disabled")
    # The stored role wins over the token's claim, so a role change applies at once.
    return Actor(user=user, role=Role(user.role), via="token")


async def optional_actor(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Actor | None:
    """FastAPI dependency: the caller when it sent credentials, ``None`` when it sent none.

    A bearer access token (``Authorization: Bearer <jwt>``) is tried first, then an
    ``X-API-Key`` header. Credentials that are present but bad are refused, never
    ignored.

    Args:
        request: The current request (its app holds the token service).
        session: The request's database session.
        bearer: The parsed ``Authorization: Bearer`` header, if any.
        api_key: The ``X-API-Key`` header, if any.

    Returns:
        The actor, or ``None`` for an anonymous request.

    Raises:
        UnauthenticatedError: An expired, tampered or unknown token or key (401).
        PermissionDeniedError: The account is disabled (403).

    """
    if bearer is None and api_key is None:
        return None  # anonymous: no database work, no thread hop
    return await run_in_threadpool(_resolve_actor, request, session, bearer, api_key)


def _resolve_actor(
    request: Request,
    session: Session,
    bearer: HTTPAuthorizationCredentials | None,
    api_key: str | None,
) -> Actor:
    if bearer is not None:
        return _from_token(request, session, bearer.credentials)
    assert api_key is not None
    identity = accounts.authenticate_api_key(session, api_key)
    session.commit()  # keep last_used_at even when the route changes nothing
    return Actor(
        user=identity.user, role=Role(identity.user.role), via="api_key", api_key=identity.key
    )


async def current_actor(
    actor: Annotated[Actor | None, Depends(optional_actor)],
) -> Actor:
    """FastAPI dependency: the authenticated caller; 401 when there are no credentials.

    Args:
        actor: The caller from :func:`optional_actor`.

    Returns:
        The actor.

    Raises:
        UnauthenticatedError: No credentials were sent (or they were bad).

    """
    if actor is None:
        raise UnauthenticatedError(
            f"authentication required: send 'Authorization: Bearer <access token>' "
            f"or '{API_KEY_HEADER}: dsk_...'"
        )
    return actor


def require(action: Action) -> Callable[[Actor], Awaitable[Actor]]:
    """Build a dependency that admits callers whose role may perform ``action``.

    This is a role-level gate: for owned actions (``update``, ``delete``) it asks whether
    the role may act on *its own* resources; whether the caller owns the resource at hand
    is checked by the service.

    Args:
        action: The action the route performs.

    Returns:
        A dependency returning the admitted :class:`Actor`.

    """

    async def dependency(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if not accounts.can(actor.role, action, owner_id=actor.user.id, actor_id=actor.user.id):
            raise PermissionDeniedError(
                f"role {actor.role.value!r} may not {action.value} here "
                f"(user {actor.user.username!r})"
            )
        return actor

    return dependency


def require_key_scope(actor: Actor, scope: str) -> None:
    """Refuse an API-key caller whose key lacks ``scope``; token callers always pass.

    Args:
        actor: The caller.
        scope: The scope needed, ``"resource:verb"``.

    Raises:
        PermissionDeniedError: The key lacks the scope (403).

    """
    if actor.api_key is not None:
        accounts.require_scope(actor.api_key, scope)


def actor_kind(actor: Actor) -> str:
    """The audit log's ``actor_kind`` for ``actor`` (``"user"`` or ``"api_key"``)."""
    return "api_key" if actor.api_key is not None else "user"


__all__ = [
    "API_KEY_HEADER",
    "AUTH_RESPONSES",
    "KEY_SCOPES",
    "Actor",
    "actor_kind",
    "api_key_scheme",
    "bearer_scheme",
    "current_actor",
    "optional_actor",
    "require",
    "require_key_scope",
]
