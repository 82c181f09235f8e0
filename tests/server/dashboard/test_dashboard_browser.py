"""The web dashboard in a real browser, against a real ``devspark serve``.

One journey drives the acceptance criteria in order: register, log in, upload an agent
and start it, create a small tournament and watch it progress live, open a replay and
step through it, find the new agent on the leaderboard with its interval, manage API
keys; then a deliberately slow agent plays a match watched live, step by step, until the
page swaps in the stored replay, and elimination tournaments are drawn as brackets.
Shorter steps check the page's security headers, that API errors reach the user, that an
anonymous visitor and a viewer are not offered writes, keyboard use, the
contrast of the text on every main page (``readable``), and the phone layout.
They all run in one test (``test_dashboard``) so that a single server and browser serve
them under xdist. Pages are photographed at 1280x800 and 390x844 (``shots``); with
``DEVSPARK_DOCS_SCREENSHOTS=1`` the README's pictures in ``docs/img/`` are redrawn too.
"""

from __future__ import annotations

import io
import os
import re
import sqlite3
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from devspark.services.tournaments import TournamentParams, create_tournament
from devspark.store.db import make_engine, session_factory
from devspark.store.models import MatchRow, UserRow

# Any skip (no chromium, no Playwright) fails in CI, this module-level one included:
# see tests/ci_skip_guard.py.
pytestmark = [pytest.mark.browser, pytest.mark.integration]

expect: Any = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed"
).expect

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
USER = "ada"
PASSWORD = "correct horse battery"
AGENT_REF = f"agent:{USER}/dash-bot@1.0.0"
PAGES = {
    "home": "#/",
    "leaderboards": "#/leaderboards",
    "agents": "#/agents",
    "tournaments": "#/tournaments",
    "scenarios": "#/scenarios",
    "login": "#/login",
    "register": "#/register",
    "keys": "#/keys",
}
Shot = Callable[[Any, str], Path]
DOCS_IMG = Path(__file__).resolve().parents[3] / "docs" / "img"
DOCS_SHOTS = os.environ.get("DEVSPARK_DOCS_SCREENSHOTS") == "1"
DOCS_MAX_BYTES = 200_000
LIVE_ROUNDS = 60


def docs_shot(page: Any, name: str, top: str | None = None, *, full_page: bool = False) -> None:
    """Redraw ``docs/img/<name>.png`` (the viewport, 1280x800, or the whole page) when asked to.

    The page is scrolled to its top, or so that the element ``top`` (a CSS selector) is
    at the top of the picture. A whole page may be taken at the phone's size too.
    """
    if not DOCS_SHOTS:
        return
    assert page.viewport_size == DESKTOP or full_page, page.viewport_size
    page.mouse.move(0, 0)  # no hover effect in the picture
    page.evaluate(
        """(selector) => {
             if (document.activeElement) document.activeElement.blur();
             const anchor = selector && document.querySelector(selector);
             window.scrollTo(0, anchor ? anchor.getBoundingClientRect().top + scrollY - 4 : 0);
           }""",
        top,
    )
    path = DOCS_IMG / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    size = path.stat().st_size
    assert size < DOCS_MAX_BYTES, f"{path} is {size} bytes (at most {DOCS_MAX_BYTES})"


# WCAG 2.x contrast of every visible text on the page, run with page.evaluate: each
# element with its own non-blank text (or a filled form control) against its effective
# background, the background colours of its ancestors composited over the root's (white
# when none). Skipped: SVG and canvas (no CSS background behind them), text over a
# background image or gradient, and disabled controls (exempt in WCAG). Large text (24 px,
# or 18.66 px bold) needs 3:1, other text 4.5:1. Returns the failures.
CONTRAST_CHECK = """() => {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  const cache = new Map();
  const rgba = (css) => {  // any CSS colour -> [r, g, b, a] in sRGB, a in 0..1
    if (!cache.has(css)) {
      g.clearRect(0, 0, 1, 1);
      g.fillStyle = '#000';
      g.fillStyle = css;
      g.fillRect(0, 0, 1, 1);
      const [r, gr, b, a] = g.getImageData(0, 0, 1, 1).data;
      cache.set(css, [r, gr, b, a / 255]);
    }
    return cache.get(css);
  };
  const over = ([r, g2, b, a], [R, G, B]) =>
    [r * a + R * (1 - a), g2 * a + G * (1 - a), b * a + B * (1 - a)];
  const channel = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = ([r, g2, b]) => 0.2126 * channel(r) + 0.7152 * channel(g2) + 0.0722 * channel(b);
  const ratio = (x, y) => {
    const [hi, lo] = [luminance(x), luminance(y)].sort((p, q) => q - p);
    return (hi + 0.05) / (lo + 0.05);
  };
  const root = document.documentElement;
  const pageBg = () => {
    for (const el of [root, document.body]) {
      const c = rgba(getComputedStyle(el).backgroundColor);
      if (c[3] > 0) return over(c, [255, 255, 255]);
    }
    return [255, 255, 255];
  };
  const base = pageBg();
  const path = (el) => {
    const parts = [];
    for (let n = el; n && n !== document.body && parts.length < 4; n = n.parentElement) {
      let part = n.tagName.toLowerCase();
      if (n.id) part += `#${n.id}`;
      else if (n.classList.length) part += `.${[...n.classList].join('.')}`;
      parts.unshift(part);
    }
    return parts.join(' > ');
  };
  const failures = [];
  let checked = 0;
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg, canvas, script, style, template, option, noscript')) continue;
    const control = el.matches('input:not([type=checkbox], [type=radio], [type=range], '
      + '[type=hidden], [type=file], [type=color]), textarea, select');
    const text = control ? (el.value || '') : [...el.childNodes]
      .filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.data).join('');
    if (!text.trim()) continue;
    if (el.closest(':disabled, [aria-disabled="true"]')) continue;
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const box = el.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1 || box.right + scrollX <= 0 || box.bottom + scrollY <= 0) continue;
    const style = getComputedStyle(el);
    // Backgrounds up the tree, nearest first, until an opaque one.
    const layers = [];
    let opacity = 1;
    let image = false;
    for (let n = el; n && n !== root; n = n.parentElement) {
      const s = n === el ? style : getComputedStyle(n);
      opacity *= Number(s.opacity);
      if (s.backgroundImage !== 'none') { image = true; break; }
      const c = rgba(s.backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    if (image) continue;
    let bg = base;
    for (const layer of layers.reverse()) bg = over(layer, bg);
    const fg = rgba(style.color);
    const shown = over([fg[0], fg[1], fg[2], fg[3] * opacity], bg);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const required = large ? 3 : 4.5;
    const measured = ratio(shown, bg);
    checked += 1;
    if (measured < required) {
      failures.push({
        path: path(el), text: text.trim().replace(/\\s+/g, ' ').slice(0, 40),
        ratio: Math.floor(measured * 100) / 100, required,
        color: style.color, background: `rgb(${bg.map(Math.round).join(', ')})`,
      });
    }
  }
  return { checked, failures };
}"""


