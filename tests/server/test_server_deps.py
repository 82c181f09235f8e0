"""The request session dependency: never more sessions than the pool can back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import anyio.to_thread
import httpx
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, QueuePool, StaticPool

from devspark.server.deps import (
    RESERVED_CONNECTIONS,
    UNBOUNDED_SLOTS,
    get_session,
    session_slots,
    slot_given_back,
)


def test_slots_leave_the_reserved_connections_of_a_bounded_pool() -> None:
    engine = create_engine("sqlite://", poolclass=QueuePool, pool_size=5, max_overflow=10)
    assert session_slots(engine.pool) == 5 + 10 - RESERVED_CONNECTIONS
    tiny = create_engine("sqlite://", poolclass=QueuePool, pool_size=1, max_overflow=0)
    assert session_slots(tiny.pool) == 1  # never zero: requests must still be served
    unbounded = create_engine("sqlite://", poolclass=QueuePool, max_overflow=-1)
    assert session_slots(unbounded.pool) == UNBOUNDED_SLOTS
    assert session_slots(create_engine("sqlite://", poolclass=StaticPool).pool) == (UNBOUNDED_SLOTS)
    assert session_slots(create_engine("sqlite://", poolclass=NullPool).pool) == UNBOUNDED_SLOTS


class Answer(BaseModel):
    value: int


def burst_app(database: Path) -> tuple[FastAPI, list[int]]:
    """A sync route on a pool of 6 connections that times out after 3 s."""
    engine = create_engine(
        f"sqlite:///{database}",
        poolclass=QueuePool,
        pool_size=6,
        max_overflow=0,
        pool_timeout=3,
    )
    app = FastAPI()
    app.state.session_factory = sessionmaker(bind=engine)
    open_sessions: list[int] = [0, 0]  # now, most at once

    @app.get("/read")
    def read(session: Annotated[Session, Depends(get_session)]) -> Answer:
        open_sessions[0] += 1
        open_sessions[1] = max(open_sessions[1], open_sessions[0])
        try:
            value = session.execute(text("SELECT 1")).scalar_one()
            time.sleep(0.005)
            return Answer(value=value)
        finally:
            open_sessions[0] -= 1

    return app, open_sessions


def test_a_burst_larger_than_the_pool_is_served_without_stalling(tmp_path: Path) -> None:
    # Few threads and a burst far larger than the pool: without the bound, handlers
    # waiting for a connection take every thread while the requests holding the
    # connections wait for a thread to validate their response, until the pool times
    # out (500s after 3 s).
    app, open_sessions = burst_app(tmp_path / "burst.db")

    async def burst() -> list[int]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 4
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            responses = await asyncio.gather(*(client.get("/read") for _ in range(60)))
            return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 60  # a stall ends in the pool's 500s
    assert open_sessions[1] <= 6 - RESERVED_CONNECTIONS  # never more than the slots


def test_a_request_that_gave_its_slot_back_lets_others_through(tmp_path: Path) -> None:
    # One slot (4 connections, 3 reserved): three long waits would hold up every other
    # request if they kept it; with slot_given_back each borrows it only to read.
    engine = create_engine(
        f"sqlite:///{tmp_path / 'wait.db'}", poolclass=QueuePool, pool_size=4, max_overflow=0
    )
    app = FastAPI()
    app.state.session_factory = sessionmaker(bind=engine)
    assert session_slots(engine.pool) == 1
    release = asyncio.Event()
    waiting = asyncio.Semaphore(0)

    def one(session: Session) -> int:
        return int(session.execute(text("SELECT 1")).scalar_one())

    @app.get("/wait")
    async def wait(request: Request, session: Annotated[Session, Depends(get_session)]) -> Answer:
        async with slot_given_back(request, session) as loan:
            waiting.release()
            await release.wait()
            value = await loan.run(one, session)
        return Answer(value=value)

    @app.get("/read")
    def read(session: Annotated[Session, Depends(get_session)]) -> Answer:
        return Answer(value=one(session))

    async def scenario() -> tuple[int, list[int]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            waits = [asyncio.create_task(client.get("/wait")) for _ in range(3)]
            for _ in waits:
                await waiting.acquire()  # every wait is parked, slot given back
            async with asyncio.timeout(5):
                read_status = (await client.get("/read")).status_code
            release.set()
            return read_status, [(await task).status_code for task in waits]

    read_status, wait_statuses = asyncio.run(scenario())
    assert read_status == 200
    assert wait_statuses == [200, 200, 200]
    assert app.state.session_slots._value == 1  # every slot given back was taken back
