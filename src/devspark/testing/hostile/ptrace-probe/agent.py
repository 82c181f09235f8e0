"""ptrace and friends against its parents (bubblewrap's pid 1 and getppid()).

Verdicts: ``BLOCKED`` when the call failed, ``LEAK`` when it worked. Opening
/proc/1/mem is reported as ``INFO``: pid 1 is bubblewrap inside the same namespaces,
uid and seccomp filter, so reaching it gains nothing.
"""

import ctypes
import errno
import os

PTRACE_ATTACH = 16
PTRACE_SEIZE = 0x4206
PTRACE_DETACH = 17
PTRACE_TRACEME = 0
SYS_PROCESS_VM_READV = 310
SYS_PIDFD_OPEN = 434
SYS_PIDFD_GETFD = 438


def _err(errno_value):
    return f"{errno.errorcode.get(errno_value, 'E?')}({errno_value})"


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _ptrace(libc, request, pid, label):
    ctypes.set_errno(0)
    result = libc.ptrace(request, pid, None, None)
    if result == -1:
        return f"BLOCKED {label} {_err(ctypes.get_errno())}"
    libc.ptrace(PTRACE_DETACH, pid, None, None)
    return f"LEAK {label} succeeded"


def _vm_readv(libc, pid):
    buffer = ctypes.create_string_buffer(16)
    local = _Iovec(ctypes.cast(buffer, ctypes.c_void_p), 16)
    remote = _Iovec(0x400000, 16)
    result = libc.syscall(
        SYS_PROCESS_VM_READV, pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0
    )
    if result == -1:
        return f"BLOCKED process_vm_readv:{pid} {_err(ctypes.get_errno())}"
    return f"LEAK process_vm_readv:{pid} read {result} bytes"


def _pidfd_getfd(libc, pid):
    pidfd = libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    if pidfd == -1:
        return f"BLOCKED pidfd_open:{pid} {_err(ctypes.get_errno())}"
    own = {
        os.readlink(f"/proc/self/fd/{fd}")
        for fd in os.listdir("/proc/self/fd")
        if fd.isdigit() and os.path.exists(f"/proc/self/fd/{fd}")
    }
    lines = []
    for target in os.listdir(f"/proc/{pid}/fd"):
        stolen = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(target), 0)
        if stolen == -1:
            lines.append(f"BLOCKED pidfd_getfd:{pid}:{target} {_err(ctypes.get_errno())}")
            continue
        what = os.readlink(f"/proc/self/fd/{stolen}")
        is_dir = os.path.isdir(f"/proc/self/fd/{stolen}")
        os.close(stolen)
        if is_dir or (what.startswith(("socket:", "/")) and what not in own):
            lines.append(f"LEAK pidfd_getfd:{pid}:{target} stole {what}")
        else:
            lines.append(
                f"INFO pidfd_getfd:{pid}:{target} got {what} (pid {pid} is in this sandbox; nothing new)"
            )
    os.close(pidfd)
    return lines


def _traceme(libc):
    pid = os.fork()
    if pid == 0:
        code = 0 if libc.ptrace(PTRACE_TRACEME, 0, None, None) == 0 else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return "INFO ptrace:traceme allowed (child traced by its own sandboxed parent)"
    return "BLOCKED ptrace:traceme"


def _mem(pid):
    try:
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    except OSError as exc:
        return f"BLOCKED open /proc/{pid}/mem {type(exc).__name__}({exc.errno})"
    os.close(fd)
    return f"INFO open /proc/{pid}/mem allowed (pid {pid} is inside this sandbox)"


def _probe():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.syscall.restype = ctypes.c_long
    parent = os.getppid()
    lines = [f"INFO getppid() = {parent}"]
    for label, pid in (("pid1", 1), ("ppid", parent)):
        lines.append(_ptrace(libc, PTRACE_ATTACH, pid, f"ptrace:attach:{label}:{pid}"))
        lines.append(_ptrace(libc, PTRACE_SEIZE, pid, f"ptrace:seize:{label}:{pid}"))
    for pid in dict.fromkeys((1, parent)):
        lines.append(_vm_readv(libc, pid))
        lines.extend(_pidfd_getfd(libc, pid))
        lines.append(_mem(pid))
    lines.append(_traceme(libc))
    return lines


try:
    _LINES = _probe()
except Exception as exc:
    _LINES = [f"ERROR probe failed {exc!r}"]
_logged = False


def act(observation, context):
    global _logged
    if not _logged:
        _logged = True
        for line in _LINES:
            context.log(line)
        context.log(f"DONE ptrace-probe {len(_LINES)} checks")
    return context.legal_actions[0]
