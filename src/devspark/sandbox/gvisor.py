"""The ``gvisor`` level: run the agent under runsc (gVisor) from a minimal OCI bundle.

The bundle's root is an empty read-only folder with ``/usr`` bound read-only, the same
``/agent``, ``/sdk`` and ``/state`` mounts as the bubblewrap level and a size-capped
``/tmp``; no network (``--network=none``); the process runs as the sandbox user with no
capabilities. Syscalls are served by gVisor's user-space kernel (ptrace platform).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devspark.sandbox.isolation import sandbox_user
from devspark.sandbox.staging import runtime_dir

if TYPE_CHECKING:
    from devspark.sandbox.launcher import ProcessSpec


def _bind(source: Path | str, target: str, *, writable: bool = False) -> dict[str, Any]:
    return {
        "destination": target,
        "type": "bind",
        "source": str(source),
        "options": ["rbind", "rw" if writable else "ro", "nosuid", "nodev"],
    }


@dataclass(slots=True)
class Bundle:
    """A throw-away OCI bundle and runsc state folder for one agent process."""

    path: Path
    container_id: str

    @classmethod
    def create(cls, spec: ProcessSpec) -> Bundle:
        """Write ``config.json`` and an empty root for ``spec``."""
        parent = runtime_dir() / "gvisor"
        parent.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="bundle-", dir=parent))
        root = path / "rootfs"
        root.mkdir()
        for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin")):
            (root / link).symlink_to(target)
        for folder in ("usr", "agent", "sdk", "state", "tmp", "proc", "dev", "deps"):
            (root / folder).mkdir()
        user = sandbox_user()
        mounts = [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": [f"size={spec.tmp_mb}m"],
            },
            _bind("/usr", "/usr"),
            _bind(spec.agent_dir, "/agent"),
            _bind(spec.sdk_dir, "/sdk"),
            _bind(spec.state_dir, "/state", writable=True),
        ]
        deps = None
        if spec.deps_dir is not None:
            mounts.append(_bind(spec.deps_dir, "/deps"))
            deps = "/deps"
        config = {
            "ociVersion": "1.0.2",
            "process": {
                "terminal": False,
                "user": {"uid": user.uid if user else 65534, "gid": user.gid if user else 65534},
                "args": spec.interpreter("/agent", "/sdk", deps),
                "env": ["PATH=/usr/bin:/bin", "HOME=/state", "LANG=C.UTF-8"],
                "cwd": "/agent",
                "noNewPrivileges": True,
                "rlimits": [
                    {
                        "type": "RLIMIT_FSIZE",
                        "hard": spec.file_mb << 20,
                        "soft": spec.file_mb << 20,
                    },
                    {"type": "RLIMIT_NOFILE", "hard": spec.max_files, "soft": spec.max_files},
                    {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
                ],
                "capabilities": {"bounding": [], "effective": [], "permitted": []},
            },
            "root": {"path": "rootfs", "readonly": True},
            "hostname": "agent",
            "mounts": mounts,
            "linux": {
                "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            },
        }
        (path / "config.json").write_text(json.dumps(config))
        return cls(path, f"devspark-{uuid.uuid4().hex[:16]}")

    def argv(self) -> list[str]:
        """The runsc command line that runs the bundle attached to our pipes."""
        return [
            "runsc", "--platform=ptrace", "--network=none", "--ignore-cgroups",
            f"--root={self.path / 'runsc-state'}", "run", f"--bundle={self.path}", self.container_id,
        ]  # fmt: skip

    def remove(self) -> None:
        """Delete the bundle and runsc's state."""
        shutil.rmtree(self.path, ignore_errors=True)
