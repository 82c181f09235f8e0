"""Grows one /state file until EFBIG (RLIMIT_FSIZE), then lets the error propagate."""

import os

PATH = "/state/fill.bin"


def act(observation, context):
    block = b"\x5a" * (1 << 20)
    fd = os.open(PATH, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, block)
    finally:
        os.close(fd)
        os.unlink(PATH)  # the OSError still propagates: the disk is not left full
