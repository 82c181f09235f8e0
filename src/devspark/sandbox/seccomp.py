"""The seccomp filter loaded into every sandboxed agent (via ``bwrap --seccomp FD``).

Default allow, with a deny list of the syscalls an agent never needs: socket creation
(unless a ``net:*`` capability is granted), tracing, mounting, kernel keyrings, BPF,
namespaces, module loading and other host-level operations. Denied calls fail with
EPERM so well-behaved runtimes degrade gracefully; syscalls of foreign architectures
kill the process. The BPF program is compiled once per variant and cached.
"""

from __future__ import annotations

import errno
import functools
import os

import pyseccomp as sc

ALWAYS_DENIED = (
    "ptrace",
    "pidfd_getfd",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "unshare",
    "setns",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "personality",
    "uselib",
    "vhangup",
    "nfsservctl",
)
NETWORK = ("socket", "socketpair", "connect", "bind", "listen", "accept", "accept4")


@functools.cache
def filter_bpf(*, allow_network: bool) -> bytes:
    """Compile the filter to BPF bytes (cached per variant)."""
    rules = sc.SyscallFilter(sc.ALLOW)
    denied = ALWAYS_DENIED if allow_network else ALWAYS_DENIED + NETWORK
    for name in denied:
        try:
            rules.add_rule(sc.ERRNO(errno.EPERM), name)
        except (RuntimeError, ValueError, OSError):  # syscall unknown to this libseccomp/arch
            continue
    read_fd, write_fd = os.pipe()
    try:
        with os.fdopen(write_fd, "wb") as sink:
            rules.export_bpf(sink)
        chunks = []
        while chunk := os.read(read_fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    return b"".join(chunks)


def filter_fd(*, allow_network: bool) -> int:
    """A readable fd holding the BPF program, for ``bwrap --seccomp FD``.

    The caller passes it to the child and closes it afterwards.
    """
    program = filter_bpf(allow_network=allow_network)
    read_fd, write_fd = os.pipe()
    os.write(write_fd, program)  # a few hundred bytes: fits in the pipe buffer
    os.close(write_fd)
    return read_fd
