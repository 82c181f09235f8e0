// Maze: drawn on a canvas (up to 31x31 cells, redrawn every step while playing):
// walls, open cells, the visited trail, start, goal, the agent and its view window.
import { el, fitCanvas, cssVar, setText, num } from "../dom.js";
import { statusLine, watchWidth } from "./common.js";

export default {
  id: "maze",
  mount(root, ctx) {
    const canvas = el("canvas", { class: "dsr-maze", role: "img", "data-board": "maze" });
    const wrap = el("div", { class: "dsr-board-wrap dsr-canvas-wrap" }, canvas);
    const status = statusLine();
    const legend = el("p", { class: "dsr-legend" },
      el("span", { class: "dsr-key dsr-key-agent", text: "agent" }),
      el("span", { class: "dsr-key dsr-key-goal", text: "goal" }),
      el("span", { class: "dsr-key dsr-key-start", text: "start" }),
      el("span", { class: "dsr-key dsr-key-trail", text: "visited" }),
      el("span", { class: "dsr-key dsr-key-view", text: "view window (fog of war)" }));
    root.append(wrap, status.node, legend);
    let width = wrap.clientWidth || 480;
    let current = null;
    const stopWatching = watchWidth(wrap, (w) => {
      width = w;
      if (current) draw(current);
    });

    function draw(state) {
      const grid = state.grid || [];
      const rows = grid.length;
      const cols = rows ? grid[0].length : 0;
      const cell = Math.max(4, Math.floor(Math.min(width, 560) / Math.max(cols, 1)));
      const { ctx: g } = fitCanvas(canvas, cols * cell, rows * cell);
      const colours = {
        wall: cssVar(canvas, "--dsr-wall", "#1f2937"),
        open: cssVar(canvas, "--dsr-open", "#f8fafc"),
        trail: cssVar(canvas, "--dsr-trail", "#93c5fd"),
        agent: cssVar(canvas, "--dsr-agent", "#b91c1c"),
        goal: cssVar(canvas, "--dsr-goal", "#15803d"),
        start: cssVar(canvas, "--dsr-start", "#a16207"),
        view: cssVar(canvas, "--dsr-view", "#7c3aed"),
      };
      for (let r = 0; r < rows; r += 1) {
        const line = grid[r];
        for (let c = 0; c < cols; c += 1) {
          const ch = line[c];
          g.fillStyle = ch === "#" ? colours.wall : ch === "." ? colours.trail : colours.open;
          g.fillRect(c * cell, r * cell, cell, cell);
        }
      }
      const mark = (pos, colour, shape) => {
        if (!Array.isArray(pos)) return;
        const [r, c] = pos;
        g.fillStyle = colour;
        if (shape === "square") g.fillRect(c * cell + cell * 0.2, r * cell + cell * 0.2, cell * 0.6, cell * 0.6);
        else {
          g.beginPath();
          g.arc(c * cell + cell / 2, r * cell + cell / 2, cell * 0.38, 0, 2 * Math.PI);
          g.fill();
        }
      };
      mark(state.start, colours.start, "square");
      mark(state.goal, colours.goal, "square");
      mark(state.position, colours.agent, "circle");
      if (Number.isInteger(state.view_radius) && Array.isArray(state.position)) {
        const [r, c] = state.position;
        const k = state.view_radius;
        g.strokeStyle = colours.view;
        g.lineWidth = 2;
        g.setLineDash([4, 3]);
        g.strokeRect((c - k) * cell + 1, (r - k) * cell + 1, (2 * k + 1) * cell - 2, (2 * k + 1) * cell - 2);
        g.setLineDash([]);
      }
    }

    return {
      update(state) {
        current = state;
        draw(state);
        canvas.dataset.position = JSON.stringify(state.position);
        canvas.dataset.steps = String(state.steps);
        let text = `steps ${state.steps}/${state.step_limit}, shortest ${state.shortest}, ${state.result}, reward ${num(state.reward)}`;
        if (state.view_radius !== null && state.view_radius !== undefined) text += `, view radius ${state.view_radius}`;
        if (state.forfeit) text += `; forfeit: ${state.forfeit.agent} ${state.forfeit.status}`;
        const tone = state.result === "goal" ? "good" : state.result === "ongoing" ? "" : "bad";
        status.set(text, tone);
        canvas.setAttribute("aria-label",
          `Maze ${(state.grid || []).length} rows; agent at row ${state.position?.[0]}, column ${state.position?.[1]}; ` +
          `goal at row ${state.goal?.[0]}, column ${state.goal?.[1]}. ${text}`);
      },
      destroy() {
        stopWatching();
      },
    };
  },
};
