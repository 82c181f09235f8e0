// Iterated prisoner's dilemma as a payoff timeline: the current round per player
// (intended and executed move, noise flips marked, cooperations, score, fault), the
// last rounds with each player's payoff, a strip of every round's executed moves and a
// chart of cumulative scores over all rounds, with the current round marked.
//
// render_state keeps only the last round, so the whole history is read by walking the
// timeline once (10,000 rounds take a few milliseconds) and extended as live rounds come.
import { el, fitCanvas, cssVar, clear, num } from "../dom.js";
import { statusLine, watchWidth } from "./common.js";

const PALETTE = ["#1d4ed8", "#c2410c", "#047857", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#be185d"];
const RECENT = 8;
const CHART_H = 170;
const STRIP_ROW = 14;

function code(ch) {
  return ch === "C" ? 1 : ch === "D" ? 2 : 0;
}

class Series {
  constructor() {
    this.length = 0;
    this.scores = []; // per player, score after each state index
    this.executed = [];
    this.intended = [];
    this.players = 0;
    this.max = 0;
    this.min = 0;
  }

  add(state) {
    const n = state.num_players || (state.scores || []).length;
    while (this.players < n) {
      this.scores.push(new Array(this.length).fill(0));
      this.executed.push(new Array(this.length).fill(0));
      this.intended.push(new Array(this.length).fill(0));
      this.players += 1;
    }
    for (let p = 0; p < this.players; p += 1) {
      const score = (state.scores || [])[p] ?? 0;
      this.scores[p].push(score);
      this.executed[p].push(code((state.executed || "")[p]));
      this.intended[p].push(code((state.intended || "")[p]));
      if (score > this.max) this.max = score;
      if (score < this.min) this.min = score;
    }
    this.length += 1;
  }
}

export default {
  id: "prisoners_dilemma",
  mount(root, ctx) {
    const timeline = ctx.timeline;
    const status = statusLine();
    const table = el("table", { class: "dsr-table dsr-pd-table" },
      el("caption", { text: "This round" }),
      el("thead", {}, el("tr", {}, ...["Player", "Intended", "Executed", "Cooperations", "Score", "Fault"].map((h) => el("th", { scope: "col", text: h })))));
    const tbody = el("tbody");
    table.append(tbody);
    const recent = el("table", { class: "dsr-table dsr-pd-recent" });
    const chart = el("canvas", { class: "dsr-pd-chart", role: "img", "data-board": "prisoners_dilemma" });
    const strip = el("canvas", { class: "dsr-pd-strip", role: "img" });
    const legend = el("ul", { class: "dsr-legend dsr-pd-legend" });
    const chartWrap = el("div", { class: "dsr-canvas-wrap dsr-pd-chartwrap" },
      el("h4", { text: "Cumulative score per round" }), chart,
      el("h4", { text: "Executed moves per round (light: C, dark: D)" }), strip, legend);
    root.append(status.node, el("div", { class: "dsr-scroll" }, table), el("div", { class: "dsr-scroll" }, recent), chartWrap);

    const series = new Series();
    let width = chartWrap.clientWidth || 600;
    let baseLength = -1;
    let baseWidth = -1;
    let chartBase = null;
    let stripBase = null;
    let currentIndex = 0;
    let colours = null;

    function extend() {
      if (series.length < timeline.length) timeline.forEach(series.length, (state) => series.add(state));
    }

    function colour(p) {
      return colours.players[p % colours.players.length];
    }

    function drawBases() {
      colours = {
        players: PALETTE.map((c, i) => cssVar(chart, `--dsr-player-${i}`, c)),
        grid: cssVar(chart, "--dsr-grid", "#cbd5e1"),
        text: cssVar(chart, "--dsr-fg", "#111827"),
        bg: cssVar(chart, "--dsr-surface", "#ffffff"),
      };
      const w = Math.max(200, width);
      const n = series.length;
      const ratio = window.devicePixelRatio || 1;
      chartBase = document.createElement("canvas");
      chartBase.width = Math.round(w * ratio);
      chartBase.height = Math.round(CHART_H * ratio);
      const g = chartBase.getContext("2d");
      g.scale(ratio, ratio);
      g.fillStyle = colours.bg;
      g.fillRect(0, 0, w, CHART_H);
      const pad = { l: 44, r: 8, t: 8, b: 20 };
      const span = series.max - series.min || 1;
      const x = (i) => pad.l + (n > 1 ? (i / (n - 1)) * (w - pad.l - pad.r) : 0);
      const y = (v) => CHART_H - pad.b - ((v - series.min) / span) * (CHART_H - pad.t - pad.b);
      g.strokeStyle = colours.grid;
      g.fillStyle = colours.text;
      g.font = "11px system-ui, sans-serif";
      g.lineWidth = 1;
      for (let k = 0; k <= 4; k += 1) {
        const v = series.min + (span * k) / 4;
        g.beginPath();
        g.moveTo(pad.l, y(v));
        g.lineTo(w - pad.r, y(v));
        g.stroke();
        g.fillText(num(v, 1), 2, y(v) + 4);
      }
      g.fillText(timeline.label(0), pad.l, CHART_H - 5);
      const endLabel = timeline.label(n - 1);
      g.fillText(endLabel, w - pad.r - g.measureText(endLabel).width, CHART_H - 5);
      const step = Math.max(1, Math.floor(n / (w * 2)));
      for (let p = 0; p < series.players; p += 1) {
        g.strokeStyle = colour(p);
        g.lineWidth = 1.5;
        g.beginPath();
        for (let i = 0; i < n; i += step) {
          if (i === 0) g.moveTo(x(i), y(series.scores[p][i]));
          else g.lineTo(x(i), y(series.scores[p][i]));
        }
        g.lineTo(x(n - 1), y(series.scores[p][n - 1]));
        g.stroke();
      }
      chartBase.geometry = { x, y, w, pad };

      const sh = Math.max(1, series.players) * STRIP_ROW;
      stripBase = document.createElement("canvas");
      stripBase.width = Math.round(w * ratio);
      stripBase.height = Math.round(sh * ratio);
      const s = stripBase.getContext("2d");
      s.scale(ratio, ratio);
      s.fillStyle = colours.bg;
      s.fillRect(0, 0, w, sh);
      const first = timeline.live ? 0 : 1; // a replay's state 0 is before any move
      const rounds = Math.max(1, n - first);
      const cols = Math.min(rounds, Math.floor(w - pad.l - pad.r));
      const colW = (w - pad.l - pad.r) / cols;
      for (let p = 0; p < series.players; p += 1) {
        s.fillStyle = colours.text;
        s.fillText(`P${p}`, 2, p * STRIP_ROW + 11);
        for (let c = 0; c < cols; c += 1) {
          const from = first + Math.floor((c * rounds) / cols);
          const to = Math.max(from + 1, first + Math.floor(((c + 1) * rounds) / cols));
          let coop = 0;
          let total = 0;
          for (let i = from; i < to && i < n; i += 1) {
            const e = series.executed[p][i];
            if (e) total += 1;
            if (e === 1) coop += 1;
          }
          if (!total) continue;
          s.fillStyle = colour(p);
          s.globalAlpha = 1 - 0.75 * (coop / total); // all C: light, all D: dark
          s.fillRect(pad.l + c * colW, p * STRIP_ROW + 2, Math.max(1, colW), STRIP_ROW - 4);
          s.globalAlpha = 1;
        }
      }
      stripBase.geometry = { x: (i) => pad.l + ((i - first + 0.5) / rounds) * (w - pad.l - pad.r), h: sh, w, first };
      baseLength = n;
      baseWidth = width;
    }

    function drawMarks(index) {
      if (baseLength !== series.length || baseWidth !== width) drawBases();
      const { x, y, w } = chartBase.geometry;
      const { ctx: g } = fitCanvas(chart, w, CHART_H);
      g.drawImage(chartBase, 0, 0, w, CHART_H);
      g.strokeStyle = colours.text;
      g.lineWidth = 1;
      g.setLineDash([3, 3]);
      g.beginPath();
      g.moveTo(x(index), 4);
      g.lineTo(x(index), CHART_H - 18);
      g.stroke();
      g.setLineDash([]);
      for (let p = 0; p < series.players; p += 1) {
        g.fillStyle = colour(p);
        g.beginPath();
        g.arc(x(index), y(series.scores[p][index]), 4, 0, 2 * Math.PI);
        g.fill();
      }
      const geo = stripBase.geometry;
      const { ctx: s } = fitCanvas(strip, geo.w, geo.h);
      s.drawImage(stripBase, 0, 0, geo.w, geo.h);
      if (index >= geo.first) {
        s.strokeStyle = colours.text;
        s.lineWidth = 2;
        s.beginPath();
        s.moveTo(geo.x(index), 0);
        s.lineTo(geo.x(index), geo.h);
        s.stroke();
      }
    }

    function renderRecent(index) {
      clear(recent);
      const players = series.players;
      recent.append(el("caption", { text: "Last rounds: executed move and payoff" }),
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Step" }),
          ...Array.from({ length: players }, (_, p) => el("th", { scope: "col", text: `player_${p}` })))));
      const body = el("tbody");
      const first = timeline.live ? 0 : 1;
      for (let i = index; i >= first && i > index - RECENT; i -= 1) {
        const record = timeline.recordAt(i) || {};
        const rewards = record.rewards || {};
        const row = el("tr", { class: i === index ? "dsr-current" : "" }, el("th", { scope: "row", text: timeline.label(i) }));
        for (let p = 0; p < players; p += 1) {
          const e = series.executed[p][i];
          const intended = series.intended[p][i];
          const flip = intended && e && intended !== e;
          row.append(el("td", { class: e === 2 ? "dsr-defect" : "dsr-coop" },
            el("strong", { text: e === 1 ? "C" : e === 2 ? "D" : "\u2013" }),
            flip ? el("span", { class: "dsr-flip", title: "noise flipped the intended move", text: " (flipped)" }) : null,
            ` +${num(rewards[`player_${p}`] || 0)}`));
        }
        body.append(row);
      }
      if (!body.firstChild) body.append(el("tr", {}, el("td", { colspan: players + 1, class: "dsr-muted", text: "no round played yet" })));
      recent.append(body);
    }

    const stopWatching = watchWidth(chartWrap, (w) => {
      width = w;
      if (series.length) drawMarks(currentIndex);
    });

    return {
      update(state, index) {
        currentIndex = index;
        extend();
        const faults = state.faults || {};
        const n = state.num_players || (state.scores || []).length;
        const horizon = state.horizon_known ? `${state.horizon}` : `${state.horizon} (horizon hidden)`;
        const text = `round ${state.round}/${horizon}, noise ${state.noise}, ${state.result}`;
        status.set(text, state.result === "forfeit" ? "bad" : state.result === "done" ? "good" : "");
        clear(tbody);
        for (let p = 0; p < n; p += 1) {
          const role = `player_${p}`;
          const intended = (state.intended || "")[p] || "-";
          const executed = (state.executed || "")[p] || "-";
          tbody.append(el("tr", { class: faults[role] ? "dsr-fault" : "", "data-player": role },
            el("th", { scope: "row" }, el("span", { class: `dsr-dot dsr-pc${p % 8}`, "aria-hidden": "true" }), ` ${role}`),
            el("td", { text: intended }),
            el("td", { class: intended !== executed ? "dsr-flip" : "", text: executed }),
            el("td", { text: (state.cooperations || [])[p] ?? 0 }),
            el("td", { text: num((state.scores || [])[p] ?? 0, 2) }),
            el("td", { text: faults[role] || "" })));
        }
        if (legend.childElementCount !== n) {
          legend.replaceChildren(...Array.from({ length: n }, (_, p) =>
            el("li", {}, el("span", { class: `dsr-dot dsr-pc${p % 8}`, "aria-hidden": "true" }), ` player_${p}`)));
        }
        renderRecent(index);
        drawMarks(index);
        chart.dataset.round = String(state.round);
        chart.setAttribute("aria-label", `Cumulative scores over ${series.length - 1} rounds; round ${state.round} marked: ` +
          Array.from({ length: n }, (_, p) => `player_${p} ${num((state.scores || [])[p] ?? 0, 2)}`).join(", "));
        strip.setAttribute("aria-label", `Executed moves of every round, ${series.length - 1} rounds`);
      },
      destroy() {
        stopWatching();
      },
    };
  },
};
