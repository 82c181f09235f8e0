"""Browser tests of the dashboard's match replay player and live match view.

Drives Debian's chromium through Playwright against the ES modules under
``src/devspark/server/dashboard/static/js/replay/``, served with the dashboard's strict
CSP by a tiny ``http.server`` of the test's own (no application server needed). Real
replays are recorded with the Python API for every built-in scenario; the player's
rebuilt states are compared with ``Replay.states()`` and its drawing with the states.
A 10,000-round dilemma measures first render, random jumps and playing at max speed
(figures printed). The live view is driven through a stub socket.

Marked ``integration`` so that a missing chromium or Playwright, a skip on a developer
machine, fails in CI (``DEVSPARK_REQUIRE_SERVICES=1``, see ``tests/ci_skip_guard.py``).
"""

from __future__ import annotations

import functools
import json
import random
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devspark.arena.match import MatchSpec
from devspark.arena.replay import Replay, record_match
from devspark.sandbox import IsolationLevel

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
STATIC = Path(__file__).resolve().parents[3] / "src/devspark/server/dashboard/static"
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TRUSTED = IsolationLevel.TRUSTED
BIG_ROUNDS = 10_000

SPECS: dict[str, MatchSpec] = {
    "tictactoe": MatchSpec(
        "tictactoe", ("builtin:random", "builtin:random"), seed=1, isolation=TRUSTED
    ),
    "tictactoe_win": MatchSpec(
        "tictactoe", ("builtin:minimax", "builtin:random"), seed=1, isolation=TRUSTED
    ),
    "connect_four": MatchSpec(
        "connect_four",
        ("builtin:connect-four-heuristic", "builtin:random"),
        seed=1,
        isolation=TRUSTED,
    ),
    "maze": MatchSpec(
        "maze", ("builtin:maze-astar",), seed=3, options={"difficulty": 3}, isolation=TRUSTED
    ),
    "foraging": MatchSpec(
        "foraging",
        ("builtin:foraging-coordinated", "builtin:foraging-coordinated"),
        seed=2,
        options={"difficulty": 3},
        isolation=TRUSTED,
    ),
    "prisoners_dilemma": MatchSpec(
        "prisoners_dilemma",
        ("builtin:tit-for-tat", "builtin:random", "builtin:pavlov"),
        seed=1,
        options={"difficulty": 3},
        isolation=TRUSTED,
    ),
    "puzzles": MatchSpec(
        "puzzles",
        ("builtin:puzzles-random",),
        seed=2,
        options={"difficulty": 2, "kind": "latin"},
        isolation=TRUSTED,
    ),
    "puzzles_make24": MatchSpec(
        "puzzles",
        ("builtin:puzzles-heuristic",),
        seed=1,
        options={"difficulty": 3, "kind": "make24"},
        isolation=TRUSTED,
    ),
    # builtin:random has no discrete action to pick on puzzles: it logs a line and
    # faults with invalid_action at once.
    "fault": MatchSpec(
        "puzzles", ("builtin:random",), seed=2, options={"difficulty": 2}, isolation=TRUSTED
    ),
    "big": MatchSpec(
        "prisoners_dilemma",
        ("builtin:tit-for-tat", "builtin:random"),
        seed=1,
        options={"difficulty": 3, "rounds": BIG_ROUNDS},
        isolation=TRUSTED,
    ),
}

PAGE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>replay player test</title>
<link rel="icon" href="data:,">
<script type="module" src="/page.js"></script>
</head><body><main id="host"></main></body></html>
"""

PAGE_JS = Path(__file__).with_name("page.js")


class _Handler(SimpleHTTPRequestHandler):
    """Serves the page folder, and ``/static/`` from the dashboard's static folder."""

    page_root = Path()

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0].split("#", 1)[0]
        if path.startswith("/static/"):
            target = (STATIC / path[len("/static/") :]).resolve()
            if STATIC.resolve() in target.parents:
                return str(target)
            return str(self.page_root / "missing")
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def _require_browser() -> Any:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed in this environment")
    return sync_playwright


