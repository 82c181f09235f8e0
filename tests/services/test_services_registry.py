"""The agent registry on SQLite and PostgreSQL: publish, versions, ownership, lifecycle."""

from __future__ import annotations

import io
import itertools
import tarfile
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy import text as sql_text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from devspark.core.errors import (
    ConflictError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from devspark.services.registry import AgentRegistry
from devspark.store.archives import extract_agent_archive
from devspark.store.artifacts import ArtifactStore
from devspark.store.models import AgentLifecycleEventRow, AgentRow, AgentVersionRow, UserRow

# --------------------------------------------------------------------------- fixtures

Build = Callable[..., bytes]


def _manifest(name: str, version: str, license_: str | None) -> bytes:
    lines = [
        f'name = "{name}"',
        f'version = "{version}"',
        'language = "python"',
        'entrypoint = "agent.py"',
        'description = "a test agent"',
    ]
    if license_ is not None:
        lines.append(f'license = "{license_}"')
    return ("\n".join(lines) + "\n").encode()


def build_archive(
    *,
    name: str = "bot",
    version: str = "1.0.0",
    license_: str | None = "MIT",
    fmt: str = "tar",
    code: str = "def act(obs):\n    return 0\n",
) -> bytes:
    """A tiny agent (agent.toml + agent.py) packed in memory as .tar.gz or .zip."""
    files = {"agent.toml": _manifest(name, version, license_), "agent.py": code.encode()}
    buffer = io.BytesIO()
    if fmt == "zip":
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, data in files.items():
                archive.writestr(path, data)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for path, data in files.items():
                info = tarfile.TarInfo(path)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _user(session: Session, username: str, role: str = "user") -> UserRow:
    user = UserRow(username=username, role=role)
    session.add(user)
    session.commit()
    return user


@pytest.fixture
def alice(session: Session) -> UserRow:
    return _user(session, "alice")


@pytest.fixture
def bob(session: Session) -> UserRow:
    return _user(session, "bob")


@pytest.fixture
def admin(session: Session) -> UserRow:
    return _user(session, "root", "admin")


@pytest.fixture
def registry(session: Session, tmp_path: Path) -> AgentRegistry:
    return AgentRegistry(session, ArtifactStore(tmp_path / "artifacts"), tmp_path / "work")


def _played(session: Session, version: AgentVersionRow) -> None:
    version.matches_played = 3
    session.commit()


# --------------------------------------------------------------------------- publish


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_publish_records_version(
    registry: AgentRegistry, alice: UserRow, tmp_path: Path, fmt: str
) -> None:
    data = build_archive(fmt=fmt)
    filename = "bot.zip" if fmt == "zip" else "bot.tar.gz"
    version = registry.publish(alice, data, filename)
    agent = registry.get_agent(version.agent_id)
    assert (agent.name, agent.owner_id, agent.description) == ("bot", alice.id, "a test agent")
    assert version.version == "1.0.0"
    assert version.license == "MIT"
    assert version.language == "python"
    assert version.lifecycle_state == "registered"
    assert version.manifest["name"] == "bot"
    assert len(version.sha256) == 64
    assert version.artifact_ref.startswith("package:sha256:")
    assert not version.deprecated
    events = registry.list_events(version.id)
    assert [(e.from_state, e.to_state, e.reason) for e in events] == [
        ("registered", "registered", "published")
    ]
    assert list((tmp_path / "work").iterdir()) == []  # scratch folders cleaned up


def test_download_round_trip(registry: AgentRegistry, alice: UserRow) -> None:
    data = build_archive()
    version = registry.publish(alice, data, "bot.tar.gz")
    assert registry.download(version.id) == data


def test_versions_must_increase(registry: AgentRegistry, alice: UserRow) -> None:
    for text in ["1.0.0", "1.1.0", "1.9.0", "1.10.0", "2.0.0-rc.1", "2.0.0"]:
        registry.publish(alice, build_archive(version=text), "bot.tar.gz")
    agent_id = registry.list_agents(alice).items[0].id
    page = registry.list_versions(agent_id, limit=100)
    assert [v.version for v in page.items] == [
        "1.0.0",
        "1.1.0",
        "1.9.0",
        "1.10.0",
        "2.0.0-rc.1",
        "2.0.0",
    ]
    for lower in ["1.5.0", "2.0.0-rc.2", "0.1.0"]:
        with pytest.raises(ConflictError, match=rf"'{lower}' must be greater than .*'2\.0\.0'"):
            registry.publish(alice, build_archive(version=lower), "bot.tar.gz")


def test_published_version_is_immutable(registry: AgentRegistry, alice: UserRow) -> None:
    registry.publish(alice, build_archive(), "bot.tar.gz")
    changed = build_archive(code="def act(obs):\n    return 1\n")
    with pytest.raises(ConflictError, match=r"version '1\.0\.0' is already published"):
        registry.publish(alice, changed, "bot.tar.gz")
    with pytest.raises(ConflictError, match=r"version '1\.0\.0\+b' is already published"):
        registry.publish(alice, build_archive(version="1.0.0+b"), "bot.tar.gz")


def test_a_publish_that_loses_a_race_stores_no_package(
    registry: AgentRegistry, alice: UserRow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = registry.publish(alice, build_archive(), "bot.tar.gz")
    # A concurrent upload of the same new agent passed its checks before the winner
    # committed: it does not see the agent, and its insert then fails.
    monkeypatch.setattr(registry, "_target_agent", lambda *args: None)
    with pytest.raises(ConflictError, match="conflicts with existing data"):
        registry.publish(alice, build_archive(version="2.0.0"), "bot.tar.gz")
    stored = sorted(p.name for p in (tmp_path / "artifacts").rglob("*") if p.is_file())
    assert stored == [first.artifact_ref.rsplit(":", 1)[1]]  # the loser's file is not kept


# Row locks are PostgreSQL's (SQLite has one writer at a time): this runs there only.
@pytest.mark.integration
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_concurrent_publishes_of_one_agent_check_versions_one_after_the_other(
    migrated: Engine, tmp_path: Path
) -> None:
    store, work = ArtifactStore(tmp_path / "artifacts"), tmp_path / "work"
    with Session(migrated) as setup:
        first = AgentRegistry(setup, store, work).publish(
            _user(setup, "alice"), build_archive(), "bot.tar.gz"
        )
        agent_id = first.agent_id
    later = extract_agent_archive(build_archive(version="1.0.7"), "bot.tar.gz", tmp_path / "x")
    with Session(migrated) as holder, Session(migrated) as other:
        # A publish of 1.0.7 is between its version check and its commit...
        AgentRegistry(holder, store, work)._check_new_version(holder.get(AgentRow, agent_id), later)
        # ...so a concurrent 1.0.2 waits for it (here it gives up after 200 ms) instead of
        # passing its own check against the versions committed so far (1.0.0 only).
        other.execute(sql_text("SET LOCAL lock_timeout = '200ms'"))
        alice = other.scalars(select(UserRow).where(UserRow.username == "alice")).one()
        with pytest.raises(OperationalError, match="lock timeout"):
            AgentRegistry(other, store, work).publish(
                alice, build_archive(version="1.0.2"), "bot.tar.gz"
            )
        other.rollback()


def test_same_bytes_again_refused(registry: AgentRegistry, alice: UserRow) -> None:
    data = build_archive()
    registry.publish(alice, data, "bot.tar.gz")
    with pytest.raises(ConflictError, match=r"already published as version '1\.0\.0'"):
        registry.publish(alice, data, "bot.tar.gz")
    with pytest.raises(ConflictError, match=r"already published as version '1\.0\.0'"):
        registry.publish(alice, build_archive(fmt="zip"), "bot.zip")


def test_licence_required(registry: AgentRegistry, alice: UserRow, session: Session) -> None:
    with pytest.raises(InvalidArgumentError, match="license"):
        registry.publish(alice, build_archive(license_=None), "bot.tar.gz")
    with pytest.raises(InvalidArgumentError, match="license"):
        registry.publish(alice, build_archive(license_=""), "bot.tar.gz")
    assert registry.list_agents().total == 0
    assert session.scalars(select(AgentVersionRow)).all() == []


def test_hostile_archive_refused(registry: AgentRegistry, alice: UserRow) -> None:
    with pytest.raises(InvalidArgumentError, match=r"must be \.tar\.gz, \.tgz or \.zip"):
        registry.publish(alice, build_archive(), "bot.exe")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("../escape.py")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(InvalidArgumentError, match=r"'\.\.' path component"):
        registry.publish(alice, buffer.getvalue(), "bot.tar.gz")


def test_same_name_per_owner(registry: AgentRegistry, alice: UserRow, bob: UserRow) -> None:
    mine = registry.publish(alice, build_archive(), "bot.tar.gz")
    theirs = registry.publish(bob, build_archive(), "bot.tar.gz")
    assert mine.agent_id != theirs.agent_id
    assert registry.list_agents().total == 2
    assert [a.name for a in registry.list_agents(bob.id).items] == ["bot"]


# --------------------------------------------------------------------------- ownership


def test_other_user_cannot_publish_under_owners_agent(
    registry: AgentRegistry, alice: UserRow, bob: UserRow, admin: UserRow
) -> None:
    first = registry.publish(alice, build_archive(), "bot.tar.gz")
    with pytest.raises(PermissionDeniedError, match="'bob' may not publish versions of"):
        registry.publish(bob, build_archive(version="1.1.0"), "bot.tar.gz", agent_id=first.agent_id)
    by_admin = registry.publish(
        admin, build_archive(version="1.1.0"), "bot.tar.gz", agent_id=first.agent_id
    )
    assert by_admin.agent_id == first.agent_id
    assert registry.get_agent(first.agent_id).owner_id == alice.id
    with pytest.raises(InvalidArgumentError, match="field 'name' = 'other'"):
        registry.publish(
            alice, build_archive(name="other", version="2.0.0"), "b.tar.gz", agent_id=first.agent_id
        )


@pytest.mark.parametrize(
    "action",
    ["deprecate", "delete_version", "delete_agent", "start", "stop", "transition"],
)
def test_other_user_cannot_touch(
    registry: AgentRegistry, alice: UserRow, bob: UserRow, action: str
) -> None:
    version = registry.publish(alice, build_archive(), "bot.tar.gz")
    calls: dict[str, Callable[[UserRow], object]] = {
        "deprecate": lambda who: registry.deprecate(who, version.id),
        "delete_version": lambda who: registry.delete_version(who, version.id),
        "delete_agent": lambda who: registry.delete_agent(who, version.agent_id),
        "start": lambda who: registry.start(who, version.id),
        "stop": lambda who: registry.stop(who, version.id),
        "transition": lambda who: registry.transition(
            who, version.id, "maintenance", reason="test"
        ),
    }
    with pytest.raises(PermissionDeniedError, match=r"'bob' may not .* agent 'bot'"):
        calls[action](bob)
    assert registry.get_version(version.id).lifecycle_state == "registered"
    assert not registry.get_version(version.id).deprecated
    calls[action](alice)  # the owner may
    _assert_done(registry, action, version, "alice")


def _assert_done(registry: AgentRegistry, action: str, version: AgentVersionRow, who: str) -> None:
    """Assert that ``action`` by ``who`` on ``version`` took effect in the registry."""
    if action == "delete_version":
        with pytest.raises(NotFoundError, match="no such agent version"):
            registry.get_version(version.id)
        assert not registry.artifacts.exists(version.artifact_ref)
        assert registry.get_agent(version.agent_id).name == "bot"  # the agent stays
        return
    if action == "delete_agent":
        with pytest.raises(NotFoundError, match="no such agent"):
            registry.get_agent(version.agent_id)
        assert registry.list_agents().total == 0
        return
    row = registry.get_version(version.id)
    expected = {
        "deprecate": ("registered", None),
        "start": ("online", f"start requested by {who!r}"),
        "stop": ("offline", f"stop requested by {who!r}"),
        "transition": ("maintenance", "test"),
    }
    state, reason = expected[action]
    assert row.lifecycle_state == state
    assert row.deprecated == (action == "deprecate")
    events = registry.list_events(version.id)
    if reason is None:
        assert len(events) == 1  # only "registered": deprecating is not a transition
    else:
        assert reason in [event.reason for event in events]
        assert events[-1].to_state == state


@pytest.mark.parametrize("action", ["deprecate", "delete_version", "delete_agent", "start", "stop"])
def test_admin_can_touch(
    registry: AgentRegistry, alice: UserRow, admin: UserRow, action: str
) -> None:
    version = registry.publish(alice, build_archive(), "bot.tar.gz")
    getattr(registry, action)(admin, version.agent_id if action == "delete_agent" else version.id)
    _assert_done(registry, action, version, "root")
    if action not in {"delete_version", "delete_agent"}:
        assert registry.get_agent(version.agent_id).owner_id == alice.id  # ownership kept


@pytest.mark.parametrize("role", ["viewer", "agent"])
def test_roles_without_write_access(
    registry: AgentRegistry, session: Session, alice: UserRow, role: str
) -> None:
    version = registry.publish(alice, build_archive(), "bot.tar.gz")
    other = _user(session, f"someone-{role}", role)
    with pytest.raises(PermissionDeniedError, match=f"role '{role}'"):
        registry.publish(other, build_archive(name="x"), "x.tar.gz")
    alice.role = role
    session.commit()
    with pytest.raises(PermissionDeniedError, match=f"role '{role}'"):
        registry.deprecate(alice, version.id)


def test_disabled_user_refused(registry: AgentRegistry, session: Session, alice: UserRow) -> None:
    alice.disabled = True
    session.commit()
    with pytest.raises(PermissionDeniedError, match="'alice'"):
        registry.publish(alice, build_archive(), "bot.tar.gz")


# --------------------------------------------------------------------------- deprecate/delete


def test_deprecate_keeps_listing(registry: AgentRegistry, alice: UserRow) -> None:
    version = registry.publish(alice, build_archive(), "bot.tar.gz")
    registry.deprecate(alice, version.id)
    page = registry.list_versions(version.agent_id)
    assert page.total == 1
    assert page.items[0].deprecated
    with pytest.raises(FailedPreconditionError, match="deprecated"):
        registry.start(alice, version.id)


def test_delete_unplayed_version(registry: AgentRegistry, alice: UserRow, session: Session) -> None:
    data = build_archive()
    version = registry.publish(alice, data, "bot.tar.gz")
    ref = version.artifact_ref
    registry.delete_version(alice, version.id)
    with pytest.raises(NotFoundError, match="no such agent version"):
        registry.get_version(version.id)
    assert not registry.artifacts.exists(ref)
    assert session.scalars(select(AgentLifecycleEventRow)).all() == []
    # the version number is free again once deleted
    registry.publish(alice, data, "bot.tar.gz")


def test_played_version_cannot_be_deleted(
    registry: AgentRegistry, alice: UserRow, admin: UserRow, session: Session
) -> None:
    version = registry.publish(alice, build_archive(), "bot.tar.gz")
    _played(session, version)
    for who in (alice, admin):
        with pytest.raises(ConflictError, match=r"has played 3 match.*deprecate it instead"):
            registry.delete_version(who, version.id)
        with pytest.raises(ConflictError, match="deprecate it instead"):
            registry.delete_agent(who, version.agent_id)
    assert registry.deprecate(alice, version.id).deprecated
    assert registry.download(version.id)


def test_running_version_cannot_be_deleted(registry: AgentRegistry, alice: UserRow) -> None:
    version = registry.publish(alice, build_archive(), "bot.tar.gz")
    registry.start(alice, version.id)
    with pytest.raises(FailedPreconditionError, match="'online'; stop it"):
        registry.delete_version(alice, version.id)
    registry.stop(alice, version.id)
    registry.delete_version(alice, version.id)


def test_delete_agent_is_soft(registry: AgentRegistry, alice: UserRow, session: Session) -> None:
    version = registry.publish(alice, build_archive(), "bot.tar.gz")
    agent = registry.delete_agent(alice, version.agent_id)
    assert agent.deleted_at is not None
    assert registry.list_agents().total == 0
    with pytest.raises(NotFoundError, match="no such agent"):
        registry.get_agent(agent.id)
    with pytest.raises(NotFoundError, match="no such agent"):
        registry.download(version.id)
    assert session.get(AgentVersionRow, version.id) is not None  # rows kept
    with pytest.raises(ConflictError, match="'bot' was deleted"):
        registry.publish(alice, build_archive(version="2.0.0"), "bot.tar.gz")


def test_not_found(registry: AgentRegistry, alice: UserRow) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFoundError, match=str(missing)):
        registry.download(missing)
    with pytest.raises(NotFoundError, match=str(missing)):
        registry.list_versions(missing)
    with pytest.raises(NotFoundError, match=str(missing)):
        registry.start(alice, missing)


# --------------------------------------------------------------------------- lifecycle


def _states(registry: AgentRegistry, version_id: uuid.UUID) -> list[tuple[str, str]]:
    return [(e.from_state, e.to_state) for e in registry.list_events(version_id)][1:]


def test_start_and_stop_record_events(registry: AgentRegistry, alice: UserRow) -> None:
    version = registry.publish(alice, build_archive(), "bot.tar.gz")
    assert registry.start(alice, version.id).lifecycle_state == "online"
    assert registry.start(alice, version.id).lifecycle_state == "online"  # no-op
    assert registry.stop(alice, version.id).lifecycle_state == "offline"
    assert registry.stop(alice, version.id).lifecycle_state == "offline"  # no-op
    assert registry.start(alice, version.id).lifecycle_state == "online"
    assert _states(registry, version.id) == [
        ("registered", "deploying"),
        ("deploying", "online"),
        ("online", "offline"),
        ("offline", "deploying"),
        ("deploying", "online"),
    ]
    reasons = [e.reason for e in registry.list_events(version.id)]
    assert reasons[1] == "start requested by 'alice'"
    assert reasons[3] == "stop requested by 'alice'"
    events = registry.list_events(version.id)
    assert all(a.at < b.at for a, b in itertools.pairwise(events))


def test_stop_from_busy_and_start_from_error(registry: AgentRegistry, alice: UserRow) -> None:
    version = registry.publish(alice, build_archive(), "bot.tar.gz")
    registry.start(alice, version.id)
    registry.transition(alice, version.id, "busy", reason="match 1")
    registry.stop(alice, version.id)
    registry.start(alice, version.id)
    registry.transition(alice, version.id, "error", reason="crashed")
    assert registry.start(alice, version.id).lifecycle_state == "online"
    assert _states(registry, version.id)[2:4] == [("online", "busy"), ("busy", "offline")]
    assert _states(registry, version.id)[-3:] == [
        ("online", "error"),
        ("error", "deploying"),
        ("deploying", "online"),
    ]


def test_invalid_transition_names_states(registry: AgentRegistry, alice: UserRow) -> None:
    version = registry.publish(alice, build_archive(), "bot.tar.gz")
    with pytest.raises(FailedPreconditionError, match="from 'registered' to 'online'"):
        registry.transition(alice, version.id, "online", reason="skip deploy")
    registry.stop(alice, version.id)
    with pytest.raises(FailedPreconditionError, match="from 'offline' to 'busy'"):
        registry.transition(alice, version.id, "busy", reason="x")
    with pytest.raises(InvalidArgumentError, match="target 'flying'"):
        registry.transition(alice, version.id, "flying", reason="x")
    assert registry.get_version(version.id).lifecycle_state == "offline"
    assert _states(registry, version.id) == [("registered", "offline")]


# --------------------------------------------------------------------------- pagination


def test_pagination_totals(registry: AgentRegistry, alice: UserRow, bob: UserRow) -> None:
    for index in range(5):
        registry.publish(alice, build_archive(name=f"bot-{index}"), "b.tar.gz")
    registry.publish(bob, build_archive(name="other"), "b.tar.gz")
    page = registry.list_agents(offset=2, limit=2)
    assert (page.total, len(page.items), page.offset, page.limit) == (6, 2, 2, 2)
    assert registry.list_agents(alice, offset=4, limit=10).total == 5
    assert len(registry.list_agents(alice, offset=4, limit=10).items) == 1
    assert registry.list_agents(alice, offset=10).items == []
    names = [a.name for a in registry.list_agents(alice, limit=100).items]
    assert sorted(names) == [f"bot-{i}" for i in range(5)]
    agent_id = registry.list_agents(bob).items[0].id
    for text in ["1.1.0", "1.2.0"]:
        registry.publish(bob, build_archive(name="other", version=text), "b.tar.gz")
    versions = registry.list_versions(agent_id, offset=1, limit=1)
    assert (versions.total, [v.version for v in versions.items]) == (3, ["1.1.0"])


@pytest.mark.parametrize(("offset", "limit", "bad"), [(-1, 10, "offset -1"), (0, 0, "limit 0")])
def test_pagination_arguments_checked(
    registry: AgentRegistry, offset: int, limit: int, bad: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=bad):
        registry.list_agents(offset=offset, limit=limit)
    with pytest.raises(InvalidArgumentError, match="limit 101"):
        registry.list_agents(limit=101)
