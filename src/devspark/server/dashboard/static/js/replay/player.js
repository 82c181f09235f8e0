// DevSpark match replay player and live match view.
//
//   import { mountReplayPlayer, mountLiveMatch } from "/static/js/replay/player.js";
//   const player = mountReplayPlayer(container, replayDoc);   // docs/replays.md document
//   const live = mountLiveMatch(container, matchId, () => new WebSocket(url));
//   player.destroy();
//
// Boards are drawn by one renderer per scenario (render/<scenario>.js), chosen by
// RENDERERS (registry.js) from the replay's scenario.id, with a JSON fallback for the rest.
import { el, num, short } from "./dom.js";
import { ReplayTimeline, checkReplay } from "./timeline.js";
import { Ledger, logsPanel } from "./panels.js";
import { PlayerView, nameFunction, shell } from "./view.js";
import { rendererFor } from "./registry.js";

export { RENDERERS, rendererFor, guessScenario, baseScenarioId } from "./registry.js";

function replaySummary(doc) {
  const scenario = doc.scenario || {};
  const facts = [
    `${scenario.id} v${scenario.version}`,
    `seed ${doc.seed}`,
    doc.options && Object.keys(doc.options).length ? `options ${short(doc.options, 80)}` : null,
    doc.isolation ? `isolation ${doc.isolation}` : null,
    doc.recorded_at ? `recorded ${doc.recorded_at}` : null,
    `${doc.steps.length} steps`,
  ].filter(Boolean);
  const outcome = doc.outcome || {};
  const rows = (outcome.agents || []).map((a) =>
    el("li", { class: a.status && a.status !== "ok" ? "dsr-fault" : "" },
      `${a.role || ""} ${a.agent || ""}: `, el("strong", { text: a.status || "?" }),
      `, reward ${num(a.reward)}, ${a.moves ?? "?"} moves`, a.detail ? ` \u2014 ${short(a.detail, 200)}` : ""));
  return el("header", { class: "dsr-header" },
    el("h2", { class: "dsr-title", text: `Replay: ${scenario.id}` }),
    el("p", { class: "dsr-facts", text: facts.join(" \u00b7 ") }),
    rows.length ? el("div", { class: "dsr-outcome" }, el("h3", { text: "Outcome" }), el("ul", {}, ...rows)) : null);
}

/**
 * Mount the replay player for a `devspark-replay` v1 document.
 * @param {HTMLElement} container
 * @param {object} replayDoc the replay JSON (docs/replays.md)
 * @returns {{destroy(): void, goTo(index: number): void, readonly index: number, view: PlayerView}}
 */
export function mountReplayPlayer(container, replayDoc) {
  const section = shell(container);
  section.classList.add("dsr-replay");
  try {
    checkReplay(replayDoc);
  } catch (error) {
    console.error("[replay player]", error);
    section.append(el("div", { class: "dsr-errors", role: "alert" },
      el("p", { class: "dsr-error", text: `Cannot show this replay: ${error.message}` })));
    return { destroy: () => section.remove(), goTo() {}, get index() { return 0; }, view: null };
  }
  const agents = replayDoc.agents.map((a, seat) => ({ ...a, role: a.role || `player_${seat}` }));
  const timeline = new ReplayTimeline(replayDoc);
  const ledger = new Ledger(agents.map((a) => a.role));
  ledger.add(null);
  for (const record of replayDoc.steps) ledger.add(record);
  const nameOf = nameFunction(agents);
  section.append(replaySummary(replayDoc));
  const body = el("div", { class: "dsr-body" });
  section.append(body);
  const view = new PlayerView(body, {
    timeline,
    ledger,
    nameOf,
    renderer: (state) => rendererFor(replayDoc.scenario.id, state),
    ctx: { agents, scenarioId: replayDoc.scenario.id, doc: replayDoc },
  });
  section.append(logsPanel(agents).node);
  view.goTo(0);
  const stopWarm = timeline.warm();
  return {
    destroy() {
      stopWarm();
      view.destroy();
      section.remove();
    },
    goTo: (index) => view.goTo(index, { user: true }),
    get index() {
      return view.index;
    },
    view,
  };
}

export { mountLiveMatch } from "./live.js";
