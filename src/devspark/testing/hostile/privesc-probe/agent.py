"""Tries to gain privileges or leave the sandbox's namespaces and syscall filter.

setuid binaries, capabilities, new user/mount/pid namespaces (unshare and raw clone),
mount, chroot, keyrings, bpf, perf, userfaultfd, io_uring, setuid(0), raising hard
rlimits and priority, terminal injection (TIOCSTI), and the 32-bit int 0x80 and x32
syscall ABIs (seccomp filters are per-ABI: a filter that forgot one is bypassed).
Verdicts: ``BLOCKED`` when refused, ``LEAK`` when it worked.
"""

import ctypes
import errno
import fcntl
import mmap
import os
import platform
import resource
import signal
import subprocess
import termios

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
SIGCHLD = 17
SYS = {
    "clone": 56,
    "keyctl": 250,
    "add_key": 248,
    "bpf": 321,
    "perf_event_open": 298,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "socket": 41,
    "init_module": 175,
}
X32_BIT = 0x40000000
# push rbx; mov eax, 359 (i386 socket); mov ebx, 2; mov ecx, 1; xor edx, edx; int 0x80; pop rbx; ret
INT80_SOCKET = bytes.fromhex("53b867010000bb02000000b90100000031d2cd805bc3")


def _name(value):
    return f"{errno.errorcode.get(value, 'E?')}({value})"


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _call(label, func, *args):
    ctypes.set_errno(0)
    result = func(*args)
    if result < 0:
        return f"BLOCKED {label} {_name(ctypes.get_errno())}"
    return f"LEAK {label} returned {result}"


def _in_child(label, body):
    """Run ``body`` in a forked child: a kill by SIGSYS or SIGSEGV is a verdict too."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            verdict = body()
        except BaseException as exc:
            verdict = f"BLOCKED {label} {type(exc).__name__}"
        os.write(write_end, verdict.encode())
        os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    data = os.read(read_end, 4096).decode()
    os.close(read_end)
    if os.WIFSIGNALED(status):
        return f"BLOCKED {label} child killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return data or f"BLOCKED {label} no verdict"


def _clone(libc, flags, label):
    def body():
        ctypes.set_errno(0)
        pid = libc.syscall(SYS["clone"], flags | SIGCHLD, 0, 0, 0, 0)
        if pid == 0:
            os._exit(0)
        if pid < 0:
            return f"BLOCKED {label} {_name(ctypes.get_errno())}"
        os.waitpid(pid, 0)
        return f"LEAK {label} created a namespace"

    return _in_child(label, body)


def _unshare(libc, flags, label):
    return _in_child(label, lambda: _call(label, libc.unshare, flags))


def _int80(libc):
    if platform.machine() != "x86_64":
        return "INFO abi:i386 not tested on this machine"

    def body():
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        page.write(INT80_SOCKET)
        address = ctypes.addressof(ctypes.c_char.from_buffer(page))
        result = ctypes.CFUNCTYPE(ctypes.c_int)(address)()
        if result < 0:
            return f"BLOCKED abi:i386 socket via int 0x80 {_name(-result)}"
        return f"LEAK abi:i386 socket via int 0x80 returned fd {result}"

    return _in_child("abi:i386 socket via int 0x80", body)


def _x32(libc):
    def body():
        ctypes.set_errno(0)
        result = libc.syscall(X32_BIT | SYS["socket"], 2, 1, 0)
        if result < 0:
            return f"BLOCKED abi:x32 socket {_name(ctypes.get_errno())}"
        return f"LEAK abi:x32 socket returned fd {result}"

    return _in_child("abi:x32 socket", body)


def _setuid_binaries():
    lines = []
    for command in (
        ["/usr/bin/su", "-c", "id -u", "root"],
        ["/usr/bin/mount", "-t", "tmpfs", "none", "/tmp"],
        ["/usr/bin/newgrp", "root"],
    ):
        label = f"exec {command[0]}"
        try:
            done = subprocess.run(command, capture_output=True, timeout=2, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            lines.append(f"BLOCKED {label} {type(exc).__name__}")
            continue
        if done.returncode == 0:
            lines.append(f"LEAK {label} succeeded: {done.stdout[:80]!r}")
        else:
            lines.append(f"BLOCKED {label} exit {done.returncode}: {done.stderr[:80]!r}")
    return lines


def _status_fields():
    fields = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    lines = []
    for key in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        value = int(fields.get(key, "0"), 16)
        lines.append(f"LEAK {key}={value:#x}" if value else f"BLOCKED {key} is empty")
    lines.append(
        "BLOCKED no_new_privs set"
        if fields.get("NoNewPrivs") == "1"
        else "LEAK no_new_privs not set"
    )
    lines.append(
        "BLOCKED seccomp filter on"
        if fields.get("Seccomp") == "2"
        else f"LEAK seccomp mode {fields.get('Seccomp')}"
    )
    return lines


def _rlimits():
    lines = []
    for name in ("RLIMIT_NOFILE", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_CPU"):
        which = getattr(resource, name)
        soft, hard = resource.getrlimit(which)
        if hard == resource.RLIM_INFINITY:
            lines.append(f"INFO {name} hard limit is unlimited")
            continue
        try:
            resource.setrlimit(which, (soft, hard * 2))
            lines.append(f"LEAK raise {name} hard limit")
        except (OSError, ValueError) as exc:
            lines.append(f"BLOCKED raise {name} hard limit {type(exc).__name__}")
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -20)
        lines.append("LEAK nice -20")
    except OSError as exc:
        lines.append(f"BLOCKED nice -20 {_name(exc.errno)}")
    return lines


def _tiocsti():
    lines = []
    try:
        fd = os.open("/dev/tty", os.O_RDWR)
        os.close(fd)
        lines.append("LEAK open /dev/tty (a controlling terminal)")
    except OSError as exc:
        lines.append(f"BLOCKED open /dev/tty {_name(exc.errno)}")
    for fd in (0, 2):
        try:
            fcntl.ioctl(fd, termios.TIOCSTI, b"x")
            lines.append(f"LEAK TIOCSTI on fd {fd}")
        except OSError as exc:
            lines.append(f"BLOCKED TIOCSTI on fd {fd} {_name(exc.errno)}")
    return lines


def _probe():
    libc = _libc()
    lines = _status_fields()
    lines += _setuid_binaries()
    for flags, label in (
        (CLONE_NEWUSER, "user"),
        (CLONE_NEWNS, "mount"),
        (CLONE_NEWPID, "pid"),
        (CLONE_NEWNET, "net"),
    ):
        lines.append(_unshare(libc, flags, f"unshare:{label}"))
        lines.append(_clone(libc, flags, f"clone:{label}"))
    lines.append(_call("mount tmpfs /tmp", libc.mount, b"none", b"/tmp", b"tmpfs", 0, None))
    lines.append(_call("mount proc", libc.mount, b"proc", b"/tmp", b"proc", 0, None))
    lines.append(_call("chroot /tmp", libc.chroot, b"/tmp"))
    lines.append(_call("setuid 0", libc.setuid, 0))
    lines.append(_call("setgid 0", libc.setgid, 0))
    for name in (
        "keyctl",
        "add_key",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "init_module",
    ):
        lines.append(_call(f"syscall:{name}", libc.syscall, SYS[name], 0, 0, 0, 0, 0))
    lines += _rlimits()
    lines += _tiocsti()
    lines.append(_int80(libc))
    lines.append(_x32(libc))
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
        context.log(f"DONE privesc-probe {len(_LINES)} checks")
    return context.legal_actions[0]