def readable(page: Any, name: str) -> None:
    """Every visible text of the page has a WCAG contrast of 4.5:1 (3:1 when large)."""
    assert page.viewport_size == DESKTOP, page.viewport_size
    found = page.evaluate(CONTRAST_CHECK)
    assert found["checked"] > 0, f"{name}: no text checked"
    failures = "\n".join(
        f"  {f['path']}: {f['text']!r} {f['ratio']}:1 < {f['required']}:1"
        f" ({f['color']} on {f['background']})"
        for f in found["failures"]
    )
    assert not failures, f"{name}: text below the WCAG contrast ratio:\n{failures}"


class Tab:
    """A browser tab on the dashboard that records script errors and CSP violations."""

    def __init__(self, browser: Any, server: Any, viewport: dict[str, int]) -> None:
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.server = server
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.problems.append(f"CSP violation: {message.text}")

    def go(self, route: str) -> Any:
        self.page.goto(f"{self.server.url}/{route}")
        expect(self.page.locator("main")).to_have_attribute("aria-busy", "false")
        expect(self.page.locator("main h1")).to_be_visible()
        expect(self.page.locator("main h1")).not_to_have_text("Page not found")
        return self.page

    def login(self, username: str = USER, password: str = PASSWORD) -> None:
        page = self.go("#/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".nav-user")).to_contain_text(username)

    def close(self) -> None:
        self.context.close()
        assert not self.problems, self.problems


@contextmanager
def opened(browser: Any, server: Any, viewport: dict[str, int]) -> Iterator[Tab]:
    """A fresh tab (own cookies and sessionStorage); fails on script errors or CSP hits."""
    tab = Tab(browser, server, viewport)
    try:
        yield tab
    finally:
        tab.close()


def _alert(page: Any) -> Any:
    return page.locator("#alerts .alert")


def journey(desktop: Tab, shots: Shot, agent_archive: Path) -> None:
    """Register, log in, upload, start a tournament and watch it, replay, leaderboard, keys."""
    page = desktop.page

    # Register (which logs in), then log out and log in again.
    desktop.go("#/register")
    shots(page, "desktop-register")
    readable(page, "register")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".nav-user")).to_have_text(f"{USER} (user)")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    desktop.login()

    # Upload an agent, then start it so that it may play.
    desktop.go("#/agents")
    readable(page, "agents")
    page.get_by_label("Agent archive").set_input_files(str(agent_archive))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("main h1")).to_have_text("dash-bot")
    versions = page.get_by_role("region", name="Versions (newest first)")
    expect(versions).to_contain_text("1.0.0")
    expect(versions).to_contain_text("MIT")
    expect(versions.locator("code")).to_have_text(re.compile(r"^[0-9a-f]{12}…$"))
    page.get_by_role("button", name="Start version 1.0.0").click()
    expect(versions.locator(".badge").first).to_have_text(re.compile("online|idle|busy"))

    # Create a small tournament (not started), open it, and watch it live once started.
    desktop.go("#/tournaments")
    page.get_by_label("Scenario").select_option("tictactoe-v1")
    page.get_by_label("Format").select_option("round_robin")
    page.get_by_label(AGENT_REF).check()
    page.get_by_label("More entrants").fill("builtin:random")
    page.get_by_label("Rounds").fill("2")
    page.get_by_label("Start it now").uncheck()
    shots(page, "desktop-tournaments")
    readable(page, "tournaments")
    page.get_by_role("button", name="Create tournament").click()
    expect(page.locator("main h1")).to_have_text("round robin · tictactoe-v1")
    expect(page.locator("#live-state")).to_contain_text("Live:")
    page.get_by_role("button", name="Start", exact=True).click()
    events = page.get_by_role("list", name="Live events")
    expect(events).to_contain_text("Match finished", timeout=60_000)
    expect(page.locator(".panel .badge").first).to_have_text("finished", timeout=90_000)
    # Progress counts the matches played out of those the format plans.
    tournament_id = page.url.rsplit("/", 1)[-1]
    counts = httpx.get(
        f"{desktop.server.url}/api/v1/tournaments/{tournament_id}", timeout=10
    ).json()["matches"]
    planned = counts.get("planned") or counts["total"]
    done = counts["finished"] + counts["failed"]
    expect(page.locator(".panel").first).to_contain_text(f"{done} of {planned} matches played")
    expect(page.locator(".panel progress")).to_have_attribute("max", str(planned))
    standings = page.get_by_role("region", name=re.compile("^Final standings"))
    expect(standings).to_contain_text(AGENT_REF)
    # The rating method as people write it, not its API name (bradley_terry).
    expect(standings).to_contain_text(
        re.compile(r"Final standings \((Bradley-Terry|OpenSkill|Elo)\)")
    )
    expect(standings.locator("svg.ci").first).to_be_visible()
    shots(page, "desktop-tournament")
    readable(page, "tournament")
    # Scores read "1 : -1" with true minus signs (U+2212), no dash between; every finished
    # match, and only those, links to its replay.
    played = page.get_by_role("region", name=re.compile(r"^Matches \(\d+\)"))
    rows = played.locator("tbody tr")
    expect(rows.first).to_be_visible()
    number = r"\u2212?\d+(\.\d+)?"
    for text in rows.locator("td:nth-child(4)").all_inner_texts():
        assert re.fullmatch(f"{number} : {number}", text), text
    expect(played.get_by_role("link", name="Replay")).to_have_count(rows.count())

    # The form lists each entrant once: the own version just entered in a tournament is
    # not listed again among the references of recent tournaments.
    desktop.go("#/tournaments")
    entrants = page.get_by_role("group", name="Entrants")
    expect(entrants.get_by_label(AGENT_REF, exact=True)).to_have_count(1)
    labels = entrants.locator("input[name=agent]")
    values = [labels.nth(i).get_attribute("value") for i in range(labels.count())]
    assert len(values) == len(set(values)), values
    page.go_back()
    expect(page.locator("main h1")).to_have_text("round robin · tictactoe-v1")
    played = page.get_by_role("region", name=re.compile(r"^Matches \(\d+\)"))

    # Open a replay and step through it; the facts name the tournament and the tie apart.
    played.get_by_role("link", name="Replay").first.click()
    expect(page.locator("main h1")).to_contain_text(" vs ")
    facts = page.locator(".facts")
    expect(facts.get_by_role("link", name="round robin · tictactoe-v1")).to_have_attribute(
        "href", re.compile(r"^#/tournaments/[0-9a-f-]{36}$")
    )
    expect(facts).to_contain_text(re.compile(r"\(tie [^,)]+, round \d+\)"))
    slider = page.get_by_label("Step", exact=True)
    expect(slider).to_be_visible()
    page.get_by_role("button", name="First step").click()
    expect(slider).to_have_value("0")
    page.get_by_role("button", name="Step forward").click()
    expect(slider).to_have_value("1")
    page.get_by_role("button", name="Step forward").click()
    expect(slider).to_have_value("2")
    shots(page, "desktop-match")
    readable(page, "match")

    # The leaderboard shows the new agent with its interval, and its history (once the
    # board keeper, which refits in the background, has rated its matches).
    desktop.server.wait_rated(AGENT_REF)
    page.goto(f"{desktop.server.url}/#/leaderboards?board=scenario:tictactoe-v1")
    board = page.get_by_role("region", name=re.compile("^tictactoe-v1"))
    expect(board).to_contain_text(re.compile(r"tictactoe-v1: Bradley-Terry over \d+ matches"))
    # The nine columns fit the 1280 px window, the global board's long names included: no
    # History button hides behind a sideways scroll.
    page.goto(f"{desktop.server.url}/#/leaderboards?board=global")
    everyone = page.get_by_role("region", name=re.compile("^Global"))
    expect(everyone).to_contain_text("builtin:connect-four-heuristic")
    widths = everyone.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert widths[0] <= widths[1], f"the global board scrolls sideways: {widths}"
    # Its headers wrap to make room ("95% / interval"), the sort arrow on the last word;
    # kept on one line, a board of long names ran 60 px past a 1280 px window.
    expect(everyone.locator("th").nth(3)).to_have_css("white-space", "normal")
    page.goto(f"{desktop.server.url}/#/leaderboards?board=scenario:tictactoe-v1")
    board = page.get_by_role("region", name=re.compile("^tictactoe-v1"))
    row = board.get_by_role("row").filter(has_text=AGENT_REF)
    expect(row).to_have_count(1)
    expect(row.get_by_role("img", name=re.compile("95% interval"))).to_be_visible()
    # Rating and interval rounded alike, no thousands separators, bounds joined by an en dash.
    number = r"\u2212?\d+(\.\d+)?"
    expect(row.get_by_role("cell").nth(2)).to_have_text(re.compile(f"^{number}$"))
    expect(row.get_by_role("cell").nth(3)).to_have_text(re.compile(f"^{number}\u2013{number}$"))
    row.get_by_role("button", name=re.compile("rating history")).click()
    expect(page.get_by_label("Agent", exact=True)).to_have_value(AGENT_REF)
    expect(page.locator("figure svg.chart")).to_be_visible()
    shots(page, "desktop-leaderboards")
    readable(page, "leaderboards")
    docs_shot(page, "dashboard-leaderboards")

    # The agent page shows its record against each opponent and its matches.
    row.get_by_role("link", name=AGENT_REF).click()
    expect(page.locator("main h1")).to_have_text("dash-bot")
    record = page.get_by_role("region", name=f"Record of {AGENT_REF} against each opponent")
    expect(record).to_contain_text("builtin:random")
    expect(page.get_by_role("region", name=f"Latest matches of {AGENT_REF}")).to_contain_text(
        "tictactoe-v1"
    )
    shots(page, "desktop-agent")
    readable(page, "agent")

    # API keys: the form offers the scopes the server serves (matches:write among them);
    # the secret is shown once; revoking asks for confirmation.
    desktop.go("#/keys")
    served = httpx.get(
        f"{desktop.server.url}/api/v1/users/me/api-keys/scopes",
        headers={"Authorization": f"Bearer {_token(desktop)}"},
        timeout=10,
    ).json()
    offered = page.get_by_role("group", name="Scopes").get_by_role("checkbox")
    expect(offered).to_have_count(len(served))
    assert [box.get_attribute("value") for box in offered.all()] == [s["scope"] for s in served]
    page.get_by_label("Name", exact=True).fill("ci")
    page.get_by_label("agents:write").check()
    page.get_by_label("matches:write").check()
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_label("New API key")).to_have_value(re.compile(r"^dsk_"))
    expect(page.get_by_role("region", name=re.compile("^Your keys"))).to_contain_text(
        "agents:write, matches:write"
    )
    shots(page, "desktop-keys")
    readable(page, "keys")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke key ci").click()
    expect(page.get_by_role("region", name=re.compile("^Your keys"))).to_contain_text("revoked")

    for name in ("home", "scenarios"):
        desktop.go(PAGES[name])
        page.wait_for_load_state("networkidle")
        shots(page, f"desktop-{name}")
        readable(page, name)


