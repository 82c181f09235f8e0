"""Resolve agent references: ``builtin:NAME`` or a folder holding ``agent.toml``.

A reference may also be a name the arena cannot resolve by itself (the server's
``agent:USER/NAME@VERSION`` for an uploaded agent): the caller then passes the folder
it staged the agent in as ``source``, and the reference stays the agent's name in
results and replays.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

from devspark.core.errors import NotFoundError
from devspark.core.lifecycle import LifecycleState
from devspark.core.manifest import MANIFEST_NAME, load_manifest
from devspark.core.packaging import content_hash
from devspark.core.ports import AgentPackage, AgentWorker

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "agents"
BUILTIN_PREFIX = "builtin:"


def builtin_names() -> list[str]:
    """Names of the agents shipped with DevSpark."""
    return sorted(p.parent.name for p in BUILTIN_DIR.glob(f"*/{MANIFEST_NAME}"))


def resolve_agent(ref: str, *, source: str | None = None) -> AgentPackage:
    """Load and validate the agent named by ``ref``.

    Args:
        ref: ``builtin:NAME`` or a folder; with ``source``, any name.
        source: The folder to load the agent from when ``ref`` is only its name.

    Raises:
        NotFoundError: unknown built-in (with suggestions) or a folder without agent.toml.
        InvalidArgumentError: the manifest is invalid (names the field and value).

    """
    if source:
        return dataclasses.replace(resolve_agent(source), ref=ref)
    if ref.startswith(BUILTIN_PREFIX):
        name = ref.removeprefix(BUILTIN_PREFIX)
        folder = BUILTIN_DIR / name
        if name not in builtin_names():  # also rejects builtin:../elsewhere
            names = builtin_names()
            near = difflib.get_close_matches(name, names, n=3)
            hint = f" Did you mean {', '.join(BUILTIN_PREFIX + n for n in near)}?" if near else ""
            raise NotFoundError(
                f"Unknown built-in agent {ref!r}.{hint} Built-ins: {', '.join(names)}"
            )
    else:
        folder = Path(ref).expanduser().resolve()
        if not folder.is_dir():
            raise NotFoundError(
                f"agent {ref!r}: no such folder{_near_folders(folder)} "
                "(use a folder with agent.toml or builtin:NAME)"
            )
    manifest = load_manifest(folder)
    return AgentPackage(ref=ref, folder=folder, manifest=manifest, sha256=content_hash(folder))


def _near_folders(folder: Path) -> str:
    """`` (did you mean ./my-agent?)`` for a mistyped folder, from its parent's folders."""
    try:
        siblings = [p.name for p in folder.parent.iterdir() if p.is_dir()]
    except OSError:
        return ""
    near = difflib.get_close_matches(folder.name, siblings, n=3)
    if not near:
        return ""
    return f" (did you mean {', '.join(str(folder.parent / name) for name in near)}?)"


@dataclasses.dataclass(frozen=True, slots=True)
class StartTrial:
    """How an agent's first start went.

    Attributes:
        ok: It started and said ``ready`` within its start limit.
        history: Its lifecycle, e.g. ``deploying -> online -> busy``.
        reason: Why it did not start (its stderr, a traceback for Python), else ``""``.

    """

    ok: bool
    history: str
    reason: str


def start_once(worker: AgentWorker) -> StartTrial:
    """Start ``worker``'s process for a first episode and report whether it is ready.

    The worker is left running; the caller closes it.
    """
    worker.reset(episode=0, scenario="check", role="player_0", seed=0, config={})
    started = worker.lifecycle.state is LifecycleState.BUSY
    history = " -> ".join(t.target.value for t in worker.lifecycle.history)
    reason = worker.lifecycle.history[-1].reason if worker.lifecycle.history else ""
    return StartTrial(ok=started, history=history, reason="" if started else reason)
