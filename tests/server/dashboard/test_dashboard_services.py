"""The service-agent pages in a real browser: instances, tasks and who messaged whom.

Against a real ``devspark serve`` (``dashboard_server``) and Debian's chromium, logged in
as the seeded admin:

- a match of four ``builtin:foraging-bus`` agents (they talk on ``team.forage``) shows on
  its page the graph of who messaged whom, drawn from its replay: a node per seat, an
  arrow per sender, receiver and channel, the counts adding up to the deliveries the
  replay recorded; a match whose agents never publish has no such section;
- ``#/instances`` refuses an unknown agent with the API's own 422 message, starts
  ``builtin:echo`` instances from its form and shows them come online with a heartbeat,
  a load bar and a stop button that drains one;
- ``#/tasks`` submits an ``echo`` task and waits for its result, shows the queue's
  counts and filters the list; an ``echo.slow`` task's page follows its progress live
  over ``task:<id>`` to its result; a task whose agent raises shows the reason;
- an uploaded coordinator (``fanout``) answers a task with two ``echo`` sub-tasks, and
  ``#/instances`` draws who asked whom from ``GET /instances/graph``: the admin to the
  instances, the coordinator's instance to the echo ones; a stop drains an instance.

Every page is photographed at 1280x800 (``shots``); script errors and Content Security
Policy violations fail the test.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_dashboard_browser import Tab, opened

from devspark.testing.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

sync_api: Any = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
)
expect: Any = sync_api.expect
PlaywrightTimeout: Any = sync_api.TimeoutError

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
Shot = Callable[[Any, str], Path]
TALKERS = 4
SLOW_PAUSE_MS = 600
"""echo.slow sleeps this long before each of its three progress reports."""


@dataclass(frozen=True, slots=True)
class Admin:
    """A tab logged in as the seeded admin, with the API's address and its bearer header.

    The tab is the dashboard journey's (``test_dashboard_browser.Tab``): script errors
    and Content Security Policy violations fail the test when it closes.
    """

    tab: Tab
    api: str
    headers: dict[str, str]

    def go(self, route: str) -> Any:
        """Open ``route`` once the page has drawn its data; the page."""
        return self.tab.go(route)


def as_admin(tab: Tab) -> Admin:
    tab.login("admin", tab.server.admin_password)
    token = tab.page.evaluate("() => sessionStorage.getItem('devspark.access_token')")
    return Admin(tab, f"{tab.server.url}/api/v1", {"Authorization": f"Bearer {token}"})


def _alert(page: Any) -> Any:
    return page.locator("#alerts .alert")


def _finished_match(tab: Admin, body: dict[str, Any]) -> dict[str, Any]:
    created = httpx.post(f"{tab.api}/matches", headers=tab.headers, json=body, timeout=30)
    assert created.status_code == 201, created.text
    match_id = created.json()["id"]

    def finished() -> dict[str, Any] | None:
        match: dict[str, Any] = httpx.get(f"{tab.api}/matches/{match_id}", timeout=10).json()
        return match if match["status"] not in ("queued", "running") else None

    match = wait_until(finished, f"match {match_id} to end", timeout=120, poll_s=0.2)
    assert match["status"] == "finished", match
    return match


def _deliveries(replay: dict[str, Any]) -> dict[tuple[str, str, str], int]:
    """(sender, receiver, channel) -> how many messages the replay delivered that way."""
    counts: dict[tuple[str, str, str], int] = {}
    for step in replay["steps"]:
        for message in step.get("messages", []):
            for receiver in message["to"]:
                key = (message["sender"], receiver, message["channel"])
                counts[key] = counts.get(key, 0) + 1
    return counts


def match_graph(admin: Admin, shots: Shot) -> str:
    """A match whose agents talk shows who messaged whom; a quiet one shows nothing.

    Returns:
        The talking match's id.

    """
    match = _finished_match(
        admin,
        {"scenario": "foraging", "agents": ["builtin:foraging-bus"] * TALKERS, "seed": 3},
    )
    replay = httpx.get(
        f"{admin.api}/matches/{match['id']}/replay", headers=admin.headers, timeout=30
    ).json()
    counts = _deliveries(replay)
    published = sum(len(step.get("messages", [])) for step in replay["steps"])
    assert counts, "the foraging-bus agents sent each other nothing"

    page = admin.go(f"#/matches/{match['id']}")
    section = page.locator("section.match-messages")
    expect(section.get_by_role("heading", name="Messages between agents")).to_be_visible()
    graph = section.locator("figure.graph")
    expect(graph.locator("[data-node]")).to_have_count(TALKERS)
    roles = [agent["role"] for agent in replay["agents"]]
    assert graph.locator("[data-node]").evaluate_all(
        "(nodes) => nodes.map((n) => n.dataset.node)"
    ) == sorted(roles, key=roles.index)
    expect(graph.locator(".edge-group")).to_have_count(len(counts))
    drawn = [int(text) for text in graph.locator(".edge-count").all_text_contents()]
    assert sorted(drawn) == sorted(counts.values())
    delivered = sum(counts.values())
    expect(graph.locator(".graph-summary")).to_have_text(
        f"{published} messages published, {delivered} deliveries."
    )
    expect(graph.get_by_role("img")).to_have_attribute(
        "aria-label", re.compile(rf"{TALKERS} nodes, {len(counts)} links, {delivered} in all")
    )
    # The same links as a table, most first.
    graph.locator("summary", has_text="The links as a table").click()
    rows = graph.locator(".graph-table tbody tr")
    expect(rows).to_have_count(len(counts))
    sender, receiver, channel = max(counts, key=lambda key: counts[key])
    first = rows.first.locator("td")
    expect(first.nth(0)).to_contain_text(sender)
    expect(first.nth(3)).to_have_text(str(counts[(sender, receiver, channel)]))
    expect(graph.locator(".legend")).to_contain_text(channel)
    shots(page, "services-match-messages")

    quiet = _finished_match(
        admin, {"scenario": "tictactoe", "agents": ["builtin:random", "builtin:minimax"]}
    )
    page = admin.go(f"#/matches/{quiet['id']}")
    expect(page.locator("#player-heading")).to_have_text("Replay")
    expect(page.locator(".replay-host > *").first).to_be_visible()  # drawn after the graph
    expect(page.locator("section.match-messages")).to_have_count(0)
    return str(match["id"])


def unknown_agent_refused(admin: Admin, shots: Shot) -> None:
    """No instance yet; starting an unknown agent shows the API's 422 message, once."""
    page = admin.go("#/instances")
    expect(page.locator("main h1")).to_have_text("Instances")
    expect(page.locator(".instances tbody")).to_contain_text("No instance yet")
    body = {"agent": "builtin:no-such-service", "replicas": 1}
    answer = httpx.post(f"{admin.api}/instances", headers=admin.headers, json=body, timeout=30)
    assert answer.status_code == 422, answer.text
    message = answer.json()["error"]["message"]
    page.get_by_label("Service agent").fill(body["agent"])
    page.get_by_role("button", name="Start instances").click()
    alert = _alert(page)
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text("Start instances")
    expect(alert).to_contain_text(message.split("\n")[0])
    # ... and under the form's button too, where the user is looking.
    expect(page.locator("form .form-error")).to_contain_text(message.split("\n")[0])
    shots(page, "services-instances-refused")
    # A second try that is refused again replaces the first error, never piles up.
    page.get_by_role("button", name="Start instances").click()
    expect(alert).to_have_count(1)