# Records what the live view shows, on every change of <main>: the number of step events
# received (data-length), the step shown, and the connection state ("playing" while the
# match runs, "finished" after match_finished), with the time.
LIVE_RECORDER = """() => {
  window.liveFrames = [];
  const main = document.querySelector('main');
  new MutationObserver(() => {
    const body = main.querySelector('.dsr-live .dsr-body');
    if (!body) return;
    const position = body.querySelector('.dsr-position');
    const connection = main.querySelector('.dsr-live .dsr-connection');
    const steps = main.querySelector('.facts .fact-steps');
    const frame = {
      steps: steps ? steps.textContent : '',
      length: Number(body.dataset.length || 0),
      shown: position ? position.textContent : '',
      connection: connection ? connection.dataset.connection : '',
      at: performance.now(),
    };
    const last = window.liveFrames[window.liveFrames.length - 1];
    if (!last || last.length !== frame.length || last.shown !== frame.shown
        || last.connection !== frame.connection) window.liveFrames.push(frame);
  }).observe(main, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


def _step_shown(frame: dict[str, Any]) -> int | None:
    found = re.match(r"^step (\d+) of", frame["shown"])
    return int(found.group(1)) if found else None


def live_match(desktop: Tab, slow_agent_archive: Path) -> str:
    """A slow agent's match, watched live: step frames arrive while it runs, then the replay.

    The agent (tit-for-tat sleeping 40 ms a move) is uploaded and started with the logged-in
    user's token; the match is started through the API once the page waits for it.
    """
    page = desktop.page
    api = f"{desktop.server.url}/api/v1"
    token = page.evaluate("() => sessionStorage.getItem('devspark.access_token')")
    headers = {"Authorization": f"Bearer {token}"}
    with slow_agent_archive.open("rb") as archive:
        files = {"file": (slow_agent_archive.name, archive, "application/gzip")}
        uploaded = httpx.post(f"{api}/agents", headers=headers, files=files, timeout=30)
    assert uploaded.status_code == 201, uploaded.text
    version = uploaded.json()
    started = httpx.post(
        f"{api}/agents/{version['agent_id']}/start?version_id={version['id']}",
        headers=headers,
        timeout=30,
    )
    assert started.status_code == 200, started.text
    agent = httpx.get(f"{api}/agents/{version['agent_id']}", timeout=10).json()
    assert agent["owner"] == USER and agent["ref"] == f"agent:{USER}/slow"

    desktop.go("#/")
    page.evaluate(LIVE_RECORDER)
    created = httpx.post(
        f"{api}/matches",
        headers=headers,
        json={
            "scenario": "prisoners_dilemma",
            "agents": [agent["ref"], "builtin:tit-for-tat"],
            "options": {"rounds": LIVE_ROUNDS},
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    match = created.json()
    page.evaluate("(id) => { location.hash = `#/matches/${id}`; }", match["id"])  # no reload
    expect(page.locator("#player-heading")).to_have_text("Live")
    position = page.locator(".dsr-live .dsr-position")
    expect(position).to_have_text(re.compile(r"^step \d+ of \d+ received$"), timeout=30_000)
    # Several steps are shown one after the other while the match is still being played.
    page.wait_for_function(
        """() => window.liveFrames.filter((f) => f.connection === 'playing'
             && /^step \\d+ of/.test(f.shown)).length >= 5""",
        timeout=30_000,
    )
    # When it ends, the page shows the stored replay, with every step.
    expect(page.locator("#player-heading")).to_have_text("Replay", timeout=30_000)
    expect(page.locator(".dsr-live")).to_have_count(0)
    expect(page.locator(".facts .badge").first).to_have_text("finished")
    slider = page.get_by_label("Step", exact=True)
    expect(slider).to_have_attribute("max", str(LIVE_ROUNDS))
    # It stays on the final board, where the live view ended, not back at the start.
    expect(slider).to_have_value(str(LIVE_ROUNDS))
    expect(page.locator(".facts .fact-steps")).to_have_text(str(LIVE_ROUNDS))
    frames: list[dict[str, Any]] = page.evaluate("() => window.liveFrames")
    # While it played, the facts counted the steps received (not the stored 0).
    counted = [int(f["steps"].split()[0]) for f in frames if f["steps"].endswith(" so far")]
    assert counted and max(counted) >= 5 and counted == sorted(counted), frames
    playing = [f for f in frames if f["connection"] == "playing" and _step_shown(f) is not None]
    steps = [step for f in playing if (step := _step_shown(f)) is not None]
    assert steps == sorted(steps) and len(set(steps)) >= 5, frames
    received = max(f["length"] for f in frames)
    span_ms = playing[-1]["at"] - playing[0]["at"]
    print(
        f"\nlive view: {received} step events received, {len(set(steps))} steps shown "
        f"while playing (steps {steps[0]}..{steps[-1]} over {span_ms:.0f} ms)"
    )
    # The steps came one by one, over time, not in one burst at the end.
    assert span_ms > 0.25 * LIVE_ROUNDS * 40, frames
    finished = httpx.get(f"{api}/matches/{match['id']}", timeout=10).json()
    assert finished["status"] == "finished" and finished["steps"] == LIVE_ROUNDS, finished
    return str(match["id"])


def scenario_gallery(desktop: Tab, shots: Shot, sample_id: str) -> None:
    """Each scenario's rules page (reStructuredText rendered) and a sample replay of it.

    The samples seeded on first start give every scenario one; the prisoner's dilemma
    shows the newest, the match just watched live.
    """
    page = desktop.go("#/scenarios")
    cards = page.locator(".scenario-card")
    scenarios = httpx.get(f"{desktop.server.url}/api/v1/scenarios", timeout=10).json()
    expect(cards).to_have_count(len({s["id"] for s in scenarios["items"]}))
    for index in range(cards.count()):
        card = cards.nth(index)
        expect(card.get_by_role("link", name="watch")).to_have_attribute(
            "href", re.compile(r"^#/matches/[0-9a-f-]{36}$")
        )
        card.locator("details.rules summary").click()
        rules = card.locator("details.rules")
        expect(rules.get_by_role("heading", name="Rules", exact=True)).to_be_visible()
        text = rules.inner_text()
        # No reStructuredText markup shows: table borders, literal quotes, roles.
        assert "====" not in text and "``" not in text and ":attr:" not in text, text[:2000]
        card.locator("details.rules summary").click()
    c4 = cards.filter(has=page.get_by_role("heading", name=re.compile("^connect_four")))
    c4.locator("details.rules summary").click()
    table = c4.locator("details.rules table").first
    expect(table.get_by_role("columnheader")).to_have_text(
        ["difficulty", "rows", "columns", "inarow"]
    )
    expect(table.locator("tbody tr")).to_have_count(5)
    expect(table.locator("tbody tr").first.get_by_role("cell")).to_have_text(["1", "6", "7", "4"])
    shots(page, "desktop-scenario-table")
    c4.locator("details.rules summary").click()
    card = page.locator(".scenario-card").filter(
        has=page.get_by_role("heading", name=re.compile("^prisoners_dilemma"))
    )
    expect(card.get_by_role("link", name="watch")).to_have_attribute(
        "href", f"#/matches/{sample_id}"
    )
    card.locator("details.rules summary").click()
    rules = card.locator("details.rules")
    expect(rules.get_by_role("heading", name="Observation (wire protocol)")).to_be_visible()
    expect(rules.locator("pre").first).to_contain_text("me C       R = 3     S = 0")
    expect(rules.locator("code", has_text="prisoners_dilemma-v1")).to_have_count(1)
    expect(rules.locator("strong", has_text="average")).to_have_count(1)
    shots(page, "desktop-scenario-rules")
    readable(page, "scenario rules")


def replay_for_docs(desktop: Tab) -> None:
    """A connect four match's replay, mid-way: the README's picture of the player."""
    page = desktop.page
    api = f"{desktop.server.url}/api/v1"
    token = page.evaluate("() => sessionStorage.getItem('devspark.access_token')")
    created = httpx.post(
        f"{api}/matches",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "scenario": "connect_four",
            "agents": ["builtin:connect-four-heuristic", "builtin:connect-four-alphabeta"],
            "seed": 3,
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    match_id = created.json()["id"]
    deadline = time.monotonic() + 60
    match = created.json()
    while match["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        match = httpx.get(f"{api}/matches/{match_id}", timeout=10).json()
    assert match["status"] == "finished", match
    desktop.go(f"#/matches/{match_id}")
    slider = page.get_by_label("Step", exact=True)
    expect(slider).to_be_visible()
    middle = int(slider.get_attribute("max") or "0") * 2 // 3
    page.get_by_label("Go to step").fill(str(middle))
    page.get_by_role("button", name="Go", exact=True).click()
    expect(slider).to_have_value(str(middle))
    docs_shot(page, "dashboard-replay", top=".dsr-player .dsr-main")


SINGLE_ELIMINATION = {
    "scenario": "tictactoe",
    "format": "single_elimination",
    "agents": ["builtin:minimax", AGENT_REF, "builtin:random-js", "builtin:random"],
}
"""Four tictactoe players, best seed first (the uploaded one plays sandboxed)."""
DOUBLE_ELIMINATION = {
    "scenario": "prisoners_dilemma",
    "format": "double_elimination",
    "agents": [
        "builtin:tit-for-tat",
        "builtin:always-cooperate",
        "builtin:grim",
        "builtin:pavlov",
    ],
    "options": {"rounds": 10},
    "isolation": "trusted",
}
"""Four agents that never defect first: every game is drawn, every tie goes to the
higher seed (the earlier entrant), and seed 1 wins without a bracket reset."""


def _token(tab: Tab) -> str:
    return str(tab.page.evaluate("() => sessionStorage.getItem('devspark.access_token')"))


def _finished_tournaments(api: str, headers: dict[str, str], *bodies: Any) -> list[str]:
    """Create and start these tournaments (all at once); wait until they finish."""
    ids = []
    for body in bodies:
        created = httpx.post(f"{api}/tournaments", headers=headers, json=body, timeout=30)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
        started = httpx.post(f"{api}/tournaments/{ids[-1]}/start", headers=headers, timeout=30)
        assert started.status_code == 202, started.text
    deadline = time.monotonic() + 90
    for tournament_id in ids:
        status = "running"
        while status not in ("finished", "cancelled") and time.monotonic() < deadline:
            time.sleep(0.25)
            status = httpx.get(f"{api}/tournaments/{tournament_id}", timeout=10).json()["status"]
        assert status == "finished", f"tournament {tournament_id} is {status}"
    return ids


def _ties(tournament: dict[str, Any], matches: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each tie of a bracket, from the API: its round, agents and winner.

    A tie is won on points (win 1, draw 1/2); level, it goes to the higher seed (the
    earlier entrant), as the format decides.
    """
    seeds = {agent: index for index, agent in enumerate(tournament["agents"])}
    ties: dict[str, dict[str, Any]] = {}
    for match in matches:
        assert match["status"] == "finished", match
        tie = ties.setdefault(
            match["label"],
            {"round": match["round"], "agents": match["agents"], "points": {}},
        )
        best = max(result["reward"] for result in match["results"])
        leaders = [r["agent"] for r in match["results"] if r["reward"] == best]
        for agent in match["agents"]:
            won = 1.0 if leaders == [agent] else 0.5 if agent in leaders else 0.0
            tie["points"][agent] = tie["points"].get(agent, 0.0) + won
    for tie in ties.values():
        tie["winner"] = max(tie["agents"], key=lambda a: (tie["points"][a], -seeds[a]))
        tie["drawn"] = len(set(tie["points"].values())) == 1
    return ties


