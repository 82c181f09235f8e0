// Connect Four: an SVG board (row 0 at the top, as in render_state's flat `board`),
// discs coloured per player, the last disc ringed, column numbers underneath.
import { svg, el, setText } from "../dom.js";
import { boardResult, playerLegend, statusLine } from "./common.js";

const CELL = 60;
const DIRECTIONS = [[0, 1], [1, 0], [1, 1], [1, -1]];

/**
 * The cells of the winner's line (`inarow` discs of `mark` in a row, column or diagonal),
 * the one through `through` (the last disc) when there is one; null when none.
 */
export function winningLine(cells, rows, columns, inarow, mark, through = -1) {
  let found = null;
  for (let start = 0; start < rows * columns; start += 1) {
    if (cells[start] !== mark) continue;
    const r0 = Math.floor(start / columns);
    const c0 = start % columns;
    for (const [dr, dc] of DIRECTIONS) {
      const line = [];
      for (let k = 0; k < inarow; k += 1) {
        const r = r0 + k * dr;
        const c = c0 + k * dc;
        if (r < 0 || r >= rows || c < 0 || c >= columns || cells[r * columns + c] !== mark) break;
        line.push(r * columns + c);
      }
      if (line.length < inarow) continue;
      if (through < 0 || line.includes(through)) return line;
      found = found || line;
    }
  }
  return found;
}

export default {
  id: "connect_four",
  mount(root, ctx) {
    const wrap = el("div", { class: "dsr-board-wrap" });
    const status = statusLine();
    const info = el("p", { class: "dsr-board-info" });
    const legend = playerLegend(ctx, [0, 1].map((seat) => ({
      role: `player_${seat}`,
      swatch: () => el("span", { class: `dsr-key-disc dsr-t${seat}`, "aria-hidden": "true" }),
    })));
    root.append(wrap, status.node, legend.node, info);
    let shape = "";
    let discs = [];
    let board;
    let title;
    let line;

    function build(rows, columns) {
      wrap.replaceChildren();
      discs = [];
      board = svg("svg", {
        class: "dsr-c4",
        viewBox: `0 0 ${columns * CELL} ${rows * CELL + 28}`,
        role: "img",
        "data-board": "connect_four",
      });
      title = svg("title");
      board.append(title, svg("rect", { x: 0, y: 0, width: columns * CELL, height: rows * CELL, rx: 10, class: "dsr-c4-frame" }));
      for (let i = 0; i < rows * columns; i += 1) {
        const cx = (i % columns) * CELL + CELL / 2;
        const cy = Math.floor(i / columns) * CELL + CELL / 2;
        const disc = svg("circle", { cx, cy, r: CELL * 0.4, class: "dsr-disc", "data-cell": i });
        board.append(disc);
        discs.push(disc);
      }
      for (let c = 0; c < columns; c += 1) {
        board.append(svg("text", {
          x: c * CELL + CELL / 2, y: rows * CELL + 20, "text-anchor": "middle", class: "dsr-axis", text: c,
        }));
      }
      line = svg("line", { class: "dsr-winline", visibility: "hidden" });
      board.append(line);
      wrap.append(board);
    }

    return {
      update(state) {
        const { rows, columns } = state;
        if (`${rows}x${columns}` !== shape) {
          shape = `${rows}x${columns}`;
          build(rows, columns);
        }
        const cells = state.board || [];
        const moves = state.moves || [];
        // The last disc is the top one of the last move's column.
        let last = -1;
        if (moves.length) {
          const col = moves.at(-1);
          for (let r = 0; r < rows; r += 1) {
            if (cells[r * columns + col]) {
              last = r * columns + col;
              break;
            }
          }
        }
        let counts = [0, 0];
        for (let i = 0; i < discs.length; i += 1) {
          const mark = cells[i] || 0;
          if (mark) counts[mark - 1] += 1;
          const cls = `dsr-disc${mark ? ` dsr-p${mark - 1}` : ""}${i === last ? " dsr-last" : ""}`;
          if (discs[i].getAttribute("class") !== cls) discs[i].setAttribute("class", cls);
          discs[i].dataset.mark = String(mark);
        }
        const mark = state.result === "win" && state.winner ? Number(String(state.winner).replace("player_", "")) + 1 : 0;
        const win = mark ? winningLine(cells, rows, columns, state.inarow, mark, last) : null;
        for (let i = 0; i < discs.length; i += 1) {
          if (win && win.includes(i)) discs[i].classList.add("dsr-win");
          else discs[i].classList.remove("dsr-win");
        }
        if (win) {
          const centre = (i) => [(i % columns) * CELL + CELL / 2, Math.floor(i / columns) * CELL + CELL / 2];
          const [x1, y1] = centre(win[0]);
          const [x2, y2] = centre(win[win.length - 1]);
          for (const [k, v] of Object.entries({ x1, y1, x2, y2 })) line.setAttribute(k, v);
          line.setAttribute("visibility", "visible");
          board.dataset.winLine = win.join(",");
        } else {
          line.setAttribute("visibility", "hidden");
          delete board.dataset.winLine;
        }
        legend.update();
        const [text, tone] = boardResult(state, ctx);
        status.set(text, tone);
        setText(info, `${rows}\u00d7${columns}, ${state.inarow} in a row; ${moves.length} discs played` +
          (moves.length ? `, last in column ${moves.at(-1)}` : ""));
        setText(title, `Connect Four board ${rows} by ${columns}: ${counts[0]} discs of player_0, ${counts[1]} of player_1. ${text}.` +
          (win ? ` Winning line: cells ${win.join(", ")}.` : ""));
      },
      destroy() {},
    };
  },
};
