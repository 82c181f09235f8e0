// Live match view: steps arrive over the dashboard's WebSocket as they are played and
// are drawn by the same renderers as replays. The user can step back through the
// steps received so far; "Follow live steps" keeps the view on the newest one.
import { el, setText, num, short } from "./dom.js";
import { LiveTimeline } from "./timeline.js";
import { Ledger } from "./panels.js";
import { PlayerView, shell } from "./view.js";
import { rendererFor } from "./registry.js";

const OPEN = 1;

function listen(socket, type, handler) {
  if (typeof socket.addEventListener === "function") socket.addEventListener(type, handler);
  else socket[`on${type}`] = handler;
}

/**
 * Mount the live view of match `matchId`.
 * @param {HTMLElement} container
 * @param {string} matchId
 * @param {() => WebSocket} openSocket opens an authenticated socket (or a compatible object)
 * @param {{scenario?: string, agents?: string[], onStep?: (event: object) => void}} [options]
 *   the scenario id when known (else guessed from the state), the agents in seat order
 *   (else learnt from `match_started`), and a listener told of each step drawn
 * @returns {{destroy(): void, view: PlayerView}}
 */
export function mountLiveMatch(container, matchId, openSocket, { scenario = "", agents = [], onStep = null } = {}) {
  const section = shell(container);
  section.classList.add("dsr-live");
  const connection = el("output", { class: "dsr-connection", "aria-live": "polite", "data-connection": "connecting", text: "Connecting\u2026" });
  const finished = el("div", { class: "dsr-finished", hidden: true });
  section.append(el("header", { class: "dsr-header" },
    el("h2", { class: "dsr-title", text: `Live match ${matchId}` }),
    el("p", { class: "dsr-facts" }, el("span", { class: "dsr-live-dot", "aria-hidden": "true" }), connection),
    finished));
  const body = el("div", { class: "dsr-body" });
  section.append(body);

  const timeline = new LiveTimeline();
  const ledger = new Ledger([]);
  const names = new Map();
  agents.forEach((ref, seat) => names.set(`player_${seat}`, String(ref)));
  const nameOf = (role) => (names.get(role) ? `${role} (${names.get(role)})` : String(role));
  let scenarioId = scenario;
  const view = new PlayerView(body, {
    timeline,
    ledger,
    nameOf,
    live: true,
    renderer: (state) => rendererFor(scenarioId, state),
    ctx: { get agents() { return [...names].map(([role, name]) => ({ role, name })); }, scenarioId },
  });
  view.waiting();

  let destroyed = false;
  const setConnection = (text, stateName) => {
    setText(connection, text);
    connection.dataset.connection = stateName;
  };

  const handlers = {
    welcome(event) {
      setConnection(`Connected${event.user ? ` as ${event.user}` : ""}`, "connected");
    },
    subscribed(event) {
      setConnection(`Subscribed to ${event.topic}; waiting for steps`, "subscribed");
    },
    match_started(event) {
      (event.agents || []).forEach((ref, seat) => names.set(`player_${seat}`, String(ref)));
      if (event.scenario && !scenarioId) scenarioId = String(event.scenario);
      view.notice(`Match started: ${(event.agents || []).join(" vs ") || "agents unknown"}${event.seed !== undefined ? `, seed ${event.seed}` : ""}.`);
      setConnection("Playing", "playing");
    },
    step(event) {
      if (event.match_id && String(event.match_id) !== String(matchId)) return; // another match's event
      if (!("state" in event)) throw new Error(`step event ${event.step} has no state`);
      if (!Array.isArray(event.moves)) throw new Error(`step event ${event.step} has no moves list`);
      if (event.scenario && !scenarioId) scenarioId = String(event.scenario);
      timeline.push(event);
      ledger.add(event);
      view.grew();
      if (connection.dataset.connection !== "playing") setConnection("Playing", "playing");
      if (onStep) onStep(event);
    },
    match_finished(event) {
      const agents = event.agents || [];
      finished.hidden = false;
      finished.replaceChildren(el("h3", { text: `Match finished after ${event.steps} steps${typeof event.wall_ms === "number" ? ` (${event.wall_ms < 1000 ? `${num(event.wall_ms, 1)} ms` : `${num(event.wall_ms / 1000, 2)} s`})` : ""}` }),
        el("ul", {}, ...agents.map((agent, i) => {
          const status = (event.statuses || [])[i] || "?";
          return el("li", { class: status !== "ok" ? "dsr-fault" : "" },
            `player_${i} ${agent}: `, el("strong", { text: status }), `, reward ${num((event.rewards || [])[i])}`);
        })));
      setConnection("Match finished", "finished");
    },
    dropped(event) {
      view.notice(`${event.count} live event${event.count === 1 ? " was" : "s were"} dropped because this view fell behind: the board may skip steps (the replay has every step).`, "warn");
    },
    error(event) {
      view.showError(new Error(`${event.code || "error"}: ${event.message || short(event, 300)}`), "server");
    },
  };

  function onMessage(message) {
    let event;
    try {
      event = JSON.parse(typeof message.data === "string" ? message.data : String(message.data));
    } catch (error) {
      view.showError(new Error(`a message from the server is not JSON: ${short(String(message.data), 200)}`), "live");
      return;
    }
    const handler = handlers[event && event.type];
    if (!handler) return; // pong, tournament progress and future event types
    try {
      handler(event);
    } catch (error) {
      view.showError(error, `live ${event.type} event`);
    }
  }

  let socket = null;
  try {
    socket = openSocket();
    if (!socket || typeof socket.send !== "function") throw new Error("openSocket() did not return a WebSocket");
  } catch (error) {
    setConnection("Not connected", "failed");
    view.showError(error, "opening the live connection");
    socket = null;
  }
  if (socket) {
    const subscribe = () => {
      try {
        socket.send(JSON.stringify({ type: "subscribe", topic: `match:${matchId}` }));
      } catch (error) {
        view.showError(error, "subscribing to the match");
      }
    };
    listen(socket, "message", onMessage);
    listen(socket, "error", () => {
      if (!destroyed) view.showError(new Error("the WebSocket connection failed"), "live");
    });
    listen(socket, "close", (event) => {
      if (destroyed) return;
      const code = event && event.code;
      const finishedOk = connection.dataset.connection === "finished";
      setConnection(`Connection closed${code ? ` (code ${code}${event.reason ? `: ${event.reason}` : ""})` : ""}`, "closed");
      if (!finishedOk && code !== 1000) {
        view.showError(new Error(`the live connection closed${code ? ` with code ${code}` : ""}${event && event.reason ? `: ${event.reason}` : ""}`), "live");
      }
    });
    if (socket.readyState === undefined || socket.readyState === OPEN) subscribe();
    else listen(socket, "open", subscribe);
  }

  return {
    destroy() {
      destroyed = true;
      try {
        if (socket) socket.close();
      } finally {
        view.destroy();
        section.remove();
      }
    },
    view,
  };
}