def check_bracket(page: Any, api: str, tournament_id: str) -> dict[str, dict[str, Any]]:
    """The bracket shows every tie in its round's column, both agents, the winner marked."""
    tournament = httpx.get(f"{api}/tournaments/{tournament_id}", timeout=10).json()
    matches = httpx.get(f"{api}/tournaments/{tournament_id}/matches?limit=100", timeout=10).json()[
        "items"
    ]
    ties = _ties(tournament, matches)
    rounds = sorted({tie["round"] for tie in ties.values()})
    assert rounds == list(range(len(rounds))), ties
    bracket = page.get_by_role("group", name="Bracket")
    columns = bracket.locator(".bracket-round")
    expect(columns).to_have_count(len(rounds))
    boxes = [columns.nth(i).bounding_box() for i in rounds]
    # Rounds are columns, side by side, left to right.
    assert all(box is not None for box in boxes), boxes
    lefts = [box["x"] for box in boxes if box]
    tops = {round(box["y"]) for box in boxes if box}
    assert lefts == sorted(lefts) and len(set(lefts)) == len(lefts) and len(tops) == 1, boxes
    for label, tie in ties.items():
        column = columns.nth(tie["round"])
        expect(column.get_by_role("heading")).to_have_text(f"Round {tie['round'] + 1}")
        card = column.locator(".tie").filter(
            has=page.locator(".label", has_text=re.compile(f"^{re.escape(label)}$"))
        )
        expect(card).to_have_count(1)
        seats = card.locator(".seat > span:first-child")
        expect(seats).to_have_count(2)
        assert sorted(seats.all_inner_texts()) == sorted(tie["agents"]), (label, tie)
        expect(card.locator(".seat.winner"), f"{label}: {tie}").to_have_count(1)
        expect(card.locator(".seat.winner > span:first-child")).to_have_text(tie["winner"])
        if tie["drawn"]:
            expect(card).to_contain_text("level: the higher seed goes through")
        # Screen readers hear who played and who won, not only the tie's label.
        expect(card.get_by_role("link").first).to_have_accessible_name(
            re.compile(f"^{re.escape(label)}: .*{re.escape(tie['winner'])} won")
        )
    return ties