def instances_started(admin: Admin, shots: Shot) -> None:
    """Two echo instances started from the form come online with a heartbeat and a load."""
    page = admin.go("#/instances")
    page.get_by_label("Service agent").fill("builtin:echo")
    page.get_by_label("Replicas").fill("2")
    page.get_by_role("button", name="Start instances").click()
    expect(page.locator("#notices")).to_contain_text("Started 2 instances of builtin:echo")
    rows = page.locator(".instances tbody tr").filter(has=page.locator(".instance-agent"))
    expect(rows).to_have_count(2)
    for index in range(2):
        row = rows.nth(index)
        expect(row).to_contain_text("builtin:echo")
        expect(row.locator(".handles")).to_contain_text("echo.slow")
        # The page polls: the worker places them and they report in.
        expect(row.locator(".badge")).to_have_text(re.compile("^(online|idle)$"), timeout=60_000)
        expect(row.locator("time")).to_have_text(re.compile(r"^\d+ s ago$"))
        expect(row.locator(".load-value")).to_have_text(re.compile(r"^\d+ %$"))
    shots(page, "services-instances")


def tasks_waited_streamed_failed(admin: Admin, shots: Shot) -> None:
    """A task waited for, one followed live to its result, one that fails; the filters."""
    page = admin.go("#/tasks")
    expect(page.locator("main h1")).to_have_text("Tasks")
    page.get_by_label("Task type").fill("echo")
    payload = page.get_by_label("Payload (JSON)")
    payload.fill('{"hello": ')
    page.get_by_role("button", name="Submit task").click()
    expect(_alert(page)).to_contain_text("The payload is not JSON")
    expect(page.locator("form .form-error")).to_contain_text("The payload is not JSON")
    # Synchronous: wait for the result, shown under the form; the fixed error goes away.
    payload.fill('{"hello": "dashboard"}')
    page.get_by_label("Wait for the result").check()
    page.get_by_role("button", name="Submit task").click()
    expect(page.locator(".task-outcome .badge")).to_have_text("succeeded", timeout=30_000)
    assert json.loads(page.locator(".task-outcome .task-result").inner_text()) == {
        "hello": "dashboard"
    }
    expect(_alert(page)).to_have_count(0)
    expect(page.locator("form .form-error")).to_be_empty()
    expect(page.locator('[data-count="succeeded"] .queue-value')).to_have_text("1")
    shots(page, "services-tasks")

    # Streaming: echo.slow reports three steps, the task's page shows each as it comes.
    page.get_by_label("Task type").fill("echo.slow")
    payload.fill(json.dumps({"pause_ms": SLOW_PAUSE_MS}))
    page.get_by_label("Wait for the result").uncheck()
    page.get_by_role("button", name="Submit task").click()
    expect(page.locator("main h1")).to_contain_text("echo.slow")
    task_id = page.evaluate("() => location.hash.split('/').pop()")
    expect(page.locator(".live-state")).to_contain_text("Live")
    expect(page.locator(".progress-value")).to_have_text(re.compile("33 %"), timeout=30_000)
    expect(page.locator(".progress-value")).to_have_text(re.compile("67 %"))
    shots(page, "services-task-progress")
    expect(page.locator(".task-status .badge")).to_have_text("succeeded", timeout=30_000)
    expect(page.locator(".progress-value")).to_have_text(re.compile("100 %"))
    progress = page.locator('.task-events li[data-kind="progress"]')
    expect(progress).to_have_count(3)
    expect(page.locator('.task-events li[data-kind="finished"]')).to_have_count(1)
    assert json.loads(page.locator(".task-result").inner_text()) == {"pause_ms": SLOW_PAUSE_MS}
    stored = httpx.get(f"{admin.api}/tasks/{task_id}", headers=admin.headers, timeout=10).json()
    assert stored["status"] == "succeeded" and stored["result"] == {"pause_ms": SLOW_PAUSE_MS}
    page.locator(".task-log summary").click()
    shots(page, "services-task-done")

    # A task whose agent raises: its page says why.
    submitted = httpx.post(
        f"{admin.api}/tasks",
        headers=admin.headers,
        json={"type": "echo.slow", "payload": {"pause_ms": "soon"}, "max_attempts": 1},
        timeout=30,
    )
    assert submitted.status_code == 202, submitted.text
    failed_id = submitted.json()["id"]
    page = admin.go(f"#/tasks/{failed_id}")
    failure = page.get_by_role("note", name="Why this task did not succeed")
    expect(failure).to_be_visible(timeout=30_000)
    expect(failure.locator(".task-error")).to_contain_text("TypeError")
    shots(page, "services-task-failed")

    # The list, filtered by status: only the failed task.
    page = admin.go("#/tasks?status=failed")
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".badge")).to_have_text("failed")
    # Beside the badge, the traceback's telling line: the exception, not "Traceback (...)".
    expect(rows.first.locator(".failure-short")).to_contain_text("TypeError")
    expect(rows.first.locator(".task-id")).to_have_text(failed_id[:8])
    expect(page.locator('[data-count="failed"]')).to_have_class(re.compile("selected"))
    page = admin.go("#/tasks?type=echo.slow")
    expect(page.locator("main table tbody tr")).to_have_count(2)


