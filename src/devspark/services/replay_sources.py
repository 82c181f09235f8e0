"""Where the agents of a replay come from when it is verified away from its server.

A replay names each seat by reference. ``builtin:NAME`` and folders resolve on any
machine; ``agent:USER/NAME@VERSION`` (an uploaded version) lives in a server's registry.
:func:`verify_with_sources` re-runs a replay with those references mapped to local
folders, given by hand (``REF=FOLDER``) or fetched from the server that played it: the
version whose content hash the replay recorded is downloaded over the public API,
unpacked with the registry's archive checks, and cached by hash.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from devspark.arena.replay import Replay, verify_replay
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from devspark.services.entrants import is_uploaded, parse_registry_ref
from devspark.store.archives import extract_agent_archive

_PAGE = 200
_TIMEOUT_S = 30.0


def parse_agent_map(pairs: Sequence[str]) -> dict[str, str]:
    """Parse ``REF=FOLDER`` pairs into a reference -> folder map.

    Raises:
        InvalidArgumentError: A pair has no ``=``, or its folder does not exist.

    """
    mapping: dict[str, str] = {}
    for pair in pairs:
        ref, sep, folder = pair.partition("=")
        if not sep or not ref or not folder:
            raise InvalidArgumentError(f"--agent {pair!r} is not REF=FOLDER")
        path = Path(folder).expanduser()
        if not (path / "agent.toml").is_file():
            raise InvalidArgumentError(f"--agent {pair!r}: {folder} has no agent.toml")
        mapping[ref] = str(path.resolve())
    return mapping


def verify_with_sources(
    replay: Replay,
    *,
    agents: Mapping[str, str] | None = None,
    server: str | None = None,
    token: str | None = None,
    cache: Path | None = None,
) -> list[str]:
    """Re-run ``replay`` with its uploaded agents taken from folders or a server.

    Args:
        replay: The replay to verify.
        agents: Reference -> local folder, for any seat (wins over ``server``).
        server: Base URL of the server that played the match (``http://host:8000``).
        token: A bearer token for the server, when its downloads need one.
        cache: Where fetched versions are unpacked (``<folder>/<sha256>``); needed with
            ``server``.

    Returns:
        The differences :func:`~devspark.arena.replay.verify_replay` found.

    Raises:
        InvalidArgumentError: An uploaded agent has no folder and no server was given.
        NotFoundError: The server has no version with the recorded content hash.
        FailedPreconditionError: The server could not be reached.

    """
    sources = dict(agents or {})
    for agent in replay.data["agents"]:
        ref = agent["ref"]
        if ref in sources or not is_uploaded(ref):
            continue
        if server is None or cache is None:
            raise InvalidArgumentError(
                f"agent {ref!r} was uploaded to a server: give --server URL to fetch it, "
                f"or --agent {ref}=FOLDER to use a local copy"
            )
        sources[ref] = str(_fetch(server, ref, agent.get("sha256"), token, cache))
    return verify_replay(replay, sources=sources)


def _fetch(server: str, ref: str, sha256: str | None, token: str | None, cache: Path) -> Path:
    """Download and unpack the version of ``ref`` the replay recorded."""
    if sha256 and (cache / sha256 / "agent.toml").is_file():
        return cache / sha256
    parsed = parse_registry_ref(ref)
    client = _Client(server, token)
    agent_id = _find_agent(client, f"agent:{parsed.user}/{parsed.name}")
    versions = _all(client, f"/api/v1/agents/{agent_id}/versions")
    chosen = [
        v for v in versions if (v["sha256"] == sha256 if sha256 else v["version"] == parsed.version)
    ]
    if not chosen:
        wanted = f"sha256 {sha256[:12]}" if sha256 else f"version {parsed.version}"
        raise NotFoundError(f"{server}: agent {ref!r} has no version with {wanted}")
    version = chosen[0]
    data, filename = client.download(f"/api/v1/agents/{agent_id}/versions/{version['id']}/download")
    extracted = extract_agent_archive(data, filename, cache)
    if sha256 and extracted.sha256 != sha256:
        raise FailedPreconditionError(
            f"{server}: {ref} downloaded with sha256 {extracted.sha256[:12]}, "
            f"the replay recorded {sha256[:12]}"
        )
    return extracted.folder


def _find_agent(client: _Client, ref: str) -> str:
    for agent in _all(client, "/api/v1/agents"):
        if agent["ref"] == ref:
            return str(agent["id"])
    raise NotFoundError(f"{client.base}: no agent {ref!r}")


def _all(client: _Client, path: str) -> list[dict[str, Any]]:
    """Every item of a paginated list endpoint."""
    items: list[dict[str, Any]] = []
    while True:
        page = client.get_json(f"{path}?offset={len(items)}&limit={_PAGE}")
        items.extend(page["items"])
        if not page["items"] or len(items) >= page["total"]:
            return items


class _Client:
    """The few GETs this module needs, over the standard library's HTTP client."""

    def __init__(self, base: str, token: str | None) -> None:
        scheme = urllib.parse.urlsplit(base).scheme
        if scheme not in ("http", "https"):
            raise InvalidArgumentError(f"--server {base!r}: expected an http:// or https:// URL")
        self.base = base.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _open(self, path: str) -> tuple[bytes, str]:
        request = urllib.request.Request(self.base + path, headers=self.headers)  # noqa: S310 (scheme checked)
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310
                disposition = response.headers.get("Content-Disposition", "")
                return response.read(), disposition
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise NotFoundError(f"{self.base}{path}: not found") from exc
            raise FailedPreconditionError(f"{self.base}{path}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise FailedPreconditionError(f"{self.base}: cannot reach the server ({exc})") from exc

    def get_json(self, path: str) -> dict[str, Any]:
        body, _ = self._open(path)
        document: dict[str, Any] = json.loads(body)
        return document

    def download(self, path: str) -> tuple[bytes, str]:
        """The bytes and the file name from ``Content-Disposition``."""
        body, disposition = self._open(path)
        _, _, name = disposition.partition('filename="')
        return body, name.rstrip('"') or "agent.tar.gz"
