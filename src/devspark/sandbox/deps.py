"""Per-version Python dependencies: wheels from one index, installed inside the sandbox.

``requirements = [...]`` in a manifest is installed with uv for Debian's
``/usr/bin/python3`` (the interpreter agents run on) into
``runtime/venvs/<sha256 of the index and requirements>/site-packages``. The folder is
made root-owned and read-only and mounted at ``/deps`` in the sandbox; the runner puts
its ``site-packages`` on ``sys.path``.

Installing a source distribution runs its build backend, which is arbitrary code, so
nothing an agent names may ever run on the host:

* only plain requirement specifiers (a name, a version specifier, extras, markers) are
  accepted; URLs, paths and VCS references are refused (checked again here, after the
  manifest, by :func:`devspark.core.manifest.check_requirement`);
* uv installs wheels only (``--only-binary :all:``, so no build backend ever runs) from
  the one configured index (``DEVSPARK_PIP_INDEX_URL``), reading no configuration file;
* uv itself runs as the unprivileged sandbox user under bubblewrap
  (:func:`~devspark.sandbox.launcher.confined_argv`) and the seccomp filter: every
  namespace but the network's is its own, the host's ``/usr`` is read-only, and the only
  host folder it may write is the scratch folder the environment is built in.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

from uv import find_uv_bin

from devspark.core.errors import FailedPreconditionError, InvalidArgumentError
from devspark.core.manifest import check_requirement
from devspark.sandbox import seccomp
from devspark.sandbox.isolation import PYTHON, sandbox_user
from devspark.sandbox.launcher import confined_argv
from devspark.sandbox.staging import runtime_dir

INDEX_ENV = "DEVSPARK_PIP_INDEX_URL"
"""The environment variable naming the package index requirements come from."""
DEFAULT_INDEX = "https://pypi.org/simple"
BUILD = "/build"
"""Where the scratch folder (the installer's only writable host folder) is mounted."""
_UV = "/opt/uv"
_TMP_MB = 256
_HOST_NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl")
"""Read-only host files the installer needs to resolve and verify the index's host."""


def index_url() -> str:
    """The package index requirements are installed from (``DEVSPARK_PIP_INDEX_URL``)."""
    return os.environ.get(INDEX_ENV, "").strip() or DEFAULT_INDEX


def shown_index(index: str) -> str:
    """``index`` fit for messages: a password or token in it is replaced by ``***``."""
    parsed = urlparse(index)
    if parsed.password is None and parsed.username is None:
        return index
    host = parsed.hostname or ""
    if parsed.port is not None:
        host += f":{parsed.port}"
    return parsed._replace(netloc=f"***@{host}").geturl()


def deps_key(requirements: list[str]) -> str:
    """Content hash of a requirement list (order and duplicates do not matter) and index."""
    text = "\n".join(sorted({r.strip() for r in requirements}))
    return hashlib.sha256(f"{PYTHON}\n{index_url()}\n{text}".encode()).hexdigest()


def _uv_source() -> Path:
    """The uv binary this project pins (its ``uv`` package), else the one on ``PATH``."""
    try:
        return Path(find_uv_bin())
    except FileNotFoundError:
        found = shutil.which("uv")
        if found is None:
            raise FailedPreconditionError(
                "uv is not installed; it installs agents' requirements (make install)"
            ) from None
        return Path(found).resolve()


@functools.cache
def staged_uv() -> Path:
    """A root-owned, world-readable copy of uv the sandbox user can run (once per hash)."""
    source = _uv_source()
    data = source.read_bytes()
    target = runtime_dir() / "tools" / f"uv-{hashlib.sha256(data).hexdigest()[:32]}"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.parent.chmod(0o755)
        handle, scratch = tempfile.mkstemp(prefix=".uv-", dir=target.parent)
        with os.fdopen(handle, "wb") as sink:
            sink.write(data)
        Path(scratch).chmod(0o555)
        Path(scratch).replace(target)
    return target


def _index_binds(index: str) -> list[str]:
    """A ``file://`` index is shown to the installer read-only at its own path.

    Its parent folder is shown (``/srv/pypi`` for ``file:///srv/pypi/simple``): a local
    index's pages link to files beside the ``simple`` folder.
    """
    parsed = urlparse(index)
    if parsed.scheme != "file":
        return []
    local = Path(unquote(parsed.path))
    shown = local.parent if local.parent != Path("/") else local
    return ["--ro-bind", str(shown), str(shown)]


def run_confined(
    command: Sequence[str],
    build: Path,
    *,
    binds: Sequence[str] = (),
    timeout: float = 600.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as the sandbox user in bubblewrap, writing only to ``build``.

    ``build`` is mounted read-write at :data:`BUILD` (the working folder); the host's
    ``/usr`` and the few files name resolution and TLS need are read-only, and so is the
    sandbox's own root; ``/tmp`` is private and size-capped; the network is the host's
    (the index must be reachable); everything else is unshared or absent.

    Args:
        command: The command, with paths as seen inside the sandbox.
        build: The one host folder the command may write (made the sandbox user's).
        binds: Extra bubblewrap mount arguments (read-only binds).
        timeout: Seconds before the command is killed.

    Raises:
        FailedPreconditionError: bubblewrap (or, as root, setpriv) is not installed.
        subprocess.TimeoutExpired: The command ran past ``timeout``.

    """
    for tool in ("bwrap", "setpriv") if os.geteuid() == 0 else ("bwrap",):
        if shutil.which(tool) is None:
            raise FailedPreconditionError(
                f"{tool} is not installed; installing agents' requirements runs in the sandbox"
            )
    user = sandbox_user()
    if user is not None:
        os.chown(build, user.uid, user.gid)
    argv = confined_argv(hostname="deps", home="/tmp", tmp_mb=_TMP_MB, share_net=True)  # noqa: S108
    for path in _HOST_NETWORK_FILES:
        if Path(path).exists():
            argv += ["--ro-bind", path, path]
    fd = seccomp.filter_fd(allow_network=True)
    try:
        argv += [*binds, "--bind", str(build), BUILD, "--remount-ro", "/"]
        argv += ["--chdir", BUILD, "--seccomp", str(fd)]
        return subprocess.run(
            [*argv, "--", *command],
            capture_output=True,
            text=True,
            pass_fds=(fd,),
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            timeout=timeout,
            check=False,
        )
    finally:
        os.close(fd)


def _install_command(requirements: Sequence[str], index: str) -> list[str]:
    return [
        _UV, "pip", "install", "--quiet", "--no-config", "--system-certs",
        "--only-binary", ":all:", "--default-index", index,
        "--cache-dir", f"{BUILD}/.cache", "--python", str(PYTHON),
        "--target", f"{BUILD}/site-packages", "--", *requirements,
    ]  # fmt: skip


def _checked(requirements: list[str]) -> list[str]:
    checked = []
    for item in requirements:
        try:
            checked.append(str(check_requirement(item)))
        except ValueError as exc:
            raise InvalidArgumentError(f"requirements: {exc}") from None
    return checked


def _install(checked: list[str], requirements: list[str], scratch: Path, timeout: float) -> None:
    """Install ``checked`` into ``scratch/site-packages`` with the confined uv.

    Raises:
        InvalidArgumentError: uv failed or ran past ``timeout`` (with its reason).

    """
    index = index_url()
    binds = ["--ro-bind", str(staged_uv()), _UV, *_index_binds(index)]
    try:
        done = run_confined(_install_command(checked, index), scratch, binds=binds, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InvalidArgumentError(
            f"requirements {requirements!r}: installing from {shown_index(index)} took "
            f"over {timeout:g} s"
        ) from None
    if done.returncode != 0 or not (scratch / "site-packages").is_dir():
        output = (done.stderr.strip() or done.stdout.strip())[-2000:]
        raise InvalidArgumentError(
            f"requirements {requirements!r} cannot be installed as wheels from "
            f"{shown_index(index)} (source distributions are never built): "
            + output.replace(index, shown_index(index))
        )


def build_deps(requirements: list[str], *, timeout: float = 600.0) -> Path:
    """Return the cached environment for ``requirements``, building it on first use.

    The returned folder holds ``site-packages`` (what the runner adds to ``sys.path``).

    Raises:
        InvalidArgumentError: An entry is not a plain specifier, or the installation
            failed (no wheel for this platform, unknown name, unreachable index); the
            message has uv's output. Playing again cannot help.
        FailedPreconditionError: uv or the sandbox is not available here.

    """
    checked = _checked(requirements)
    key = deps_key(requirements)
    target = runtime_dir() / "venvs" / key
    if (target / "site-packages").is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.parent.chmod(0o755)
    scratch = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=target.parent))
    try:
        _install(checked, requirements, scratch, timeout)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    _seal(scratch)
    try:
        scratch.rename(target)
    except OSError:  # built concurrently by another process
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _seal(scratch: Path) -> None:
    """Drop the installer's scratch files; make the rest root-owned and read-only."""
    shutil.rmtree(scratch / ".cache", ignore_errors=True)
    (scratch / "site-packages" / ".lock").unlink(missing_ok=True)
    as_root = os.geteuid() == 0
    for root, dirs, files in os.walk(scratch, topdown=False):
        for name in files:
            path = Path(root) / name
            if as_root:
                os.lchown(path, 0, 0)
            if not path.is_symlink():
                path.chmod(0o555 if path.stat().st_mode & 0o111 else 0o444)
        for name in dirs:
            path = Path(root) / name
            if as_root:
                os.lchown(path, 0, 0)
            if not path.is_symlink():
                path.chmod(0o555)
    if as_root:
        os.chown(scratch, 0, 0)
    scratch.chmod(0o555)
