"""Accounts on the wire: ``/api/v1/auth`` register, login, refresh and logout.

Registration always creates a ``user``; administrators are created by the server
operator (``devspark serve`` seeds the first one, ``devspark users set-role`` or
``PATCH /api/v1/users/{id}`` promotes others), never through this route.

Logins are throttled per account (:mod:`devspark.server.login_throttle`): after five
failures the account's logins get 429 with ``Retry-After``, for a time that doubles
with each further failure up to five minutes. Text fields refuse NUL characters (422).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any, Literal

from argon2 import PasswordHasher
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from devspark.core.errors import UnauthenticatedError
from devspark.server.auth import AUTH_RESPONSES
from devspark.server.deps import SessionDep
from devspark.server.errors import ErrorBody, correlation_id
from devspark.server.login_throttle import LoginThrottle
from devspark.services import accounts, logins, user_admin
from devspark.services.accounts import Role, TokenService
from devspark.services.audit import AuditContext
from devspark.services.password_slots import PASSWORD_SLOTS

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

NO_NUL = r"^[^\x00]*$"
"""Pattern of text fields bound for the database: anything but NUL, which PostgreSQL
cannot store (refused with 422 naming the field)."""
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$"
"""What ``accounts.register`` accepts as a username (before lower-casing)."""
EMAIL_PATTERN = r"^[^@\s\x00\x1c-\x1f\x85]+@[^@\s\x00\x1c-\x1f\x85]+$"
"""What ``accounts.register`` accepts as an email address (the separators 0x1c-0x1f and
0x85 are whitespace to Python, so the document excludes them too)."""

_USER_EXAMPLE: dict[str, Any] = {
    "id": "0b7f2c1e-5a4d-4e8b-9c3f-2d1e0a9b8c7d",
    "username": "ada",
    "email": "ada@example.org",
    "role": "user",
    "created_at": "2025-01-31T12:00:00Z",
    "disabled": False,
}


class UserPublic(BaseModel):
    """An account as the API shows it (never its password hash)."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_USER_EXAMPLE]})

    id: uuid.UUID
    username: str = Field(description="Login name, lower-cased.")
    email: str | None = Field(description="Contact address, if given.")
    role: Role = Field(description="`viewer`, `user`, `agent` or `admin`.")
    created_at: datetime
    disabled: bool = Field(description="A disabled account cannot log in or use its keys.")


class RegisterRequest(BaseModel):
    """A new account's credentials."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"username": "ada", "password": "correct horse battery", "email": None}]
        }
    )

    username: str = Field(
        pattern=USERNAME_PATTERN,
        description="3-64 characters of `a-z 0-9 _ . -`, starting with a letter or digit "
        "(stored lower-cased).",
    )
    password: str = Field(min_length=8, max_length=1024, description="At least 8 characters.")
    email: str | None = Field(
        default=None, max_length=320, pattern=EMAIL_PATTERN, description="`name@host`."
    )


class LoginRequest(BaseModel):
    """A username and password."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "ada", "password": "correct horse battery"}]}
    )

    username: str = Field(max_length=64, pattern=NO_NUL)
    password: str = Field(max_length=1024)


class RefreshRequest(BaseModel):
    """A refresh token (from login or the previous refresh)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": "kq3H0l0v8x2D..."}]}
    )

    refresh_token: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    """An access token and the refresh token that will replace it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...",
                    "refresh_token": "kq3H0l0v8x2D...",
                    "token_type": "bearer",
                    "expires_in": 900,
                }
            ]
        }
    )

    access_token: str = Field(description="JWT for `Authorization: Bearer`.")
    refresh_token: str = Field(description="Opaque, single use: `POST /api/v1/auth/refresh`.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 -- the scheme name, not a secret
    expires_in: int = Field(ge=1, description="Seconds until the access token expires.")


def _tokens(request: Request) -> TokenService:
    tokens: TokenService = request.app.state.tokens
    return tokens


def _pair(request: Request, access: str, refresh: str) -> TokenResponse:
    ttl = int(_tokens(request).access_ttl.total_seconds())
    return TokenResponse(access_token=access, refresh_token=refresh, expires_in=ttl)


def _anonymous(request: Request) -> AuditContext:
    """The audit context of a request without credentials (the use case names the actor)."""
    return AuditContext(actor=None, actor_kind="user", correlation_id=correlation_id(request))


_UNAUTHENTICATED: dict[int | str, dict[str, Any]] = {401: AUTH_RESPONSES[401]}


@router.post(
    "/register",
    status_code=201,
    summary="Register an account",
    responses={409: {"model": ErrorBody, "description": "The username is taken."}},
)
def register(body: RegisterRequest, request: Request, session: SessionDep) -> UserPublic:
    """Create an account with the role `user`; log in afterwards to get tokens."""
    hasher: PasswordHasher = request.app.state.hasher
    user = user_admin.register_user(
        session, body.username, body.password, body.email, audit=_anonymous(request), hasher=hasher
    )
    return UserPublic.model_validate(user)


@router.post("/login", summary="Log in", responses=AUTH_RESPONSES)
async def login(body: LoginRequest, request: Request, session: SessionDep) -> TokenResponse:
    """Exchange a username and password for an access token and a refresh token.

    After five failed logins for an account, its logins are refused with 429 and
    `Retry-After` (the correct password too) for 1 s, then twice as long after each
    further failure, at most 300 s; a successful login resets the count.
    """
    throttle: LoginThrottle = request.app.state.login_throttle
    await throttle.check(body.username)
    try:
        async with _login_gate(request):  # waiting logins hold no thread, no connection
            pair = await run_in_threadpool(_login, body, request, session)
    except UnauthenticatedError:
        await throttle.failed(body.username)
        raise
    await throttle.succeeded(body.username)
    return _pair(request, pair.access, pair.refresh)


def _login_gate(request: Request) -> asyncio.Semaphore:
    """The app's bound on logins in progress: as many as argon2 slots (per event loop)."""
    loop = asyncio.get_running_loop()
    held: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = getattr(
        request.app.state, "login_gate", None
    )
    if held is None or held[0] is not loop:
        held = (loop, asyncio.Semaphore(PASSWORD_SLOTS.size))
        request.app.state.login_gate = held
    return held[1]


def _login(body: LoginRequest, request: Request, session: SessionDep) -> accounts.TokenPair:
    hasher: PasswordHasher = request.app.state.hasher
    return logins.log_in(
        session,
        _tokens(request),
        body.username,
        body.password,
        audit=_anonymous(request),
        hasher=hasher,
    )


@router.post("/refresh", summary="Rotate a refresh token", responses=_UNAUTHENTICATED)
def refresh(body: RefreshRequest, request: Request, session: SessionDep) -> TokenResponse:
    """Exchange a refresh token for a new pair; the old token is then spent.

    Presenting a spent token again is taken as theft: the whole family of tokens from
    that login is revoked and the answer is 401.
    """
    pair = logins.refresh(session, _tokens(request), body.refresh_token)
    return _pair(request, pair.access, pair.refresh)


@router.post("/logout", status_code=204, summary="Log out", responses=_UNAUTHENTICATED)
def logout(body: RefreshRequest, request: Request, session: SessionDep) -> None:
    """Revoke the refresh token and every token of the same login, access tokens too.

    Logging out twice is harmless; an unknown token is a 401.
    """
    logins.log_out(session, _tokens(request), body.refresh_token, audit=_anonymous(request))
