// Level-based foraging: an SVG grid with food items (their level inside), agents as
// lettered squares with their level, each agent's view window, and a table per agent.
import { svg, el, setText, num, clear } from "../dom.js";
import { statusLine } from "./common.js";

const CELL = 40;
const LETTERS = "ABCDEFGH";

export default {
  id: "foraging",
  mount(root, ctx) {
    const wrap = el("div", { class: "dsr-board-wrap" });
    const status = statusLine();
    const table = el("table", { class: "dsr-table dsr-forage-table" },
      el("caption", { text: "Agents" }),
      el("thead", {}, el("tr", {},
        ...["", "Agent", "Level", "Position", "Signal", "Last move", "Score", "Fault"].map((h) => el("th", { scope: "col", text: h })))));
    const tbody = el("tbody");
    table.append(tbody);
    root.append(wrap, status.node, el("div", { class: "dsr-scroll" }, table));
    let size = -1;
    let layer;
    let title;

    function build(n) {
      wrap.replaceChildren();
      const board = svg("svg", { class: "dsr-forage", viewBox: `0 0 ${n * CELL} ${n * CELL}`, role: "img", "data-board": "foraging" });
      title = svg("title");
      board.append(title);
      for (let r = 0; r < n; r += 1) {
        for (let c = 0; c < n; c += 1) {
          board.append(svg("rect", { x: c * CELL, y: r * CELL, width: CELL, height: CELL, class: "dsr-forage-cell" }));
        }
      }
      layer = svg("g");
      board.append(layer);
      wrap.append(board);
    }

    return {
      update(state) {
        if (state.size !== size) {
          size = state.size;
          build(size);
        }
        clear(layer);
        const radius = state.view_radius;
        const agents = state.agents || [];
        agents.forEach(([r, c], i) => {
          if (!Number.isInteger(radius)) return;
          const x0 = Math.max(0, c - radius);
          const y0 = Math.max(0, r - radius);
          const x1 = Math.min(size, c + radius + 1);
          const y1 = Math.min(size, r + radius + 1);
          layer.append(svg("rect", {
            x: x0 * CELL, y: y0 * CELL, width: (x1 - x0) * CELL, height: (y1 - y0) * CELL,
            class: `dsr-view dsr-view-${i % 4}`,
          }));
        });
        let left = 0;
        for (const [r, c, level, collected] of state.food || []) {
          if (collected) continue;
          left += 1;
          const g = svg("g", { class: "dsr-food", "data-food": `${r},${c},${level}` },
            svg("circle", { cx: c * CELL + CELL / 2, cy: r * CELL + CELL / 2, r: CELL * 0.36 }),
            svg("text", { x: c * CELL + CELL / 2, y: r * CELL + CELL / 2, "text-anchor": "middle", "dominant-baseline": "central", text: level }));
          layer.append(g);
        }
        agents.forEach(([r, c, level], i) => {
          layer.append(svg("g", { class: `dsr-agent dsr-a${i % 4}`, "data-agent": `${LETTERS[i]},${r},${c}` },
            svg("rect", { x: c * CELL + 3, y: r * CELL + 3, width: CELL - 6, height: CELL - 6, rx: 6 }),
            svg("text", { x: c * CELL + CELL / 2, y: r * CELL + CELL / 2, "text-anchor": "middle", "dominant-baseline": "central", text: `${LETTERS[i]}${level}` })));
        });
        const faults = state.faults || {};
        clear(tbody);
        agents.forEach(([r, c, level], i) => {
          const role = `player_${i}`;
          const fault = faults[role];
          tbody.append(el("tr", { class: fault ? "dsr-fault" : "" },
            el("td", {}, el("span", { class: `dsr-swatch dsr-a${i % 4}`, text: LETTERS[i] })),
            el("td", { text: role }),
            el("td", { text: level }),
            el("td", { text: `(${r}, ${c})` }),
            el("td", { text: (state.signals || [])[i] ?? "" }),
            el("td", { text: (state.moves || [])[i] ?? "\u2013" }),
            el("td", { text: num((state.scores || [])[i] ?? 0) }),
            el("td", { text: fault || "" })));
        });
        const tone = state.result === "collected" ? "good" : state.result === "forfeit" ? "bad" : "";
        const text = `step ${state.step}/${state.step_limit}, food left ${left}, view ${radius}, ${state.result}`;
        status.set(text, tone);
        setText(title, `Foraging grid ${size} by ${size}: ${agents.length} agents, ${left} food items left. ${text}`);
      },
      destroy() {},
    };
  },
};
