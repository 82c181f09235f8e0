"""Users and their API keys: ``/api/v1/users``.

API-key callers need the matching key scope: ``users:read`` for the account views,
``users:write`` to change an account (admins), ``api_keys:read`` to list keys and
``api_keys:write`` to create or revoke them. Access tokens carry every scope of the
account's role.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from devspark.server.auditing import audit_context
from devspark.server.auth import (
    AUTH_RESPONSES,
    KEY_SCOPES,
    Actor,
    current_actor,
    require,
    require_key_scope,
)
from devspark.server.deps import SessionDep
from devspark.server.errors import NOT_FOUND_RESPONSE, ErrorBody
from devspark.server.pagination import Page, PageParams, page_params
from devspark.server.routes.auth import NO_NUL, UserPublic
from devspark.services import accounts, user_admin
from devspark.services.accounts import SCOPE_PATTERN, Action, Role

router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=AUTH_RESPONSES)

_KEY_EXAMPLE: dict[str, Any] = {
    "id": "5c1d9e2a-7b3f-4a6e-8d0c-1f2e3a4b5c6d",
    "name": "ci",
    "prefix": "3fa85f6457c1",
    "scopes": ["agents:*"],
    "created_at": "2025-01-31T12:00:00Z",
    "last_used_at": None,
    "revoked_at": None,
}

ActorDep = Annotated[Actor, Depends(current_actor)]


class ApiKeyCreate(BaseModel):
    """What a new API key is for."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "ci", "scopes": ["agents:*", "matches:read"]}]}
    )

    name: str = Field(
        min_length=1, max_length=128, pattern=NO_NUL, description="A label for the key."
    )
    scopes: list[Annotated[str, Field(pattern=f"^(?:{SCOPE_PATTERN})$")]] = Field(
        max_length=64,
        description="`resource:verb`, `resource:*` or `*`; they narrow the role, never widen it.",
    )


class UserUpdate(BaseModel):
    """What an administrator changes on an account (omitted fields stay as they are)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"role": "admin"}, {"disabled": True}], "minProperties": 1},
    )

    # Omitted, never null: the schema says so (SkipJsonSchema) and _no_nulls enforces it.
    role: Role | SkipJsonSchema[None] = Field(
        default=None, description="`viewer`, `user`, `agent` or `admin`."
    )
    disabled: StrictBool | SkipJsonSchema[None] = Field(
        default=None, description="`true` disables the account and revokes its tokens."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: object) -> object:
        if isinstance(data, dict):
            nulls = sorted(str(key) for key, value in data.items() if value is None)
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: omit a field to leave it as it is, not null")
        return data

    @field_validator("role", mode="before")
    @classmethod
    def _known_role(cls, value: object) -> object:
        # Role's own error lists the values; this one also suggests the nearest.
        return accounts.parse_role(value) if isinstance(value, str) else value


class ApiKeyPublic(BaseModel):
    """An API key as listed: never its secret or hash."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: uuid.UUID
    name: str
    prefix: str = Field(description="Public part of the key, `dsk_<prefix>_...`.")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    """A new API key with its secret, shown this once."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_KEY_EXAMPLE, "key": "dsk_3fa85f6457c1_" + "0123456789abcdef" * 4}]
        }
    )

    key: str = Field(description="The whole key, `dsk_<prefix>_<secret>`; store it now.")


@router.get("/me", summary="The calling account")
def me(actor: ActorDep) -> UserPublic:
    """The account the credentials belong to."""
    require_key_scope(actor, "users:read")
    return UserPublic.model_validate(actor.user)


@router.get("", summary="List accounts (admin)")
def list_users(
    actor: Annotated[Actor, Depends(require(Action.ADMIN))],
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[UserPublic]:
    """Every account, oldest first. Administrators only."""
    require_key_scope(actor, "users:read")
    page = user_admin.list_users(session, params.offset, params.limit)
    items = [UserPublic.model_validate(row) for row in page.items]
    return Page[UserPublic](items=items, total=page.total, offset=page.offset, limit=page.limit)


@router.patch(
    "/{user_id:uuid}",  # not "me": PATCH /me is a 405, not a bad id
    summary="Change an account's role or disable it (admin)",
    responses={
        **NOT_FOUND_RESPONSE,
        409: {"model": ErrorBody, "description": "It would leave no active admin."},
    },
)
def update_user(
    user_id: Annotated[uuid.UUID, Path(description="The account's id.")],
    body: UserUpdate,
    request: Request,
    actor: Annotated[Actor, Depends(require(Action.ADMIN))],
    session: SessionDep,
) -> UserPublic:
    """Set `role` and/or `disabled`; audited (`user.update`). Administrators only.

    Disabling an account revokes its refresh and access tokens at once (its API keys
    stop working while it is disabled). The last active admin can be neither demoted
    nor disabled (409).
    """
    require_key_scope(actor, "users:write")
    change = user_admin.change_user(
        session,
        user_id,
        role=body.role,
        disabled=body.disabled,
        audit=audit_context(request, actor),
    )
    return UserPublic.model_validate(change.user)


@router.post("/me/api-keys", status_code=201, summary="Create an API key")
def create_api_key(
    body: ApiKeyCreate, request: Request, actor: ActorDep, session: SessionDep
) -> ApiKeyCreated:
    """Create a key acting as the caller; the answer holds the secret, shown only once."""
    require_key_scope(actor, "api_keys:write")
    created = user_admin.create_api_key(
        session, actor.user, body.name, body.scopes, audit=audit_context(request, actor)
    )
    public = ApiKeyPublic.model_validate(created.row)
    return ApiKeyCreated(**public.model_dump(), key=created.secret)


class ScopePublic(BaseModel):
    """A scope an API key may hold."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"scope": "matches:write", "allows": "create matches"}]}
    )

    scope: str = Field(description="`resource:verb`.")
    allows: str = Field(description="What a key with this scope may do.")


@router.get("/me/api-keys/scopes", summary="The scopes an API key may hold")
def list_key_scopes(actor: ActorDep) -> list[ScopePublic]:
    """Every scope the server checks API keys for, with what it allows.

    Reads of public data need no scope; a key may also hold `resource:*` or `*`.
    """
    require_key_scope(actor, "api_keys:read")
    return [ScopePublic(scope=scope, allows=allows) for scope, allows in KEY_SCOPES.items()]


@router.get("/me/api-keys", summary="List my API keys")
def list_api_keys(
    actor: ActorDep,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[ApiKeyPublic]:
    """The caller's keys, revoked ones included, oldest first; never their secrets."""
    require_key_scope(actor, "api_keys:read")
    page = user_admin.list_api_keys(session, actor.user.id, params.offset, params.limit)
    items = [ApiKeyPublic.model_validate(row) for row in page.items]
    return Page[ApiKeyPublic](items=items, total=page.total, offset=page.offset, limit=page.limit)


@router.delete(
    "/me/api-keys/{key_id:uuid}",
    status_code=204,
    summary="Revoke an API key",
    responses=NOT_FOUND_RESPONSE,
)
def revoke_api_key(
    key_id: Annotated[uuid.UUID, Path(description="The key's id.")],
    request: Request,
    actor: ActorDep,
    session: SessionDep,
) -> None:
    """Revoke a key: its owner or an administrator may. Revoking twice is harmless."""
    require_key_scope(actor, "api_keys:write")
    user_admin.revoke_api_key(session, key_id, actor.user, audit=audit_context(request, actor))