def elimination_brackets(desktop: Tab, shots: Shot) -> str:
    """Single and double elimination of four agents, drawn as brackets once finished.

    The double elimination's ties are all drawn: the bracket marks the higher seed, who
    goes through, as their winner.

    Returns the single elimination's id (the phone's and the README's tournament page).
    """
    page = desktop.page
    api = f"{desktop.server.url}/api/v1"
    headers = {"Authorization": f"Bearer {_token(desktop)}"}
    single, double = _finished_tournaments(api, headers, SINGLE_ELIMINATION, DOUBLE_ELIMINATION)

    desktop.go(f"#/tournaments/{single}")
    expect(page.locator("main h1")).to_have_text("single elimination · tictactoe-v1")
    ties = check_bracket(page, api, single)
    assert sorted(ties) == ["SF1", "SF2", "final"], ties
    # The final, in the last column, shows the champion.
    final = page.locator(".bracket-round").last.locator(".tie")
    expect(final).to_have_count(1)
    expect(final.locator(".label").first).to_have_text("final")
    expect(final.locator(".seat.winner > span:first-child")).to_have_text(ties["final"]["winner"])
    shots(page, "desktop-bracket")
    readable(page, "bracket")
    docs_shot(page, "dashboard-tournament", full_page=True)

    desktop.go(f"#/tournaments/{double}")
    expect(page.locator("main h1")).to_have_text("double elimination · prisoners_dilemma-v1")
    ties = check_bracket(page, api, double)
    assert sorted(ties) == ["LB-R1", "LB-R2", "WB-SF1", "WB-SF2", "WB-final", "final"], ties
    assert all(tie["drawn"] for tie in ties.values()), ties
    final = page.locator(".bracket-round").last.locator(".tie")
    expect(final.locator(".label").first).to_have_text("final")
    champion = DOUBLE_ELIMINATION["agents"][0]
    expect(final.locator(".seat.winner > span:first-child")).to_have_text(champion)
    shots(page, "desktop-bracket-double")
    return single


