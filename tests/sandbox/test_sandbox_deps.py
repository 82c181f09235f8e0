"""Per-version Python requirements: wheels from the configured index, installed confined."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devspark.arena.agents import resolve_agent
from devspark.core.errors import InvalidArgumentError
from devspark.core.results import AgentStatus
from devspark.sandbox import IsolationLevel, deps, open_worker
from devspark.sandbox.deps import INDEX_ENV, build_deps, deps_key, run_confined
from devspark.sandbox.isolation import SANDBOX_USER
from devspark.sandbox.staging import runtime_dir
from devspark.testing.package_index import LocalIndex


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalIndex]:
    """A local index on 127.0.0.1, configured as the one requirements come from."""
    with LocalIndex(tmp_path / "index") as served:
        monkeypatch.setenv(INDEX_ENV, served.url)
        yield served


def agent_logging(make_agent: Callable[..., Path], value: str, requirement: str) -> Path:
    """An agent needing ``requirement`` that logs ``value`` (``module.attribute``) each move."""
    module = value.split(".")[0]
    code = f"import {module}\n\ndef act(observation, context):\n"
    code += f"    context.log({value})\n    return context.legal_actions[0]\n"
    return make_agent(
        code, name=f"needs-{module.replace('_', '-')}", extra={"requirements": [requirement]}
    )


def play_one_move(folder: Path) -> list[str]:
    """Start the agent in ``folder`` sandboxed, play one tic-tac-toe move; its log lines."""
    worker = open_worker(resolve_agent(str(folder)), IsolationLevel.SANDBOX)
    try:
        worker.reset(episode=0, scenario="tictactoe-v1", role="player_0", seed=0, config={})
        decision = worker.act(0, {"board": [0] * 9, "mark": 1}, [4, 5])
        assert decision.status is AgentStatus.OK, decision.detail
        assert decision.action == 4
        _, log = worker.finish(reward=0.0, status=AgentStatus.OK)
        return log.logs
    finally:
        worker.close()


def test_deps_key_ignores_order_duplicates_and_spaces() -> None:
    key = deps_key(["six==1.16.0", "attrs"])
    assert key == deps_key(["attrs", " six==1.16.0", "attrs"])
    assert key != deps_key(["six==1.17.0", "attrs"])


def test_deps_key_names_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    default = deps_key(["six"])
    monkeypatch.setenv(INDEX_ENV, "https://mirror.example/simple")
    assert deps.index_url() == "https://mirror.example/simple"
    assert deps_key(["six"]) != default  # another index may serve other files


@pytest.mark.parametrize(
    "entry",
    ["evil @ http://127.0.0.1:9/evil-0.1.tar.gz", "git+https://example.org/evil", "./evil"],
)
def test_build_deps_refuses_direct_references_before_running_anything(
    entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise AssertionError("the installer must not start")

    monkeypatch.setattr(deps, "run_confined", never)
    with pytest.raises(
        InvalidArgumentError, match=r"^requirements: .*not allowed\)?; allowed: a PEP"
    ):
        build_deps([entry])


@pytest.mark.integration
def test_agent_with_requirements_runs_in_the_sandbox(make_agent: Callable[..., Path]) -> None:
    folder = agent_logging(make_agent, "six.__version__", "six==1.16.0")
    assert play_one_move(folder) == ["1.16.0"]

    started = time.monotonic()
    cached = build_deps(["six==1.16.0"])
    assert time.monotonic() - started < 0.5  # the environment is cached by hash
    assert cached == runtime_dir() / "venvs" / deps_key(["six==1.16.0"])
    assert (cached / "site-packages" / "six.py").is_file()


@pytest.mark.integration
def test_a_wheel_from_the_configured_index_installs_confined_and_works(
    index: LocalIndex, make_agent: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    index.add_wheel("devspark-test-wheel", 'VALUE = "from the local wheel"\n')
    commands: list[list[str]] = []
    real = deps.run_confined

    def spy(command: list[str], build: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(list(command))
        return real(command, build, **kwargs)

    monkeypatch.setattr(deps, "run_confined", spy)
    folder = agent_logging(make_agent, "devspark_test_wheel.VALUE", "devspark-test-wheel==0.1.0")
    assert play_one_move(folder) == ["from the local wheel"]
    [command] = commands  # installed once, through the sandbox, wheels only, one index
    assert command[command.index("--only-binary") + 1] == ":all:"
    assert command[command.index("--default-index") + 1] == index.url
    assert "--no-config" in command and "--find-links" not in command
    built = runtime_dir() / "venvs" / deps_key(["devspark-test-wheel==0.1.0"])
    for path in [built, *built.rglob("*")]:  # sealed: root's and read-only
        info = path.lstat()
        assert info.st_mode & 0o222 == 0, path
        if os.geteuid() == 0:
            assert info.st_uid == 0, path


ESCAPES = """
import json, os
result = {"uid": os.getuid(), "cap_eff": "", "written": [], "refused": []}
for line in open("/proc/self/status"):
    if line.startswith("CapEff:"):
        result["cap_eff"] = line.split()[1]
