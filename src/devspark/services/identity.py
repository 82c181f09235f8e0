"""Who a presented credential names: an API key or an access token, checked in one go.

Used where a request carries no FastAPI dependencies (the live WebSocket): one call
opens a session, checks the credential, and answers with the account's name and role.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from devspark.core.errors import PermissionDeniedError, UnauthenticatedError
from devspark.services import accounts
from devspark.services.accounts import API_KEY_PREFIX, TokenService
from devspark.store.models import UserRow


@dataclass(frozen=True, slots=True)
class Identity:
    """The account behind a credential.

    Attributes:
        username: Its username.
        role: Its role.

    """

    username: str
    role: str


def identify(factory: sessionmaker[Session], tokens: TokenService, credential: str) -> Identity:
    """Check an API key (``dsk_...``) or an access token, and name its account (blocking).

    A key's ``last_used_at`` is recorded and committed; a token is checked against
    revoked logins.

    Args:
        factory: Opens the session the check runs in.
        tokens: Checks access tokens.
        credential: The key or the token, as presented.

    Returns:
        The account's username and role.

    Raises:
        UnauthenticatedError: A bad, unknown or revoked credential, or one naming an
            account that no longer exists.
        PermissionDeniedError: The account is disabled.

    """
    with factory() as session:
        if credential.startswith(f"{API_KEY_PREFIX}_"):
            identity = accounts.authenticate_api_key(session, credential)
            session.commit()  # keep last_used_at
            user = identity.user
        else:
            claims = tokens.check_access(session, credential)  # revoked logins too
            found = session.get(UserRow, claims.user_id)
            if found is None:
                raise UnauthenticatedError("access token names an account that no longer exists")
            user = found
        if user.disabled:
            raise PermissionDeniedError(f"account {user.username!r} is disabled")
        return Identity(username=user.username, role=str(user.role))


__all__ = ["Identity", "identify"]
