// Side panels of the player: the moves and rewards of the current step, each agent's
// status and total reward up to it, and the agents' captured logs.
import { el, clear, short, num, isFault } from "./dom.js";

/**
 * Per-agent running totals, indexed like the timeline: reward totals, move counts
 * and faults up to each index, built in one pass (10,000 steps take about a
 * millisecond) and extended as live steps arrive.
 */
export class Ledger {
  constructor(roles = []) {
    this.roles = [];
    this.totals = new Map();
    this.counts = new Map();
    this.faults = new Map();
    this.length = 0;
    roles.forEach((role) => this.role(role));
  }

  role(role) {
    if (!this.totals.has(role)) {
      this.roles.push(role);
      this.totals.set(role, new Array(this.length).fill(0));
      this.counts.set(role, new Array(this.length).fill(0));
      this.faults.set(role, []);
    }
  }

  /** Append the record that produced the next index (null for a replay's initial state). */
  add(record) {
    const i = this.length;
    const moves = (record && record.moves) || [];
    const rewards = (record && record.rewards) || null;
    for (const move of moves) if (!this.totals.has(move.agent)) this.role(move.agent);
    if (rewards) for (const role in rewards) if (!this.totals.has(role)) this.role(role);
    for (const role of this.roles) {
      const totals = this.totals.get(role);
      const counts = this.counts.get(role);
      totals.push(i ? totals[i - 1] : 0);
      counts.push(i ? counts[i - 1] : 0);
    }
    if (rewards) for (const role in rewards) this.totals.get(role)[i] += Number(rewards[role]) || 0;
    for (const move of moves) {
      this.counts.get(move.agent)[i] += 1;
      if (isFault(move.status)) this.faults.get(move.agent).push({ index: i, status: move.status, detail: move.detail || "" });
    }
    this.length += 1;
  }

  /** Each agent's status, total reward and move count at `index`. */
  at(index) {
    return this.roles.map((role) => {
      const faults = this.faults.get(role).filter((f) => f.index <= index);
      const fault = faults.at(-1);
      const moves = this.counts.get(role)[index] ?? 0;
      return {
        role,
        total: this.totals.get(role)[index] ?? 0,
        moves,
        status: fault ? fault.status : moves ? "ok" : "waiting",
        detail: fault ? fault.detail : "",
        faultIndex: fault ? fault.index : -1,
      };
    });
  }
}

function statusBadge(status) {
  return el("span", { class: `dsr-status ${isFault(status) && status !== "waiting" ? "dsr-status-fault" : `dsr-status-${status}`}`,
    text: isFault(status) && status !== "waiting" ? `\u26a0 ${status}` : status });
}

/** The moves table and rewards of the current step. */
export function movesPanel() {
  const heading = el("h3", { text: "Moves" });
  const body = el("div", { class: "dsr-moves" });
  const node = el("section", { class: "dsr-panel dsr-moves-panel", "aria-label": "Moves of this step" }, heading, body);
  return {
    node,
    update(record, label, nameOf) {
      clear(body);
      heading.textContent = `Moves \u2014 ${label}`;
      if (!record) {
        body.append(el("p", { class: "dsr-muted", text: "Initial state after reset: no moves yet." }));
        return;
      }
      const moves = record.moves || [];
      const table = el("table", { class: "dsr-table" },
        el("thead", {}, el("tr", {}, ...["Agent", "Action", "Status", "ms", "Detail"].map((h) => el("th", { scope: "col", text: h })))));
      const tbody = el("tbody");
      for (const move of moves) {
        tbody.append(el("tr", { class: isFault(move.status) ? "dsr-fault" : "", "data-status": move.status },
          el("td", { text: nameOf(move.agent) }),
          el("td", {}, el("code", { text: short(move.action) })),
          el("td", {}, statusBadge(move.status)),
          el("td", { class: "dsr-num", text: move.ms === undefined ? "" : num(move.ms, 2) }),
          el("td", { class: "dsr-detail", text: move.detail || "" })));
      }
      if (!moves.length) tbody.append(el("tr", {}, el("td", { colspan: 5, class: "dsr-muted", text: "no moves in this step" })));
      table.append(tbody);
      body.append(el("div", { class: "dsr-scroll" }, table));
      const rewards = Object.entries(record.rewards || {});
      body.append(el("p", { class: "dsr-rewards" }, el("strong", { text: "Rewards: " }),
        rewards.length ? rewards.map(([role, r]) => `${nameOf(role)} ${r > 0 ? "+" : ""}${num(r)}`).join(", ") : "none this step"));
    },
  };
}

/** Each agent's status, total reward and moves up to the current step. */
export function agentsPanel() {
  const tbody = el("tbody");
  const table = el("table", { class: "dsr-table" },
    el("caption", { text: "Agents up to this step" }),
    el("thead", {}, el("tr", {}, ...["Agent", "Status", "Total reward", "Moves"].map((h) => el("th", { scope: "col", text: h })))),
    tbody);
  const node = el("section", { class: "dsr-panel dsr-agents-panel", "aria-label": "Agents" }, el("div", { class: "dsr-scroll" }, table));
  return {
    node,
    update(rows, nameOf) {
      clear(tbody);
      for (const row of rows) {
        tbody.append(el("tr", { class: isFault(row.status) && row.status !== "waiting" ? "dsr-fault" : "", "data-agent": row.role },
          el("td", { text: nameOf(row.role) }),
          el("td", { title: row.detail || null }, statusBadge(row.status), row.detail ? el("span", { class: "dsr-detail", text: ` ${short(row.detail, 160)}` }) : null),
          el("td", { class: "dsr-num", text: num(row.total) }),
          el("td", { class: "dsr-num", text: row.moves })));
      }
    },
  };
}

/** The agents' captured log lines and stderr (per agent for the whole match). */
export function logsPanel(agents, { live = false } = {}) {
  const node = el("section", { class: "dsr-panel dsr-logs-panel", "aria-label": "Agent logs" }, el("h3", { text: "Agent logs" }));
  if (live) {
    node.append(el("p", { class: "dsr-muted", text: "Live steps carry no logs; they are in the match's replay once it has finished." }));
    return { node };
  }
  node.append(el("p", { class: "dsr-muted", text: "Replays keep each agent's context.log lines and stderr for the whole match (not stamped with steps), capped by the runtime at 200 lines and 64 KiB." }));
  for (const agent of agents) {
    const logs = Array.isArray(agent.logs) ? agent.logs : [];
    const stderr = typeof agent.stderr === "string" ? agent.stderr : "";
    const details = el("details", { class: "dsr-log", open: logs.length || stderr ? true : null },
      el("summary", { text: `${agent.role || `seat ${agent.seat}`} (${agent.name || agent.ref || "?"}): ${logs.length} log line${logs.length === 1 ? "" : "s"}${stderr ? ", stderr" : ""}` }));
    if (logs.length) details.append(el("ol", { class: "dsr-log-lines" }, ...logs.map((line) => el("li", {}, el("code", { text: line })))));
    else details.append(el("p", { class: "dsr-muted", text: "no log lines" }));
    if (stderr) details.append(el("h4", { text: "stderr" }), el("pre", { class: "dsr-stderr", tabindex: "0", text: stderr }));
    node.append(details);
  }
  if (!agents.length) node.append(el("p", { class: "dsr-muted", text: "The replay lists no agents." }));
  return { node };
}