FAILURE = "agent builtin:minimax crashed while starting: ImportError: no module named 'numpy'"
"""The reason stored with the failed work below."""


def _store_failed_work(server: Any) -> dict[str, str]:
    """A failed tournament (a failed and a queued match) and a failed match of its own.

    Written through the store, as a worker records work that fails while playing: the
    API cannot be made to fail a match on purpose once it refuses bad options at the door.
    The tournament's matches are not played (workers claim only those of running
    tournaments), and the failed match is stored failed at once.
    """
    engine = make_engine(f"sqlite:///{server.data_dir / 'devspark.db'}")
    try:
        with session_factory(engine)() as session:
            owner = session.scalars(select(UserRow).where(UserRow.username == USER)).one()
            agents = ("builtin:minimax", "builtin:random")
            tournament = create_tournament(
                session,
                owner_id=owner.id,
                scenario="tictactoe",
                format="round_robin",
                agents=agents,
                params=TournamentParams(agents=agents),
            )
            now = datetime.now(UTC)
            tournament.status, tournament.error = "failed", FAILURE
            tournament.started_at = tournament.finished_at = now

            def match(status: str, label: str, tournament_id: Any) -> MatchRow:
                pairing = {"round": 0, "label": label, "agents": list(agents)}
                return MatchRow(
                    scenario_id="tictactoe-v1",
                    options={"reset": {}, "pairing": pairing},
                    isolation="sandbox",
                    status=status,
                    tournament_id=tournament_id,
                    owner_id=None if tournament_id else owner.id,
                    error=FAILURE if status == "failed" else None,
                    started_at=now if status == "failed" else None,
                    finished_at=now if status == "failed" else None,
                )

            failed_in = match("failed", "R1-1", tournament.id)
            queued_in = match("queued", "R1-2", tournament.id)
            alone = match("failed", "match", None)
            session.add_all([failed_in, queued_in, alone])
            session.commit()
            return {
                "tournament": str(tournament.id),
                "queued": str(queued_in.id),
                "match": str(alone.id),
            }
    finally:
        engine.dispose()


