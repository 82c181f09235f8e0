"""Leaves 8 busy-looping daemon processes behind, then plays fast, legal moves.

The cpu cgroup must keep the hogs from starving the opponent, and the host must end them
with the match.
"""

import os

_done = False


def act(observation, context):
    global _done
    if not _done:
        _done = True
        for _ in range(8):
            pid = os.fork()
            if pid == 0:
                os.setsid()
                for fd in (0, 1):
                    os.close(fd)
                while True:
                    pass
        context.log("INFO 8 background hogs started")
    return context.legal_actions[0]