@pytest.fixture(scope="module")
def replays() -> dict[str, Replay]:
    """A recorded replay per spec."""
    return {name: record_match(spec)[1] for name, spec in SPECS.items()}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, replays: dict[str, Replay]) -> Iterator[str]:
    """Base URL of the test page, the replays (JSON) and the static folder."""
    root = tmp_path_factory.mktemp("replay-site")
    (root / "index.html").write_text(PAGE_HTML, encoding="utf-8")
    shutil.copy(PAGE_JS, root / "page.js")
    (root / "replays").mkdir()
    for name, replay in replays.items():
        (root / "replays" / f"{name}.json").write_text(json.dumps(replay.data), encoding="utf-8")
    generic = {
        **replays["tictactoe"].data,
        "scenario": {"id": "pettingzoo:classic/chess_v6", "version": 1},
    }
    (root / "replays" / "generic.json").write_text(json.dumps(generic), encoding="utf-8")
    handler = functools.partial(
        type("Handler", (_Handler,), {"page_root": root}), directory=str(root)
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless chromium."""
    sync_playwright = _require_browser()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    """The test page at 1280x800; fails the test on page errors or CSP violations."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            problems.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400
            else None
        ),
    )
    page.goto(f"{site}/index.html")
    page.wait_for_function("() => window.apiReady === true")
    yield page
    context.close()
    assert problems == []


def _mount(page: Any, name: str) -> dict[str, float]:
    timing: dict[str, float] = page.evaluate("(name) => window.api.mount(name)", name)
    return timing


def _states(replay: Replay) -> list[Any]:
    return list(replay.states())


def _check_drawn(page: Any, scenario: str, state: dict[str, Any]) -> None:
    """The drawing shows ``state`` (scenario-specific readouts of the board)."""
    if scenario == "tictactoe":
        marks = page.eval_on_selector_all(
            "[data-board=tictactoe] [data-cell]", "nodes => nodes.map(n => Number(n.dataset.mark))"
        )
        assert marks == state["board"]
        texts = page.eval_on_selector_all(
            "[data-board=tictactoe] [data-cell]", "nodes => nodes.map(n => n.textContent)"
        )
        assert texts == [".XO"[m].replace(".", "") for m in state["board"]]
    elif scenario == "connect_four":
        marks = page.eval_on_selector_all(
            "[data-board=connect_four] circle[data-cell]",
            "nodes => nodes.map(n => Number(n.dataset.mark))",
        )
        assert marks == state["board"]
    elif scenario == "maze":
        position = page.get_attribute("[data-board=maze]", "data-position")
        assert json.loads(position or "null") == state["position"]
        assert f"steps {state['steps']}/{state['step_limit']}" in page.inner_text(".dsr-board")
    elif scenario == "foraging":
        agents = page.eval_on_selector_all(
            "[data-board=foraging] [data-agent]", "nodes => nodes.map(n => n.dataset.agent)"
        )
        assert agents == [f"{'ABCD'[i]},{r},{c}" for i, (r, c, _) in enumerate(state["agents"])]
        food = page.eval_on_selector_all(
            "[data-board=foraging] [data-food]", "nodes => nodes.map(n => n.dataset.food)"
        )
        assert food == [f"{r},{c},{lv}" for r, c, lv, done in state["food"] if not done]
    elif scenario == "prisoners_dilemma":
        assert page.get_attribute("[data-board=prisoners_dilemma]", "data-round") == str(
            state["round"]
        )
        scores = page.eval_on_selector_all(
            ".dsr-pd-table tbody tr", "rows => rows.map(r => Number(r.cells[4].textContent))"
        )
        assert scores == pytest.approx(state["scores"], abs=0.006)
    elif scenario == "puzzles":
        verdicts = page.eval_on_selector_all(
            ".dsr-attempts [data-verdict]", "nodes => nodes.map(n => n.dataset.verdict)"
        )
        assert verdicts == [attempt["verdict"] for attempt in state["attempts"]]
        assert state["prompt"] in page.inner_text("[data-board=puzzles]")


