"""The seccomp filter compiles to BPF; the network variant differs."""

from __future__ import annotations

import os

from devspark.sandbox import seccomp

BPF_INSTRUCTION_BYTES = 8


def test_filter_bpf_is_a_non_empty_program() -> None:
    program = seccomp.filter_bpf(allow_network=False)
    assert isinstance(program, bytes)
    assert program
    assert len(program) % BPF_INSTRUCTION_BYTES == 0


def test_network_variant_differs_and_denies_less() -> None:
    closed = seccomp.filter_bpf(allow_network=False)
    opened = seccomp.filter_bpf(allow_network=True)
    assert opened
    assert opened != closed
    assert len(opened) < len(closed)


def test_filter_is_cached() -> None:
    assert seccomp.filter_bpf(allow_network=False) is seccomp.filter_bpf(allow_network=False)


def test_filter_fd_holds_the_program() -> None:
    fd = seccomp.filter_fd(allow_network=False)
    try:
        data = b""
        while chunk := os.read(fd, 1 << 16):
            data += chunk
    finally:
        os.close(fd)
    assert data == seccomp.filter_bpf(allow_network=False)