COORDINATOR_MANIFEST = """\
name = "fanout"
version = "1.0.0"
language = "python"
entrypoint = "agent.py"
description = "Splits a task into echo sub-tasks (a coordinator for the dashboard test)"
license = "MIT"
scenarios = []
capabilities = ["bus:request:svc.echo"]
[service]
handles = ["fanout"]
concurrency = 1
"""
COORDINATOR_CODE = """\
def handle(task, context):
    return [context.submit("echo", {"part": part}) for part in task["payload"]["parts"]]
"""


def coordinator_asks_echo(admin: Admin, folder: Path) -> None:
    """An uploaded coordinator instance answers a task with two echo sub-tasks."""
    source = folder / "fanout"
    source.mkdir()
    (source / "agent.toml").write_text(COORDINATOR_MANIFEST)
    (source / "agent.py").write_text(COORDINATOR_CODE)
    archive = Path(shutil.make_archive(str(folder / "fanout"), "gztar", root_dir=source))
    with archive.open("rb") as data:
        files = {"file": (archive.name, data, "application/gzip")}
        uploaded = httpx.post(f"{admin.api}/agents", headers=admin.headers, files=files, timeout=30)
    assert uploaded.status_code == 201, uploaded.text
    version = uploaded.json()
    started = httpx.post(
        f"{admin.api}/agents/{version['agent_id']}/start?version_id={version['id']}",
        headers=admin.headers,
        timeout=30,
    )
    assert started.status_code == 200, started.text
    body = {"agent": "agent:admin/fanout@1.0.0", "replicas": 1}
    created = httpx.post(f"{admin.api}/instances", headers=admin.headers, json=body, timeout=30)
    assert created.status_code == 201, created.text
    task = {"type": "fanout", "payload": {"parts": ["a", "b"]}}
    answer = httpx.post(
        f"{admin.api}/tasks?wait=60", headers=admin.headers, json=task, timeout=90
    ).json()
    assert answer.get("result") == [{"part": "a"}, {"part": "b"}], answer


