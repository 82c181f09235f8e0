"""Fills the private /tmp until ENOSPC (let propagate: the runner reports a limit)."""


def act(observation, context):
    block = b"\xa5" * (1 << 20)
    index = 0
    while True:  # many files, so RLIMIT_FSIZE is not what stops it
        with open(f"/tmp/fill-{index}", "wb") as handle:
            for _ in range(16):
                handle.write(block)
        index += 1
