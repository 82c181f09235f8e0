"""The Workers page in a real browser: worker rows from the database, states and queue.

A worker row written straight into the server's database (one draining, one whose
heartbeat is a minute old) shows up on ``#/workers`` next to the server's embedded
worker, each with its state badge, and the page follows a change of state on its own
(it polls every 2 s). The page is photographed at 1280x800 (``shots``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from devspark.store.db import make_engine, session_factory
from devspark.store.models import WorkerRow, utcnow

pytestmark = [pytest.mark.browser, pytest.mark.integration]

expect: Any = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
).expect

DESKTOP = {"width": 1280, "height": 800}
DIGITS = re.compile(r"^\d+$")
Shot = Callable[[Any, str], Path]


@pytest.fixture(scope="module")
def db(dashboard_server: Any) -> Iterator[sessionmaker[Session]]:
    """Sessions on the served database (SQLite in the server's data folder)."""
    engine = make_engine(f"sqlite:///{dashboard_server.data_dir / 'devspark.db'}")
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def add_worker(db: sessionmaker[Session], name: str, *, state: str, beat_age_s: float) -> None:
    now = utcnow()
    with db() as session:
        session.add(
            WorkerRow(
                name=name,
                host="rack-7",
                pid=31337,
                state=state,
                slots=4,
                started_at=now - timedelta(minutes=3),
                heartbeat_at=now - timedelta(seconds=beat_age_s),
                matches_played=42,
                in_flight=2,
            )
        )
        session.commit()


def row_of(page: Any, name: str) -> Any:
    return page.locator("tbody tr").filter(has=page.locator(".worker-name", has_text=name))


def test_workers_page_lists_workers_with_their_state(
    dashboard_server: Any, browser: Any, db: sessionmaker[Session], shots: Shot
) -> None:
    add_worker(db, "rack-7-drainer", state="draining", beat_age_s=0)
    add_worker(db, "rack-7-ghost", state="busy", beat_age_s=60)
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        page.goto(f"{dashboard_server.url}/#/")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Workers").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Workers")
        drainer = row_of(page, "rack-7-drainer")
        expect(drainer.locator(".badge")).to_have_text("draining")
        expect(drainer).to_contain_text("rack-7 (pid 31337)")
        expect(drainer).to_contain_text("2 / 4")
        expect(drainer).to_contain_text("42")
        expect(drainer.locator("time")).to_contain_text("s ago")
        ghost = row_of(page, "rack-7-ghost")
        expect(ghost.locator(".badge")).to_have_text("offline")  # a minute without heartbeat
        expect(row_of(page, "embedded").locator(".badge")).to_have_text("idle")
        for key in ("queued", "running", "finished_last_minute"):
            expect(page.locator(f'[data-count="{key}"] .queue-value')).to_have_text(DIGITS)
        shots(page, "workers")
        with db() as session:  # the page polls: a worker that becomes idle shows idle
            session.execute(
                update(WorkerRow)
                .where(WorkerRow.name == "rack-7-drainer")
                .values(state="idle", heartbeat_at=utcnow())
            )
            session.commit()
        expect(drainer.locator(".badge")).to_have_text("idle", timeout=10_000)
    finally:
        context.close()