def instances_graph_and_stop(admin: Admin, shots: Shot, folder: Path) -> None:
    """The graph of who asked whom, as the API reads it; a stopped instance drains."""
    coordinator_asks_echo(admin, folder)
    graph = httpx.get(f"{admin.api}/instances/graph", headers=admin.headers, timeout=10).json()
    kinds = {edge["kind"]: 0 for edge in graph["edges"]}
    for edge in graph["edges"]:
        kinds[edge["kind"]] += edge["count"]
    assert kinds.get("subtask") == 2, graph  # the coordinator's two echo sub-tasks
    page = admin.go("#/instances")
    figure = page.locator("figure.graph")
    expect(figure.locator("[data-node]")).to_have_count(len(graph["nodes"]))
    expect(figure.locator(".edge-group")).to_have_count(len(graph["edges"]))
    drawn = sorted(
        int(t.replace(",", "")) for t in figure.locator(".edge-count").all_text_contents()
    )
    assert drawn == sorted(edge["count"] for edge in graph["edges"])
    expect(figure.locator(".legend")).to_contain_text("subtask")
    titles = figure.locator(".edge-group > title").all_text_contents()
    assert any(
        re.match(r"^fanout@1\.0\.0 \S+ → echo@1\.0\.0 \S+ \(subtask\)", t) for t in titles
    ), titles
    rows = page.locator(".instances tbody tr").filter(has=page.locator(".instance-agent"))

    def tasks_counted() -> int:
        counts = [
            int(number.replace(",", ""))
            for i in range(rows.count())
            for number in rows.nth(i).locator("td").nth(5).inner_text().split("/")
        ]
        return sum(counts)

    # The echo, echo.slow and failed tasks, done or failed, once the instances have
    # reported (at their next heartbeat) and the page has polled.
    wait_until(lambda: tasks_counted() >= 3, "3 tasks counted", timeout=30, poll_s=0.5)
    shots(page, "services-instances-graph")

    first = rows.first
    instance_id = first.locator(".instance-agent").get_attribute("data-instance")
    assert instance_id
    first.get_by_role("button", name=re.compile("^Stop instance")).click()
    expect(page.locator("#notices")).to_contain_text(instance_id[:8])
    stopped = rows.filter(has=page.locator(f'[data-instance="{instance_id}"]'))
    expect(stopped.get_by_role("button", name=re.compile("^Stop instance"))).to_be_disabled()
    expect(stopped.locator(".badge")).to_have_text(
        re.compile("^(maintenance|offline)$"), timeout=30_000
    )
    stored = httpx.get(
        f"{admin.api}/instances/{instance_id}", headers=admin.headers, timeout=10
    ).json()
    assert stored["desired"] == "stopped"


