"""Collaboration tools for agents: shared memory, consensus, discovery and teams.

Agents reach them with ``context.request("sys.memory", {"op": "put", ...})`` (and
``sys.consensus``, ``sys.discovery``, ``sys.teams``); the host answers through a
:class:`ToolRouter`, which checks the agent's capabilities. Each tool is plain,
thread-safe Python usable on its own. See docs/collaboration.md.
"""

from __future__ import annotations

from devspark.bus.tools.consensus import RULES, Consensus, Proposal
from devspark.bus.tools.directory import Discovery, Member, Team, Teams
from devspark.bus.tools.memory import Entry, SharedMemory, VersionConflictError
from devspark.bus.tools.router import OPS, TARGETS, ToolRouter

__all__ = [
    "OPS",
    "RULES",
    "TARGETS",
    "Consensus",
    "Discovery",
    "Entry",
    "Member",
    "Proposal",
    "SharedMemory",
    "Team",
    "Teams",
    "ToolRouter",
    "VersionConflictError",
]
