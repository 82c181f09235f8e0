"""Allocates memory in 8 MiB blocks, every page touched, until the memory cgroup kills it."""

_hoard = []


def act(observation, context):
    while True:
        _hoard.append(bytearray(8 << 20))  # bytearray(n) memsets: every page is resident