def anonymous_is_asked_to_log_in(browser: Any, server: Any) -> None:
    """Without a login the pages ask for one and offer no form."""
    with opened(browser, server, DESKTOP) as tab:
        for route, form in (("#/instances", "Start instances"), ("#/tasks", "Submit task")):
            page = tab.go(route)
            expect(page.locator("main").get_by_role("link", name="Log in")).to_be_visible()
            expect(page.get_by_role("button", name=form)).to_have_count(0)


WIDE = """() => [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 6).map((e) => `${e.tagName}.${e.getAttribute('class')}: ${Math.round(e.getBoundingClientRect().right)}`)"""
"""The first elements reaching past the window's right edge (what makes a page scroll)."""


def phone_layout(browser: Any, server: Any, shots: Shot, match_id: str) -> None:
    """At 390x844 no page scrolls sideways; the graph numbers its nodes and names them below."""
    with opened(browser, server, PHONE) as tab:
        as_admin(tab)
        for name, route in (
            ("instances", "#/instances"),
            ("tasks", "#/tasks"),
            ("match", f"#/matches/{match_id}"),
        ):
            page = tab.go(route)
            page.wait_for_load_state("networkidle")
            # The replay player's own stylesheet may still be on its way (it is loaded
            # when the player mounts): until then its tables are not yet scroll regions.
            fits = f"document.documentElement.scrollWidth <= {PHONE['width']}"
            try:
                page.wait_for_function(f"() => {fits}", timeout=10_000)
            except PlaywrightTimeout:
                shots(page, f"services-phone-{name}-too-wide")
                width = page.evaluate("document.documentElement.scrollWidth")
                pytest.fail(
                    f"{name}: the page scrolls sideways ({width} px): {page.evaluate(WIDE)}"
                )
            shots(page, f"services-phone-{name}")
        key = page.locator("section.match-messages .graph-key li")
        expect(key).to_have_count(TALKERS)
        expect(key.first).to_contain_text("player_0")


@pytest.mark.timeout(300)
def test_service_agent_pages(
    browser: Any, dashboard_server: Any, shots: Shot, tmp_path: Path
) -> None:
    """Instances, tasks and interaction graphs in order, as the admin; then as nobody, and
    on a phone (one server for all: under xdist a second test would start another)."""
    with opened(browser, dashboard_server, DESKTOP) as tab:
        admin = as_admin(tab)
        talking = match_graph(admin, shots)
        unknown_agent_refused(admin, shots)
        instances_started(admin, shots)
        tasks_waited_streamed_failed(admin, shots)
        instances_graph_and_stop(admin, shots, tmp_path)
    anonymous_is_asked_to_log_in(browser, dashboard_server)
    phone_layout(browser, dashboard_server, shots, talking)