def failed_work(desktop: Tab, shots: Shot) -> None:
    """Failed work says why, prominently on its page and briefly in lists; only finished
    matches offer a replay."""
    page = desktop.page
    api = f"{desktop.server.url}/api/v1"
    ids = _store_failed_work(desktop.server)
    served = httpx.get(f"{api}/tournaments/{ids['tournament']}", timeout=10).json()
    assert served["status"] == "failed", served
    # The reason as the API serves it; without one the page says none was recorded.
    reason = served.get("error") or "The server recorded no reason."

    desktop.go(f"#/tournaments/{ids['tournament']}")
    block = page.get_by_role("note", name="Why this tournament failed")
    expect(block).to_be_visible()
    expect(block).to_contain_text("This tournament failed")
    expect(block).to_contain_text(reason)
    played = page.get_by_role("region", name=re.compile(r"^Matches \(\d+\)"))
    expect(played.locator("tbody tr")).to_have_count(2)
    expect(played.get_by_role("link", name="Replay")).to_have_count(0)  # queued or failed
    expect(played.get_by_role("link", name="Watch live")).to_have_count(0)
    expect(played.get_by_role("link", name=f"Match {ids['queued']} (queued)")).to_be_visible()
    if served.get("error"):
        failed_row = played.locator("tbody tr").filter(has=page.locator(".badge.failed"))
        short = failed_row.locator(".failure-short")  # its first line, cut at 80 characters
        expect(short).to_have_attribute("title", reason)
        expect(short).to_have_text(re.compile(f"^{re.escape(reason[:60])}"))
    shots(page, "desktop-failed-tournament")
    readable(page, "failed tournament")

    desktop.go("#/tournaments")
    listed = page.locator("main table tbody tr").filter(has=page.locator(".badge.failed")).first
    expect(listed).to_be_visible()
    if served.get("error"):
        expect(listed.locator(".badge.failed")).to_have_attribute("title", reason)

    match = httpx.get(f"{api}/matches/{ids['match']}", timeout=10).json()
    asked: list[str] = []  # a match without a replay_ref has no replay to ask for (no 404)
    page.on("request", lambda request: asked.append(request.url))
    desktop.go(f"#/matches/{ids['match']}")
    block = page.get_by_role("note", name="Why this match failed")
    expect(block).to_contain_text(match.get("error") or "The server recorded no reason.")
    expect(page.locator(".facts .badge").first).to_have_text("failed")
    expect(page.get_by_text("No replay was recorded for this match.")).to_be_visible()
    assert match["replay_ref"] is None, match
    assert not [url for url in asked if url.endswith("/replay")], asked
    shots(page, "desktop-failed-match")
    readable(page, "failed match")


def manifest_errors_are_listed(desktop: Tab, tmp_path: Path) -> None:
    """An upload refused for several manifest problems lists them, one item each."""
    archive = tmp_path / "bad.tar.gz"
    manifest = b'name = "bad"\nlanguage = "cobol"\nentrypoint = "agent.py"\n'
    with tarfile.open(archive, "w:gz") as packed:
        info = tarfile.TarInfo("agent.toml")
        info.size = len(manifest)
        packed.addfile(info, io.BytesIO(manifest))
    page = desktop.go("#/agents")
    page.get_by_label("Agent archive").set_input_files(str(archive))
    page.get_by_role("button", name="Upload", exact=True).click()
    problems = _alert(page).last.locator("ul.problems li")
    expect(problems.first).to_be_visible()
    texts = problems.all_inner_texts()
    assert len(texts) >= 2, texts
    assert any("version" in t for t in texts) and any("cobol" in t for t in texts), texts


VIEWER = "vera"


def viewer_is_offered_no_writes(browser: Any, server: Any, shots: Shot, user_token: str) -> None:
    """A viewer reads every page and manages API keys, and is offered nothing else."""
    api = f"{server.url}/api/v1"
    registered = httpx.post(
        f"{api}/auth/register", json={"username": VIEWER, "password": PASSWORD}, timeout=10
    )
    assert registered.status_code == 201, registered.text
    with closing(sqlite3.connect(server.data_dir / "devspark.db")) as db, db:
        changed = db.execute("UPDATE users SET role = 'viewer' WHERE username = ?", (VIEWER,))
        assert changed.rowcount == 1
    # A tournament not started yet: its owner would be offered Start and Cancel.
    pending = httpx.post(
        f"{api}/tournaments",
        headers={"Authorization": f"Bearer {user_token}"},
        json={
            "scenario": "tictactoe",
            "format": "round_robin",
            "agents": ["builtin:minimax", "builtin:random"],
            "isolation": "trusted",
        },
        timeout=30,
    )
    assert pending.status_code == 201, pending.text
    agents = httpx.get(f"{api}/agents", timeout=10).json()["items"]
    agent = next(a for a in agents if a["name"] == "dash-bot")
    match = httpx.get(f"{api}/matches?status=finished&limit=1", timeout=10).json()["items"][0]

    with opened(browser, server, DESKTOP) as tab:
        page = tab.page
        tab.login(VIEWER, PASSWORD)
        expect(page.locator(".nav-user")).to_have_text(f"{VIEWER} (viewer)")
        no_start = page.get_by_role("button", name=re.compile(r"\bstart\b", re.IGNORECASE))

        tab.go("#/agents")
        expect(page.locator("main table").first).to_contain_text("dash-bot")
        expect(page.get_by_label("Agent archive")).to_have_count(0)
        expect(page.get_by_role("button", name="Upload")).to_have_count(0)

        tab.go(f"#/agents/{agent['id']}")
        versions = page.get_by_role("region", name="Versions (newest first)")
        expect(versions).to_contain_text("1.0.0")
        expect(versions.get_by_role("button")).to_have_count(0)  # no start, stop, deprecate
        expect(page.get_by_label("Agent archive")).to_have_count(0)

        tab.go("#/tournaments")
        expect(page.locator("main table").first).to_contain_text("round robin")
        expect(page.get_by_role("button", name="Create tournament")).to_have_count(0)
        expect(page.get_by_label("Scenario")).to_have_count(0)

        tab.go(f"#/tournaments/{pending.json()['id']}")
        expect(page.locator(".panel .badge").first).to_have_text("created")
        expect(page.get_by_role("button", name="Start", exact=True)).to_have_count(0)
        expect(page.get_by_role("button", name="Cancel", exact=True)).to_have_count(0)
        expect(no_start).to_have_count(0)

        for route in ("#/", f"#/matches/{match['id']}"):
            tab.go(route)
            page.wait_for_load_state("networkidle")
            expect(no_start).to_have_count(0)
        expect(page.get_by_label("Step", exact=True)).to_be_visible()  # the replay plays

        tab.go("#/leaderboards")
        expect(page.locator("main table").first).to_contain_text("builtin:")
        tab.go("#/scenarios")
        expect(page.locator(".scenario-card").first).to_be_visible()

        # Any account manages its own API keys.
        tab.go("#/keys")
        page.get_by_label("Name", exact=True).fill("reader")
        page.get_by_role("button", name="Create key").click()
        expect(page.get_by_label("New API key")).to_have_value(re.compile(r"^dsk_"))
        shots(page, "desktop-viewer-keys")

        # The server refuses what the page does not offer.
        viewer = {"Authorization": f"Bearer {_token(tab)}"}
        refused = httpx.post(
            f"{api}/tournaments/{pending.json()['id']}/start", headers=viewer, timeout=10
        )
        assert refused.status_code == 403, refused.text