def _fits_phone(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the page scrolls sideways at 390 px ({width} px wide)"


RENDERED = ["tictactoe", "connect_four", "maze", "foraging", "prisoners_dilemma", "puzzles"]


@pytest.mark.parametrize("name", [*RENDERED, "puzzles_make24"])
def test_every_scenario_is_drawn_step_by_step(
    page: Any, replays: dict[str, Replay], name: str, tmp_path: Path
) -> None:
    replay = replays[name]
    scenario = replay.data["scenario"]["id"]
    states = _states(replay)
    _mount(page, name)
    assert page.get_attribute(".dsr-body", "data-renderer") == scenario
    assert page.is_visible(f"[data-board={scenario}]")
    # The rebuilt states equal Replay.states(), and the drawing follows them.
    rebuilt = page.evaluate(
        "(n) => Array.from({length: n}, (_, i) => window.api.state(i))", len(states)
    )
    assert rebuilt == states
    for index in sorted({0, 1, len(states) // 2, len(states) - 1}):
        page.evaluate("(i) => window.api.handle.goTo(i)", index)
        assert page.get_attribute(".dsr-body", "data-index") == str(index)
        _check_drawn(page, scenario, states[index])
    page.screenshot(path=str(tmp_path / f"{name}-1280x800.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.evaluate("(i) => window.api.handle.goTo(i)", len(states) // 2)
    _check_drawn(page, scenario, states[len(states) // 2])
    _fits_phone(page)
    page.screenshot(path=str(tmp_path / f"{name}-390x844.png"), full_page=True)


def _is_line(cells: list[int], board: list[int], columns: int, inarow: int, mark: int) -> bool:
    """Whether ``cells`` are ``inarow`` discs of ``mark``, adjacent along one direction."""
    if len(cells) != inarow or any(board[c] != mark for c in cells):
        return False
    points = [divmod(c, columns) for c in cells]
    (r0, c0), (r1, c1) = points[0], points[1]
    dr, dc = r1 - r0, c1 - c0
    if (dr, dc) not in ((0, 1), (1, 0), (1, 1), (1, -1)):
        return False
    return all(points[k] == (r0 + k * dr, c0 + k * dc) for k in range(inarow))


@pytest.mark.parametrize("name", ["tictactoe_win", "connect_four"])
def test_legend_and_winning_line(page: Any, replays: dict[str, Replay], name: str) -> None:
    """A legend names each seat's colour and agent; the winner's line is marked at the end."""
    replay = replays[name]
    scenario = replay.data["scenario"]["id"]
    states = _states(replay)
    final = states[-1]
    assert final["result"] == "win", final  # the specs are chosen so that someone wins
    _mount(page, name)
    legend = page.get_by_role("list", name="Players")
    items = legend.get_by_role("listitem")
    assert items.count() == 2
    for seat, agent in enumerate(replay.data["agents"]):
        assert items.nth(seat).inner_text().strip().endswith(f"player_{seat} ({agent['name']})")
    board = page.locator(f"[data-board={scenario}]")
    assert board.get_attribute("data-win-line") is None  # not before the end
    page.get_by_role("button", name="Last step").click()
    cells = [int(c) for c in (board.get_attribute("data-win-line") or "").split(",") if c]
    mark = int(final["winner"].removeprefix("player_")) + 1
    if scenario == "tictactoe":
        lines = [
            [0, 1, 2],
            [3, 4, 5],
            [6, 7, 8],
            [0, 3, 6],
            [1, 4, 7],
            [2, 5, 8],
            [0, 4, 8],
            [2, 4, 6],
        ]
        assert cells in lines and all(final["board"][c] == mark for c in cells), cells
        assert page.locator("[data-board=tictactoe] .dsr-winline").get_attribute("visibility") == (
            "visible"
        )
    else:
        assert _is_line(cells, final["board"], final["columns"], final["inarow"], mark), cells
        assert page.locator("[data-board=connect_four] circle.dsr-win").count() == final["inarow"]
    assert "Winning line" in (board.locator("title").first.text_content() or "")
    page.get_by_role("button", name="Step back").click()
    assert board.get_attribute("data-win-line") is None


def test_buttons_slider_jump_and_keyboard(page: Any, replays: dict[str, Replay]) -> None:
    states = _states(replays["tictactoe"])
    last = len(states) - 1
    _mount(page, "tictactoe")
    index = lambda: int(page.get_attribute(".dsr-body", "data-index"))  # noqa: E731

    page.get_by_role("button", name="Step forward").click()
    assert index() == 1
    _check_drawn(page, "tictactoe", states[1])
    page.get_by_role("button", name="Last step").click()
    assert index() == last
    _check_drawn(page, "tictactoe", states[last])
    page.get_by_role("button", name="Step back").click()
    assert index() == last - 1
    page.get_by_role("button", name="First step").click()
    assert index() == 0

    page.get_by_label("Go to step").fill("3")
    page.get_by_label("Go to step").press("Enter")
    assert index() == 3
    _check_drawn(page, "tictactoe", states[3])
    page.get_by_label("Go to step").fill("99")
    page.get_by_role("button", name="Go", exact=True).click()
    assert "step 99 is not between 0 and" in page.inner_text("[role=alert]")
    assert index() == 3

    slider = page.get_by_label("Step", exact=True)
    slider.fill("2")
    assert index() == 2
    _check_drawn(page, "tictactoe", states[2])
    slider.press("ArrowRight")  # the slider's own key handling, not a double step
    assert index() == 3

    page.click("[data-board=tictactoe]")  # focus lands in the player
    page.focus(".dsr-body")
    page.keyboard.press("ArrowRight")
    assert index() == 4
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert index() == 2
    page.keyboard.press("End")
    assert index() == last
    page.keyboard.press("Home")
    assert index() == 0
    _check_drawn(page, "tictactoe", states[0])
    page.keyboard.press("Shift+ArrowRight")
    assert index() == min(10, last)
    page.keyboard.press("Home")

    page.keyboard.press(" ")
    assert page.get_attribute(".dsr-body", "data-playing") == "true"
    assert page.inner_text(".dsr-play") == "Pause"
    page.keyboard.press(" ")
    assert page.get_attribute(".dsr-body", "data-playing") == "false"
    page.get_by_label("Speed").select_option(label="max")
    page.get_by_role("button", name="Play").click()  # plays to the end and stops
    page.wait_for_function("() => document.querySelector('.dsr-body').dataset.playing === 'false'")
    assert index() == last
    _check_drawn(page, "tictactoe", states[last])
    # Every control is a real, labelled button or input.
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('.dsr-player button, .dsr-player input, .dsr-player select')]
              .filter(n => !(n.labels && n.labels.length) && !n.getAttribute('aria-label') && !n.textContent.trim())
              .map(n => n.outerHTML)"""
    )
    assert unnamed == []


def test_faults_and_logs_are_shown(page: Any, replays: dict[str, Replay]) -> None:
    replay = replays["fault"]
    move = replay.steps[0]["moves"][0]
    assert move["status"] == "invalid_action"
    _mount(page, "fault")
    page.evaluate("() => window.api.handle.goTo(1)")
    row = page.locator(".dsr-moves-panel tr.dsr-fault")
    assert row.count() == 1
    assert "invalid_action" in row.inner_text()
    assert move["detail"] in row.inner_text()
    assert "invalid_action" in page.inner_text(".dsr-agents-panel tr.dsr-fault")
    assert "invalid_action" in page.inner_text(".dsr-outcome .dsr-fault")
    logs = replay.data["agents"][0]["logs"]
    assert logs and logs[0] in page.inner_text(".dsr-logs-panel")
    page.evaluate("() => window.api.handle.goTo(0)")
    assert page.locator(".dsr-moves-panel tr.dsr-fault").count() == 0
    assert "waiting" in page.inner_text(".dsr-agents-panel")


def test_unknown_scenario_and_broken_replays(page: Any, replays: dict[str, Replay]) -> None:
    states = _states(replays["tictactoe"])
    _mount(page, "generic")
    assert page.get_attribute(".dsr-body", "data-renderer") == "generic"
    page.evaluate("() => window.api.handle.goTo(2)")
    assert json.loads(page.inner_text("[data-board=generic]")) == states[2]

    page.evaluate("() => window.api.mountDoc({format: 'something-else'})")
    assert "not a DevSpark replay" in page.inner_text("[role=alert]")
    broken = {**replays["tictactoe"].data}
    broken["steps"] = [*broken["steps"][:2], {"moves": [], "patch": {"board": {"99": 1}}}]
    page.evaluate("(doc) => window.api.mountDoc(doc)", broken)
    assert "steps[2] has neither a state nor a delta" in page.inner_text("[role=alert]")
    # A renderer that fails is reported, not swallowed.
    odd = {**replays["tictactoe"].data}
    odd["steps"] = [*odd["steps"][:1], {"moves": [], "state": None}]
    page.evaluate("(doc) => window.api.mountDoc(doc)", odd)
    page.evaluate("() => window.api.handle.goTo(2)")
    assert "drawing step 2" in page.inner_text("[role=alert]")


def test_ten_thousand_steps_stay_responsive(page: Any, replays: dict[str, Replay]) -> None:
    replay = replays["big"]
    assert len(replay.steps) == BIG_ROUNDS
    states = _states(replay)
    timing = _mount(page, "big")
    rng = random.Random(7)
    indices = [rng.randrange(len(states)) for _ in range(50)]
    page.wait_for_function(
        "() => { const t = window.api.handle.view.timeline;"
        " return t.checkpoints.length === Math.floor((t.length - 1) / t.every) + 1; }"
    )  # the background warm-up cached a full state every 100 steps
    measured = page.evaluate("(ix) => window.api.jumps(ix)", indices)
    jumps: list[float] = measured["times"]
    assert max(measured["patches"]) < measured["every"]  # deltas applied per jump
    # The last jump's drawing and every jump's rebuilt state are right.
    _check_drawn(page, "prisoners_dilemma", states[indices[-1]])
    rebuilt = page.evaluate("(ix) => ix.map(i => window.api.state(i))", indices)
    assert rebuilt == [states[i] for i in indices]
    played = page.evaluate("() => window.api.play(200)")
    stepped_ms = page.evaluate("() => window.api.stepThrough(5000, 200)")
    _check_drawn(page, "prisoners_dilemma", states[5200])
    figures = {
        "steps": BIG_ROUNDS,
        "parse_and_mount_ms": round(timing["parse_and_mount_ms"], 1),
        "first_render_ms": round(timing["first_frame_ms"], 1),
        "jump_ms_mean": round(sum(jumps) / len(jumps), 2),
        "jump_ms_max": round(max(jumps), 2),
        "jump_patches_max": max(measured["patches"]),
        "play_200_steps_ms": round(played["ms"], 1),
        "play_frames": played["frames"],
        "step_by_step_200_ms": round(stepped_ms, 1),
    }
    print(f"\n10k-step replay player: {json.dumps(figures)}")
    # Bounded work per jump is the guarantee (at most one checkpoint interval of
    # patches); the times are generous because CI shares two cores with the server.
    assert max(measured["patches"]) < 100
    assert timing["first_frame_ms"] < 2000
    assert sum(jumps) / len(jumps) < 50 and max(jumps) < 250
    assert played["index"] >= 200
    assert played["ms"] < 3000
    assert stepped_ms / 200 < 50


def _step_event(
    match_id: str, step: int, state: Any, record: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "type": "step",
        "match_id": match_id,
        "step": step,
        "moves": record["moves"] if record else [],
        "rewards": record.get("rewards", {}) if record else {},
        "state": state,
    }


def test_live_match(page: Any, replays: dict[str, Replay], tmp_path: Path) -> None:
    replay = replays["connect_four"]
    states = _states(replay)
    match_id = "6f1c5a52-0000-4000-8000-000000000001"
    page.evaluate("(id) => window.api.mountLive(id)", match_id)
    assert page.evaluate("() => window.api.socket.sent") == []  # not before the socket opens
    page.evaluate("() => window.api.socket.open()")
    assert page.evaluate("() => window.api.socket.sent") == [
        {"type": "subscribe", "topic": f"match:{match_id}"}
    ]
    send = lambda event: page.evaluate("(e) => window.api.socket.message(e)", event)  # noqa: E731
    send({"type": "welcome", "user": "ada", "role": "admin"})
    send({"type": "subscribed", "topic": f"match:{match_id}"})
    assert "Subscribed" in page.inner_text(".dsr-connection")
    assert "Waiting for the first step" in page.inner_text(".dsr-live")
    agents = [a["ref"] for a in replay.data["agents"]]
    send({"type": "match_started", "agents": agents, "seed": 1, "match_id": match_id})
    assert "Match started" in page.inner_text(".dsr-live [role=status]")
    send(_step_event(match_id, -1, states[0], None))
    for k in range(1, 6):
        send(_step_event(match_id, k - 1, states[k], replay.steps[k - 1]))
    assert page.get_attribute(".dsr-body", "data-renderer") == "connect_four"
    assert page.get_attribute(".dsr-body", "data-index") == "5"  # follows the newest step
    _check_drawn(page, "connect_four", states[5])
    assert "step 5" in page.inner_text(".dsr-moves-panel h3")
    assert replay.steps[4]["moves"][0]["agent"] in page.inner_text(".dsr-moves-panel")

    page.get_by_role("button", name="Step back").click()  # stepping back stops following
    assert page.is_checked("text=Follow live steps") is False
    send(_step_event(match_id, 5, states[6], replay.steps[5]))
    assert page.get_attribute(".dsr-body", "data-index") == "4"
    _check_drawn(page, "connect_four", states[4])
    page.check("text=Follow live steps")
    assert page.get_attribute(".dsr-body", "data-index") == "6"

    send({"type": "dropped", "count": 3})
    assert "3 live events were dropped" in page.inner_text(".dsr-live [role=status]")
    send({"type": "error", "code": "invalid_argument", "message": "unknown topic"})
    assert "invalid_argument: unknown topic" in page.inner_text(".dsr-live [role=alert]")
    send("not json {")
    assert "not JSON" in page.inner_text(".dsr-live [role=alert]")
    send({"type": "step", "match_id": match_id, "step": 6, "moves": []})
    assert "has no state" in page.inner_text(".dsr-live [role=alert]")
    for k in range(7, len(states)):
        send(_step_event(match_id, k - 1, states[k], replay.steps[k - 1]))
    _check_drawn(page, "connect_four", states[-1])
    outcome = replay.data["outcome"]
    send(
        {
            "type": "match_finished",
            "match_id": match_id,
            "agents": agents,
            "rewards": [a["reward"] for a in outcome["agents"]],
            "statuses": [a["status"] for a in outcome["agents"]],
            "steps": outcome["steps"],
            "wall_ms": outcome["wall_ms"],
        }
    )
    assert f"Match finished after {outcome['steps']} steps" in page.inner_text(".dsr-finished")
    page.screenshot(path=str(tmp_path / "live-1280x800.png"), full_page=True)
    page.set_viewport_size(PHONE)
    _fits_phone(page)
    page.screenshot(path=str(tmp_path / "live-390x844.png"), full_page=True)
    page.evaluate("() => window.api.socket.fire('close', {code: 1006, reason: ''})")
    assert "Connection closed (code 1006)" in page.inner_text(".dsr-connection")
    page.evaluate("() => window.api.unmount()")
    assert page.evaluate("() => window.api.socket.closed") is True
    assert page.locator(".dsr-live").count() == 0


def test_live_socket_that_fails_to_open(page: Any) -> None:
    page.evaluate(
        """async () => {
          window.api.unmount();
          const { mountLiveMatch } = await import('/static/js/replay/player.js');
          window.api.handle = mountLiveMatch(document.getElementById('host'), 'm1',
            () => { throw new Error('token expired'); });
        }"""
    )
    assert "token expired" in page.inner_text("[role=alert]")
    assert page.get_attribute(".dsr-connection", "data-connection") == "failed"


def test_static_files_exist() -> None:
    # The contract the dashboard imports: the player and one renderer per scenario.
    folder = STATIC / "js" / "replay"
    assert (folder / "player.js").is_file()
    assert (folder / "replay.css").is_file()
    for scenario in RENDERED:
        assert (folder / "render" / f"{scenario}.js").is_file()
