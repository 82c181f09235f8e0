"""The bound on concurrent argon2 work, observed through an instrumented hasher."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from devspark.core.errors import InvalidArgumentError
from devspark.services.accounts import authenticate, register
from devspark.services.password_slots import PASSWORD_SLOTS, HashSlots, cpu_slots
from devspark.store.db import make_engine

PASSWORD = "correct horse battery"
WAIT_S = 30.0  # an upper bound on waiting for threads to arrive, never a pause


class GatedHasher(PasswordHasher):
    """A cheap hasher that records how many verifications run at once.

    Each verification waits at ``gate`` until the test opens it, so every caller the
    slots admit is inside ``verify`` at the same time and counted.
    """

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.calls = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        try:
            assert self.gate.wait(WAIT_S), "the test never opened the gate"
            return super().verify(hash, password)
        finally:
            with self.lock:
                self.running -= 1


def test_default_slots_are_one_per_usable_cpu() -> None:
    assert PASSWORD_SLOTS.size == cpu_slots() >= 1
    with pytest.raises(InvalidArgumentError, match="size must be at least 1"):
        HashSlots(0)


def test_32_concurrent_logins_never_run_more_verifications_than_slots(
    session: Session, db_url: str
) -> None:
    hasher = GatedHasher()
    register(session, "ada", PASSWORD, hasher=hasher)
    session.commit()
    slots = HashSlots(4)
    # A connection per login thread (no pool limit), so all 32 reach the slots at once.
    engine = make_engine(db_url, poolclass=NullPool)

    def login(_: int) -> str:
        with Session(engine) as own:
            return authenticate(own, "ada", PASSWORD, hasher=hasher, slots=slots).username

    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = [pool.submit(login, n) for n in range(32)]
        # All 32 have arrived: 4 hold a slot (inside verify, at the gate), 28 wait.
        assert slots.wait_for(active=4, waiting=28, timeout=WAIT_S)
        assert hasher.running == 4
        hasher.gate.set()
        names = [future.result(timeout=WAIT_S) for future in futures]
    assert names == ["ada"] * 32
    assert hasher.calls == 32 and hasher.most == 4
    assert (slots.active, slots.waiting) == (0, 0)
    engine.dispose()