def page_headers_and_static_files(dashboard_server: Any) -> None:
    """The page has its CSP; the files are served; neither is in the OpenAPI document."""
    page = httpx.get(f"{dashboard_server.url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert httpx.get(f"{dashboard_server.url}/index.html").text == page.text
    script = httpx.get(f"{dashboard_server.url}/static/js/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    schema = httpx.get(f"{dashboard_server.url}/openapi.json").json()
    assert "/" not in schema["paths"] and "/index.html" not in schema["paths"]


def api_errors_are_shown(desktop: Tab) -> None:
    """The message and code of an API error reach the alert region."""
    page = desktop.go("#/login")
    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    alert = _alert(page)
    expect(alert).to_contain_text("unauthenticated")
    expect(alert).to_contain_text("Correlation id")
    readable(page, "login")  # with the error shown
    desktop.go("#/tournaments/00000000-0000-4000-8000-000000000000")
    expect(_alert(page)).to_contain_text("not_found")
    expect(page.locator("main h1")).to_have_text("This page could not be shown")


def anonymous_visitor_is_offered_no_writes(desktop: Tab) -> None:
    """No upload, tournament or key form for someone not logged in."""
    page = desktop.go("#/agents")
    expect(page.get_by_label("Agent archive")).to_have_count(0)
    expect(page.get_by_role("link", name="Log in").first).to_be_visible()
    desktop.go("#/tournaments")
    expect(page.get_by_role("button", name="Create tournament")).to_have_count(0)
    desktop.go("#/keys")
    expect(page.get_by_label("Name", exact=True)).to_have_count(0)


def keyboard_navigation(desktop: Tab) -> None:
    """The skip link moves focus to <main>; table headers sort from the keyboard."""
    page = desktop.go("#/leaderboards")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # Sort a table from the keyboard.
    sort = page.get_by_role("button", name=re.compile("^Rating"))
    sort.focus()
    page.keyboard.press("Enter")
    header = page.get_by_role("columnheader", name=re.compile("^Rating"))
    expect(header).to_have_attribute("aria-sort", "descending")
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "ascending")


def phone_layout(phone: Tab, shots: Shot, bracket_id: str) -> None:
    """At 390x844 no page scrolls sideways, and the menu opens and navigates."""
    page = phone.page
    phone.login("admin", phone.server.admin_password)
    for name, route in PAGES.items():
        phone.go(route)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name}: the page scrolls sideways ({width} px)"
        shots(page, f"phone-{name}")
    api = f"{phone.server.url}/api/v1"
    match = httpx.get(f"{api}/matches?tournament_id={bracket_id}&limit=1").json()["items"][0]
    dynamic = {
        "agent": f"#/agents/{AGENT_REF}",
        "tournament": f"#/tournaments/{bracket_id}",
        "match": f"#/matches/{match['id']}",
    }
    for name, route in dynamic.items():
        phone.go(route)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name}: the page scrolls sideways ({width} px)"
        shots(page, f"phone-{name}")
        if name == "tournament":
            expect(page.get_by_role("group", name="Bracket").locator(".seat.winner")).to_have_count(
                3
            )
            docs_shot(page, "dashboard-phone-tournament", full_page=True)
    toggle = page.get_by_role("button", name="Menu")
    expect(page.get_by_role("link", name="Leaderboards")).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.get_by_role("link", name="Leaderboards").click()
    expect(page.locator("main h1")).to_have_text("Leaderboards")


@pytest.mark.timeout(300)
def test_dashboard(
    browser: Any,
    dashboard_server: Any,
    shots: Shot,
    agent_archive: Path,
    slow_agent_archive: Path,
    tmp_path: Path,
) -> None:
    # One test, so that one server and one browser serve every step, even under xdist
    # (starting `devspark serve` costs most of the time).
    page_headers_and_static_files(dashboard_server)
    with opened(browser, dashboard_server, DESKTOP) as tab:
        anonymous_visitor_is_offered_no_writes(tab)
    with opened(browser, dashboard_server, DESKTOP) as tab:
        api_errors_are_shown(tab)
    with opened(browser, dashboard_server, DESKTOP) as tab:
        keyboard_navigation(tab)
    with opened(browser, dashboard_server, DESKTOP) as tab:
        journey(tab, shots, agent_archive)
        sample = live_match(tab, slow_agent_archive)
        scenario_gallery(tab, shots, sample)
        bracket_id = elimination_brackets(tab, shots)
        failed_work(tab, shots)
        manifest_errors_are_listed(tab, tmp_path)
        user_token = _token(tab)
        if DOCS_SHOTS:
            replay_for_docs(tab)
    viewer_is_offered_no_writes(browser, dashboard_server, shots, user_token)
    with opened(browser, dashboard_server, PHONE) as tab:
        phone_layout(tab, shots, bracket_id)