for path in json.loads(os.environ.get("TARGETS", "[]")) or TARGETS:
    try:
        with open(path, "w") as handle:
            handle.write("escaped")
        result["written"].append(path)
    except OSError:
        result["refused"].append(path)
print(json.dumps(result))
"""


@pytest.mark.security
@pytest.mark.integration
def test_the_installer_can_write_only_its_build_folder(tmp_path: Path) -> None:
    (runtime_dir() / "venvs").mkdir(exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=".test-", dir=runtime_dir() / "venvs"))
    try:
        check_confined(build, tmp_path)
    finally:
        shutil.rmtree(build)


def check_confined(build: Path, tmp_path: Path) -> None:
    host = tmp_path / "host-file"
    runtime = runtime_dir() / "escaped-from-installer"
    private = f"/tmp/devspark-private-{build.name}"  # the sandbox's own /tmp
    targets = [
        "/build/inside",
        private,
        str(host),
        str(runtime),
        "/usr/escaped",
        "/etc/escaped",
        "/etc/resolv.conf",
        "/root/escaped",
        "/var/tmp/escaped",
        "/proc/sys/kernel/hostname",
    ]
    script = ESCAPES.replace("or TARGETS", f"or {targets!r}")
    done = run_confined(["/usr/bin/python3", "-I", "-c", script], build, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["written"] == ["/build/inside", private]
    assert (build / "inside").read_text() == "escaped"
    assert not Path(private).exists()  # the sandbox's /tmp is its own
    assert not host.exists() and not runtime.exists()
    assert not Path("/var/tmp/escaped").exists()
    assert int(result["cap_eff"], 16) == 0  # no capability at all
    if os.geteuid() == 0:
        assert result["uid"] == int(
            subprocess.run(["id", "-u", SANDBOX_USER], capture_output=True, text=True).stdout
        )


@pytest.mark.integration
def test_a_file_index_is_shown_read_only_to_the_installer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = Path(tempfile.mkdtemp(prefix=".test-index-", dir=runtime_dir()))
    try:
        with LocalIndex(root) as local:  # only its files are used: no server
            local.add_wheel("devspark-file-index-wheel", "VALUE = 42\n")
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # readable by the sandbox user
        monkeypatch.setenv(INDEX_ENV, f"file://{root}/simple")
        built = build_deps(["devspark-file-index-wheel"])
        module = built / "site-packages" / "devspark_file_index_wheel" / "__init__.py"
        assert module.read_text() == "VALUE = 42\n"
    finally:
        shutil.rmtree(root)


def test_shown_index_hides_credentials() -> None:
    assert deps.shown_index("https://pypi.org/simple") == "https://pypi.org/simple"
    assert (
        deps.shown_index("https://build:s3cret@pypi.example:8443/simple")
        == "https://***@pypi.example:8443/simple"
    )


@pytest.mark.integration
def test_a_failed_install_names_the_package_and_hides_index_credentials(
    index: LocalIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = index.url.replace("http://", "http://build:s3cret@")
    monkeypatch.setenv(INDEX_ENV, secret)
    with pytest.raises(InvalidArgumentError) as info:
        build_deps(["devspark-no-such-package"])
    message = str(info.value)
    assert message.startswith(
        "requirements ['devspark-no-such-package'] cannot be installed as wheels from "
        f"{deps.shown_index(secret)} (source distributions are never built): "
    )
    assert "devspark-no-such-package" in message.partition("never built): ")[2]  # uv's reason
    assert "s3cret" not in message
    assert not list(
        (runtime_dir() / "venvs").glob(f".{deps_key(['devspark-no-such-package'])[:12]}-*")
    )
