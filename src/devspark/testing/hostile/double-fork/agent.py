"""Leaves a daemonised grandchild (setsid, double fork, fds closed) that sleeps an hour.

The grandchild execs sleep under the name devspark-hostile-sleeper so the host can look
for it after the match. It then plays legal moves.
"""

import os

_done = False


def _daemonise():
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)  # the first child exits at once
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    for fd in range(256):
        if fd != 2:
            try:
                os.close(fd)
            except OSError:
                pass
    os.execv("/usr/bin/sleep", ["devspark-hostile-sleeper", "3600"])


def act(observation, context):
    global _done
    if not _done:
        _done = True
        _daemonise()
        context.log("INFO daemonised grandchild started")
    return context.legal_actions[0]
