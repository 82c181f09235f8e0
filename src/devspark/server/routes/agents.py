"""Agent registry over HTTP: ``/api/v1/agents`` and the versions of each agent.

Uploads are multipart (``file``: a .tar.gz or .zip), read only after the caller is
authenticated (:func:`archive_upload`); the server caps their body as it streams (413,
:mod:`devspark.server.guards`). The route reads at most
:data:`MAX_UPLOAD_BYTES` + 1 bytes of the spooled upload and refuses anything larger with
``invalid_argument`` (422) before the archive is opened; the registry then validates the
archive (paths, links, sizes, manifest, licence) and the version order.

Reads are public. Writes need an authenticated caller (:func:`current_actor`); the role
gate (:func:`devspark.services.accounts.can`) runs here, the owner rule runs again in the
registry. Domain errors are never caught: the central handler maps them to statuses.

Audit: each write calls one method of :class:`~devspark.services.registry.AgentRegistry`
with the request's audit context (:func:`devspark.server.auditing.audit_context`); the
method commits its change and its audit entry in one transaction, so a change is never
kept without its entry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from devspark.core.errors import InvalidArgumentError, PermissionDeniedError
from devspark.server.auditing import audit_context
from devspark.server.auth import (
    AUTH_RESPONSES,
    Actor,
    current_actor,
    optional_actor,
    require_key_scope,
)
from devspark.server.deps import SessionDep
from devspark.server.errors import NOT_FOUND_RESPONSE, ErrorBody
from devspark.server.pagination import Page, PageParams, keyset_params, page_params, paginate
from devspark.services.accounts import Action, can
from devspark.services.entrants import REGISTRY_PREFIX
from devspark.services.registry import (
    MAX_ARCHIVE_BYTES,
    MAX_PAGE_LIMIT,
    AgentLifecycleEventRow,
    AgentRegistry,
    AgentRow,
    AgentVersionRow,
)
from devspark.services.registry import Page as RegistryPage

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])

T = TypeVar("T")

MAX_UPLOAD_BYTES = MAX_ARCHIVE_BYTES
"""The largest upload the API reads (the archive as sent, before unpacking)."""

WRITE_SCOPE = "agents:write"
"""API-key scope needed by every agent route that changes something."""

_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": ErrorBody, "description": "Not found: no such agent or version."},
    409: {"model": ErrorBody, "description": "Conflict or failed precondition."},
}
_UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_WRITE_RESPONSES,
    422: {
        "model": ErrorBody,
        "description": "Invalid archive, manifest or licence, or upload over the size limit.",
    },
}
_ARCHIVE_TYPES: dict[str, dict[str, Any]] = {"application/gzip": {}, "application/zip": {}}

_AGENT_EXAMPLE: dict[str, Any] = {
    "id": "0b6f7c1e-3f0a-4d53-9f0e-2f1c5b8a9d10",
    "owner_id": "5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "owner": "ada",
    "name": "greedy-bot",
    "ref": "agent:ada/greedy-bot",
    "description": "Takes the best immediate move.",
    "created_at": "2025-01-31T12:00:00Z",
}
_VERSION_EXAMPLE: dict[str, Any] = {
    "id": "7c2e9a10-5b4d-4f3e-a1c2-d3e4f5a6b7c8",
    "agent_id": "0b6f7c1e-3f0a-4d53-9f0e-2f1c5b8a9d10",
    "version": "1.2.0",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "license": "MIT",
    "language": "python",
    "lifecycle_state": "registered",
    "deprecated": False,
    "matches_played": 0,
    "created_at": "2025-01-31T12:00:00Z",
    "manifest": {"name": "greedy-bot", "version": "1.2.0", "entrypoint": "agent.py"},
}
_EVENT_EXAMPLE: dict[str, Any] = {
    "from_state": "deploying",
    "to_state": "online",
    "reason": "deployed",
    "at": "2025-01-31T12:00:01Z",
}


# --------------------------------------------------------------------------- schemas


class AgentPublic(BaseModel):
    """An agent (owner and name); its code lives in its versions."""

    model_config = ConfigDict(json_schema_extra={"examples": [_AGENT_EXAMPLE]})

    id: uuid.UUID = Field(description="Agent id.")
    owner_id: uuid.UUID = Field(description="Id of the owning user.")
    owner: str = Field(description="Username of the owning user.")
    name: str = Field(description="Name from the manifest, unique per owner.")
    ref: str = Field(
        description="How tournaments and matches name it: `agent:OWNER/NAME` (its newest "
        "started version; add `@VERSION` to pin one)."
    )
    description: str = Field(description="Description of the latest published version.")
    created_at: datetime = Field(description="When the first version was published.")

    @classmethod
    def from_row(cls, row: AgentRow, owner: str) -> AgentPublic:
        """Build the public view of an agent row owned by the user named ``owner``."""
        return cls(
            id=row.id,
            owner_id=row.owner_id,
            owner=owner,
            name=row.name,
            ref=f"{REGISTRY_PREFIX}{owner}/{row.name}",
            description=row.description,
            created_at=row.created_at,
        )


def _public_agents(registry: AgentRegistry, rows: Sequence[AgentRow]) -> list[AgentPublic]:
    """Public views of ``rows``, their owners' names read in one query."""
    names = registry.owner_names(rows)
    return [AgentPublic.from_row(row, names.get(row.owner_id, "?")) for row in rows]


