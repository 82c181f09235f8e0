// Tic-tac-toe: a 3x3 SVG grid, X for player_0 (mark 1) and O for player_1 (mark 2).
import { svg, el, setText } from "../dom.js";
import { boardResult, playerLegend, statusLine } from "./common.js";

const LINES = [
  [0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6],
];
const SYMBOLS = ["", "X", "O"];
const CELL = 100;

export function winningLine(board) {
  return LINES.find(([a, b, c]) => board[a] && board[a] === board[b] && board[a] === board[c]) || null;
}

export default {
  id: "tictactoe",
  mount(root, ctx) {
    const cells = [];
    const board = svg("svg", {
      class: "dsr-ttt",
      viewBox: `0 0 ${3 * CELL} ${3 * CELL}`,
      role: "img",
      "data-board": "tictactoe",
    });
    const title = svg("title");
    board.append(title);
    for (let i = 0; i < 9; i += 1) {
      const x = (i % 3) * CELL;
      const y = Math.floor(i / 3) * CELL;
      const rect = svg("rect", { x: x + 2, y: y + 2, width: CELL - 4, height: CELL - 4, rx: 8, class: "dsr-cell" });
      const text = svg("text", {
        x: x + CELL / 2, y: y + CELL / 2, "text-anchor": "middle", "dominant-baseline": "central",
        class: "dsr-mark", "data-cell": i,
      });
      board.append(rect, text);
      cells.push({ rect, text });
    }
    const line = svg("line", { class: "dsr-winline", visibility: "hidden" });
    board.append(line);
    const status = statusLine();
    const legend = playerLegend(ctx, [1, 2].map((mark) => ({
      role: `player_${mark - 1}`,
      swatch: () => el("span", { class: `dsr-key-mark dsr-t${mark - 1}`, "aria-hidden": "true", text: SYMBOLS[mark] }),
    })));
    root.append(el("div", { class: "dsr-board-wrap" }, board), status.node, legend.node);

    return {
      update(state) {
        const marks = state.board || [];
        const last = (state.moves || []).at(-1);
        const rows = [];
        for (let i = 0; i < 9; i += 1) {
          const mark = marks[i] || 0;
          setText(cells[i].text, SYMBOLS[mark] ?? "?");
          cells[i].text.setAttribute("class", `dsr-mark dsr-p${mark - 1}`);
          cells[i].text.dataset.mark = String(mark);
          cells[i].rect.setAttribute("class", i === last ? "dsr-cell dsr-last" : "dsr-cell");
          delete cells[i].text.dataset.win;
          if (i % 3 === 0) rows.push([]);
          rows.at(-1).push(SYMBOLS[mark] || "empty");
        }
        const win = state.result === "win" ? winningLine(marks) : null;
        if (win) {
          const centre = (c) => [(c % 3) * CELL + CELL / 2, Math.floor(c / 3) * CELL + CELL / 2];
          const [x1, y1] = centre(win[0]);
          const [x2, y2] = centre(win[2]);
          for (const [k, v] of Object.entries({ x1, y1, x2, y2 })) line.setAttribute(k, v);
          line.setAttribute("visibility", "visible");
          for (const c of win) cells[c].text.dataset.win = "true";
          board.dataset.winLine = win.join(",");
        } else {
          line.setAttribute("visibility", "hidden");
          delete board.dataset.winLine;
        }
        legend.update();
        const [text, tone] = boardResult(state, ctx);
        status.set(text, tone);
        const marked = win ? ` Winning line: cells ${win.join(", ")}.` : "";
        setText(title, `Tic-tac-toe board, ${rows.map((r, i) => `row ${i + 1}: ${r.join(", ")}`).join("; ")}. ${text}.${marked}`);
      },
      destroy() {},
    };
  },
};
