"""SIGKILLs its parent, then every process it may signal (kill(-1)), then keeps playing.

Inside the pid namespace its parent is bubblewrap's pid 1, which the kernel protects from
signals sent from inside the namespace; kill(-1) reaches only the namespace's processes.
"""

import os
import signal
import time

_done = False


def act(observation, context):
    global _done
    if not _done:
        _done = True
        parent = os.getppid()
        for target, label in ((parent, f"ppid:{parent}"), (-1, "all:-1")):
            try:
                os.kill(target, signal.SIGKILL)
                context.log(f"INFO kill {label} returned 0")
            except OSError as exc:
                context.log(f"BLOCKED kill {label} {type(exc).__name__}({exc.errno})")
        time.sleep(0.05)
        alive = os.path.exists(f"/proc/{parent}")
        context.log(f"INFO parent {parent} alive={alive} after SIGKILL")
        context.log("DONE kill-parent")
    return context.legal_actions[0]