class AgentVersionPublic(BaseModel):
    """One immutable published version of an agent."""

    model_config = ConfigDict(json_schema_extra={"examples": [_VERSION_EXAMPLE]})

    id: uuid.UUID = Field(description="Version id.")
    agent_id: uuid.UUID = Field(description="Id of its agent.")
    version: str = Field(description="Semantic version from the manifest.")
    sha256: str = Field(description="Content hash of the unpacked agent.")
    license: str = Field(description="SPDX licence from the manifest.")
    language: str = Field(description="Language from the manifest.")
    lifecycle_state: str = Field(description="Current lifecycle state.")
    deprecated: bool = Field(description="Deprecated versions stay listed and downloadable.")
    matches_played: int = Field(ge=0, description="Matches played by this version.")
    created_at: datetime = Field(description="When it was published.")
    manifest: dict[str, Any] = Field(description="The validated `agent.toml`.")

    @classmethod
    def from_row(cls, row: AgentVersionRow) -> AgentVersionPublic:
        """Build the public view of a version row."""
        return cls(
            id=row.id,
            agent_id=row.agent_id,
            version=row.version,
            sha256=row.sha256,
            license=row.license,
            language=row.language,
            lifecycle_state=row.lifecycle_state,
            deprecated=row.deprecated,
            matches_played=row.matches_played,
            created_at=row.created_at,
            manifest=dict(row.manifest),
        )


