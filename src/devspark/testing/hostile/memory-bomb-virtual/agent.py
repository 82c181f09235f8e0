"""Allocates 64 MiB blocks that are never touched, until RLIMIT_AS says no.

``bytes(n)`` is calloc'd: fresh zero pages are mapped but not resident, so the memory
cgroup never sees them and the address-space rlimit is what stops the agent, with a
MemoryError the runner reports as limit_exceeded.
"""

_hoard = []


def act(observation, context):
    while True:
        _hoard.append(bytes(64 << 20))
