"""An agent's ``requirements`` never run package code on the host (issue 11, probing item 1).

Installing a source distribution runs its PEP 517 build backend. The hostile sdist here
(served by a local index, :mod:`devspark.testing.package_index`) writes a marker file
outside every data folder the moment its backend is imported. Whether it is named by a
direct reference or by a name the index has only as an sdist, through the registry,
``devspark match run`` or a server's match: the agent is refused with a clear error,
the marker is never written, and a match that needs it ends ``failed`` with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from devspark.app import create_app
from devspark.arena.executors import LocalExecutor
from devspark.core.errors import InvalidArgumentError
from devspark.sandbox import IsolationLevel, unavailable_reason
from devspark.sandbox.deps import INDEX_ENV, build_deps
from devspark.server.settings import Settings
from devspark.services.entrants import AgentStager
from devspark.services.matches import create_match
from devspark.services.playing import Playback, run_match_durably
from devspark.services.registry import AgentRegistry
from devspark.store.artifacts import ArtifactStore
from devspark.store.db import session_factory
from devspark.store.models import MatchRow, UserRow
from devspark.testing.archives import pack_agent
from devspark.testing.package_index import LocalIndex

pytestmark = [pytest.mark.security, pytest.mark.integration]

DEVSPARK = Path(sys.executable).parent / "devspark"
EVIL = "devspark-evil-sdist"
NO_WHEEL = "cannot be installed as wheels from"
AGENT_CODE = "def act(observation, context):\n    return context.legal_actions[0]\n"


class Hostile:
    """The local index with the hostile sdist, and the marker its backend writes."""

    def __init__(self, index: LocalIndex, marker: Path) -> None:
        self.index = index
        self.marker = marker
        index.add_hostile_sdist(EVIL, marker)
        self.sdist_url = (
            f"{index.url.removesuffix('/simple')}/files/devspark_evil_sdist-0.1.0.tar.gz"
        )


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hostile]:
    reason = unavailable_reason(IsolationLevel.SANDBOX)
    if reason is not None:
        pytest.skip(f"the sandbox is unavailable here: {reason}")
    with LocalIndex(tmp_path / "index") as index:
        monkeypatch.setenv(INDEX_ENV, index.url)
        yield Hostile(index, tmp_path / "pwned")


def manifest(name: str, requirement: str) -> str:
    return (
        f'name = "{name}"\nversion = "1.0.0"\nlanguage = "python"\nentrypoint = "agent.py"\n'
        f'license = "MIT"\nscenarios = ["tictactoe"]\nrequirements = ["{requirement}"]\n'
    )


def agent_folder(root: Path, name: str, requirement: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "agent.toml").write_text(manifest(name, requirement))
    (folder / "agent.py").write_text(AGENT_CODE)
    return folder


def test_the_hostile_sdist_does_run_when_built_the_old_way(
    hostile: Hostile, tmp_path: Path
) -> None:
    """Control: the sdist is live. Installed as before the fix, its backend ran as root."""
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(
        [str(uv), "pip", "install", "--no-config", "--default-index", hostile.index.url,
         "--python", "/usr/bin/python3", "--target", str(tmp_path / "old-way"), EVIL],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert hostile.marker.read_text() == "package code ran on this host\n"


def test_a_name_with_only_an_sdist_is_refused_and_its_code_never_runs(hostile: Hostile) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        build_deps([EVIL])
    message = str(info.value)
    assert message.startswith(f"requirements ['{EVIL}'] {NO_WHEEL} {hostile.index.url}")
    assert "source distributions are never built" in message
    assert "no usable wheels" in message  # uv's reason
    assert not hostile.marker.exists()


def test_devspark_match_run_refuses_both_and_runs_nothing(hostile: Hostile, tmp_path: Path) -> None:
    direct = agent_folder(tmp_path, "direct", f"{EVIL} @ {hostile.sdist_url}")
    by_name = agent_folder(tmp_path, "by-name", EVIL)
    environ = {**os.environ, INDEX_ENV: hostile.index.url}
    outcomes = {}
    for folder in (direct, by_name):
        done = subprocess.run(
            [str(DEVSPARK), "match", "run", "tictactoe", str(folder), "builtin:random",
             "--isolation", "sandbox"],
            capture_output=True, text=True, timeout=180, env=environ, check=False,
        )  # fmt: skip
        outcomes[folder.name] = (done.returncode, done.stderr)
    code, stderr = outcomes["direct"]
    assert code == 2, stderr
    assert "field 'requirements'" in stderr and "is a direct reference" in stderr
    code, stderr = outcomes["by-name"]
    assert code == 2, stderr
    assert f"requirements ['{EVIL}'] {NO_WHEEL}" in stderr
    assert not hostile.marker.exists()


def test_an_upload_is_refused_by_reference_and_at_start_by_name(
    hostile: Hostile, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        data_dir=tmp_path / "data",
        environ={"DEVSPARK_RATE_LIMIT": "off", "DEVSPARK_RATE_LIMIT_IP": "off"},
    )
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with TestClient(create_app(settings, hasher=hasher)) as client:
        login = {"username": "mallory", "password": "correct horse battery"}
        client.post("/api/v1/auth/register", json=login)
        token = client.post("/api/v1/auth/login", json=login).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        def upload(folder: Path) -> dict[str, object]:
            files = {"file": (f"{folder.name}.tar.gz", pack_agent(folder), "application/gzip")}
            response = client.post("/api/v1/agents", files=files, headers=auth)
            return {"status": response.status_code, **response.json()}

        direct = upload(agent_folder(tmp_path, "direct", f"{EVIL} @ {hostile.sdist_url}"))
        assert direct["status"] == 422
        assert "is a direct reference" in str(direct["error"])
        published = upload(agent_folder(tmp_path, "by-name", EVIL))
        assert published["status"] == 201  # a plain name: what the index holds is seen at start
        started = client.post(f"/api/v1/agents/{published['agent_id']}/start", headers=auth)
        assert started.status_code == 422, started.text
        assert f"requirements ['{EVIL}'] {NO_WHEEL}" in started.json()["error"]["message"]
    assert not hostile.marker.exists()


def test_a_match_needing_an_sdist_only_requirement_ends_failed_with_the_reason(
    hostile: Hostile, session: Session, tmp_path: Path
) -> None:
    ada = UserRow(username="ada", role="user")
    session.add(ada)
    session.commit()
    artifacts = ArtifactStore(tmp_path / "artifacts")
    archive = pack_agent(agent_folder(tmp_path, "needs-evil", EVIL))
    version = AgentRegistry(session, artifacts, tmp_path / "work").publish(
        ada, archive, "needs-evil.tar.gz"
    )
    version.lifecycle_state = "online"  # started while the index still had a wheel
    session.commit()
    row = create_match(
        session,
        owner_id=ada.id,
        scenario="tictactoe",
        agents=["agent:ada/needs-evil", "builtin:random"],
    )
    factory: sessionmaker[Session] = session_factory(session.get_bind())  # type: ignore[arg-type]
    playback = Playback(stager=AgentStager(artifacts, tmp_path / "staged"), replays=artifacts)
    with LocalExecutor(1) as executor:
        played = run_match_durably(factory, row.id, executor, playback)
    assert played.result is None and played.error is not None
    assert played.error.startswith("invalid_argument: ") and NO_WHEEL in played.error
    session.expire_all()
    failed = session.get(MatchRow, row.id)
    assert failed is not None
    assert (failed.status, failed.finished_at is not None) == ("failed", True)
    assert failed.error is not None and f"requirements ['{EVIL}'] {NO_WHEEL}" in failed.error
    assert not hostile.marker.exists()