class LifecycleEventPublic(BaseModel):
    """One lifecycle transition of a version."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EVENT_EXAMPLE]})

    from_state: str = Field(description="State before the transition.")
    to_state: str = Field(description="State after the transition.")
    reason: str = Field(description="Why it happened.")
    at: datetime = Field(description="When it happened.")

    @classmethod
    def from_row(cls, row: AgentLifecycleEventRow) -> LifecycleEventPublic:
        """Build the public view of an event row."""
        return cls(from_state=row.from_state, to_state=row.to_state, reason=row.reason, at=row.at)


# --------------------------------------------------------------------------- dependencies


def get_registry(request: Request, session: SessionDep) -> AgentRegistry:
    """The agent registry on the request's session and the app's artifact store."""
    return AgentRegistry(session, request.app.state.artifacts, request.app.state.workdir)


def upload_limit() -> int:
    """The largest upload accepted, in bytes (a dependency, so tests can lower it)."""
    return MAX_UPLOAD_BYTES


Registry = Annotated[AgentRegistry, Depends(get_registry)]
Writer = Annotated[Actor, Depends(current_actor)]
Window = Annotated[PageParams, Depends(page_params)]
KeysetWindow = Annotated[PageParams, Depends(keyset_params)]
_PUBLIC = [Depends(optional_actor)]


def _authorize(actor: Actor, action: Action, what: str, agent: AgentRow | None = None) -> None:
    require_key_scope(actor, WRITE_SCOPE)
    owner = agent.owner_id if agent is not None else None
    if not can(actor.role, action, owner_id=owner, actor_id=actor.user.id):
        target = f" agent {agent.name!r}" if agent is not None else " agents"
        raise PermissionDeniedError(
            f"user {actor.user.username!r} (role {actor.role.value!r}) may not {what}{target}"
            + (": only its owner or an admin may" if agent is not None else "")
        )


def _window(
    fetch: Callable[[int, str | None, int], RegistryPage[T]], params: PageParams
) -> tuple[list[T], int | None, str | None]:
    """Read ``params``' window through a registry listing capped at ``MAX_PAGE_LIMIT``.

    Returns:
        The items, the listing's total (``None`` on a cursor page) and the next cursor.

    """
    items: list[T] = []
    offset, cursor, remaining = params.offset, params.cursor, params.limit
    while True:
        page = fetch(offset, cursor, min(remaining, MAX_PAGE_LIMIT))
        items.extend(page.items)
        remaining -= len(page.items)
        if cursor is None:
            offset += len(page.items)
            done = page.total is not None and offset >= page.total
        else:
            cursor = page.next_cursor
            done = cursor is None
        if remaining <= 0 or not page.items or done:
            return items, page.total, page.next_cursor


async def archive_upload(request: Request, actor: Writer) -> AsyncIterator[UploadFile]:
    """FastAPI dependency: the multipart ``file`` field, read after authentication.

    The route declares no body parameter, so FastAPI reads nothing before its
    dependencies ran: an unauthenticated upload is refused (401) without a byte of its
    body read, and the body is capped by the server's upload limit (413) as it streams.

    Args:
        request: The current request.
        actor: The authenticated caller (resolved first; unused otherwise).

    Yields:
        The uploaded file; closed after the response.

    Raises:
        InvalidArgumentError: No ``file`` field, or one that is not a file.

    """
    async with request.form(max_files=1, max_fields=8) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidArgumentError(
                "file: send the archive as the multipart/form-data field 'file' "
                "(.tar.gz, .tgz or .zip)"
            )
        yield file


def _read_upload(file: UploadFile, limit: int) -> tuple[bytes, str]:
    filename = file.filename or ""
    if not filename:
        raise InvalidArgumentError("file: the upload has no file name (.tar.gz, .tgz or .zip)")
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise InvalidArgumentError(f"file {filename!r}: upload is over the limit of {limit} bytes")
    return data, filename


# --------------------------------------------------------------------------- routes

UploadField = Annotated[UploadFile, Depends(archive_upload)]
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The agent archive (.tar.gz, .tgz or .zip).",
                        }
                    },
                }
            }
        },
    }
}
"""The upload body as OpenAPI shows it (the route reads it itself, after authentication)."""
Limit = Annotated[int, Depends(upload_limit)]
AgentId = Annotated[uuid.UUID, PathParam(description="Agent id.")]
VersionId = Annotated[uuid.UUID, PathParam(description="Version id.")]


@router.post(
    "",
    status_code=201,
    summary="Publish an agent version",
    responses=_UPLOAD_RESPONSES,
    openapi_extra=_UPLOAD_BODY,
)
def publish(
    request: Request, registry: Registry, actor: Writer, file: UploadField, limit: Limit
) -> AgentVersionPublic:
    """Publish an archive: a new agent, or a new version of the caller's agent it names.

    The manifest ``name`` picks the caller's agent; its ``version`` must be greater than
    every version already published for it.
    """
    _authorize(actor, Action.CREATE, "publish")
    data, filename = _read_upload(file, limit)
    version = registry.publish(actor.user, data, filename, audit=audit_context(request, actor))
    return AgentVersionPublic.from_row(version)


@router.put(
    "/{agent_id}",
    status_code=201,
    summary="Publish a new version of an agent",
    responses=_UPLOAD_RESPONSES,
    openapi_extra=_UPLOAD_BODY,
)
def publish_version(
    request: Request,
    agent_id: AgentId,
    registry: Registry,
    actor: Writer,
    file: UploadField,
    limit: Limit,
) -> AgentVersionPublic:
    """Upload a new version of ``agent_id`` (its owner or an admin only)."""
    _authorize(actor, Action.UPDATE, "publish versions of", registry.get_agent(agent_id))
    data, filename = _read_upload(file, limit)
    version = registry.publish(
        actor.user, data, filename, agent_id=agent_id, audit=audit_context(request, actor)
    )
    return AgentVersionPublic.from_row(version)


@router.get("", summary="List agents", dependencies=_PUBLIC)
def list_agents(
    registry: Registry,
    params: KeysetWindow,
    owner_id: Annotated[
        uuid.UUID | None, Query(description="Only the agents of this user.")
    ] = None,
) -> Page[AgentPublic]:
    """Agents that are not deleted, oldest first (by creation time, name, then id).

    Page by `offset`, or by `cursor` (each page's `next_cursor`); a cursor page has
    `total` null.
    """
    rows, total, next_cursor = _window(
        lambda offset, cursor, limit: registry.list_agents(
            owner_id, offset=offset, limit=limit, cursor=cursor
        ),
        params,
    )
    return Page[AgentPublic](
        items=_public_agents(registry, rows),
        total=total,
        offset=params.offset,
        limit=params.limit,
        next_cursor=next_cursor,
    )


@router.get(
    "/{agent_id}", summary="Get an agent", dependencies=_PUBLIC, responses=NOT_FOUND_RESPONSE
)
def get_agent(agent_id: AgentId, registry: Registry) -> AgentPublic:
    """One agent; 404 when it does not exist or was deleted."""
    return _public_agents(registry, [registry.get_agent(agent_id)])[0]


@router.delete(
    "/{agent_id}", status_code=204, summary="Delete an agent", responses=_WRITE_RESPONSES
)
def delete_agent(
    request: Request, agent_id: AgentId, registry: Registry, actor: Writer
) -> Response:
    """Soft-delete an agent; refused (409) when a version has played or is running."""
    _authorize(actor, Action.DELETE, "delete", registry.get_agent(agent_id))
    registry.delete_agent(actor.user, agent_id, audit=audit_context(request, actor))
    return Response(status_code=204)


@router.get(
    "/{agent_id}/versions",
    summary="List versions",
    dependencies=_PUBLIC,
    responses=NOT_FOUND_RESPONSE,
)
def list_versions(
    agent_id: AgentId, registry: Registry, params: Window
) -> Page[AgentVersionPublic]:
    """The versions of an agent, deprecated ones included, oldest first."""
    rows, total, _ = _window(
        lambda offset, _cursor, limit: registry.list_versions(agent_id, offset=offset, limit=limit),
        params,
    )
    return Page[AgentVersionPublic](
        items=[AgentVersionPublic.from_row(row) for row in rows],
        total=total,
        offset=params.offset,
        limit=params.limit,
    )


@router.get(
    "/{agent_id}/versions/{version_id}",
    summary="Get a version",
    dependencies=_PUBLIC,
    responses=NOT_FOUND_RESPONSE,
)
def get_version(agent_id: AgentId, version_id: VersionId, registry: Registry) -> AgentVersionPublic:
    """One version of an agent."""
    return AgentVersionPublic.from_row(registry.version_of(agent_id, version_id))


@router.get(
    "/{agent_id}/versions/{version_id}/download",
    summary="Download a version's archive",
    dependencies=_PUBLIC,
    response_class=Response,
    responses={
        200: {"content": _ARCHIVE_TYPES, "description": "The archive exactly as uploaded."},
        **NOT_FOUND_RESPONSE,
    },
)
def download(agent_id: AgentId, version_id: VersionId, registry: Registry) -> Response:
    """The archive bytes exactly as uploaded, as an attachment."""
    version = registry.version_of(agent_id, version_id)
    agent = registry.get_agent(agent_id)
    data = registry.download(version_id)
    is_zip = data.startswith(b"PK")
    suffix, media_type = (".zip", "application/zip") if is_zip else (".tar.gz", "application/gzip")
    filename = f"{agent.name}-{version.version}{suffix}"
    return Response(
        content=data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/{agent_id}/versions/{version_id}/events",
    summary="Lifecycle history of a version",
    dependencies=_PUBLIC,
    responses=NOT_FOUND_RESPONSE,
)
def list_events(
    agent_id: AgentId, version_id: VersionId, registry: Registry, params: Window
) -> Page[LifecycleEventPublic]:
    """Every lifecycle transition of a version, oldest first."""
    registry.version_of(agent_id, version_id)
    events = [LifecycleEventPublic.from_row(row) for row in registry.list_events(version_id)]
    return paginate(events, params)


@router.post(
    "/{agent_id}/versions/{version_id}/deprecate",
    summary="Deprecate a version",
    responses=_WRITE_RESPONSES,
)
def deprecate(
    request: Request, agent_id: AgentId, version_id: VersionId, registry: Registry, actor: Writer
) -> AgentVersionPublic:
    """Flag a version as deprecated; it stays listed and downloadable but cannot start."""
    _authorize(actor, Action.UPDATE, "deprecate versions of", registry.get_agent(agent_id))
    registry.version_of(agent_id, version_id)
    version = registry.deprecate(actor.user, version_id, audit=audit_context(request, actor))
    return AgentVersionPublic.from_row(version)


@router.delete(
    "/{agent_id}/versions/{version_id}",
    status_code=204,
    summary="Delete a version",
    responses=_WRITE_RESPONSES,
)
def delete_version(
    request: Request, agent_id: AgentId, version_id: VersionId, registry: Registry, actor: Writer
) -> Response:
    """Delete a version that never played and is not running, with its archive."""
    _authorize(actor, Action.DELETE, "delete versions of", registry.get_agent(agent_id))
    registry.version_of(agent_id, version_id)
    registry.delete_version(actor.user, version_id, audit=audit_context(request, actor))
    return Response(status_code=204)


TargetVersion = Annotated[
    uuid.UUID | None,
    Query(description="The version to act on; default the latest version not deprecated."),
]


@router.post("/{agent_id}/start", summary="Start an agent", responses=_WRITE_RESPONSES)
def start(
    request: Request,
    agent_id: AgentId,
    registry: Registry,
    actor: Writer,
    version_id: TargetVersion = None,
) -> AgentVersionPublic:
    """Bring a version online (a no-op when it already runs)."""
    return _run_lifecycle(request, registry, actor, agent_id, version_id, "start")


@router.post("/{agent_id}/stop", summary="Stop an agent", responses=_WRITE_RESPONSES)
def stop(
    request: Request,
    agent_id: AgentId,
    registry: Registry,
    actor: Writer,
    version_id: TargetVersion = None,
) -> AgentVersionPublic:
    """Take a version offline (a no-op when it already is)."""
    return _run_lifecycle(request, registry, actor, agent_id, version_id, "stop")


def _run_lifecycle(
    request: Request,
    registry: AgentRegistry,
    actor: Actor,
    agent_id: uuid.UUID,
    version_id: uuid.UUID | None,
    operation: Literal["start", "stop"],
) -> AgentVersionPublic:
    """Start or stop the target version of an agent, with the checks and the audit entry."""
    agent = registry.get_agent(agent_id)
    _authorize(actor, Action.UPDATE, operation, agent)
    target = registry.target_version(agent.id, version_id).id
    change = registry.start if operation == "start" else registry.stop
    version = change(actor.user, target, audit=audit_context(request, actor))
    return AgentVersionPublic.from_row(version)
