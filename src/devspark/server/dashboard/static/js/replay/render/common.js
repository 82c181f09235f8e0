// Helpers shared by the scenario renderers.
import { el, setText } from "../dom.js";

/** Display name of a role: "player_0 (random)" when the replay names the agent. */
export function roleName(ctx, role) {
  const agent = (ctx.agents || []).find((a) => a.role === role);
  return agent && agent.name ? `${role} (${agent.name})` : String(role);
}

/**
 * A legend of the players' colours: one item per seat, its swatch (a mark or a disc in
 * the seat's colour) and the agent's name. `update()` refreshes the names (a live view
 * learns them from `match_started`).
 * @param {object} ctx the renderer's context (its `agents` name the seats)
 * @param {Array<{role: string, swatch: () => Node}>} seats
 */
export function playerLegend(ctx, seats) {
  const items = seats.map(({ role, swatch }) => {
    const name = el("span", { class: "dsr-legend-name", text: roleName(ctx, role) });
    return { role, name, node: el("li", { "data-role": role }, swatch(), name) };
  });
  const node = el("ul", { class: "dsr-legend dsr-players", "aria-label": "Players" }, ...items.map((i) => i.node));
  return {
    node,
    update() {
      for (const item of items) setText(item.name, roleName(ctx, item.role));
    },
  };
}

/** A status line element with a `set(text, tone)` helper; tone: "", "good", "bad". */
export function statusLine(className = "dsr-board-status") {
  const node = el("p", { class: className });
  return {
    node,
    set(text, tone = "") {
      setText(node, text);
      node.dataset.tone = tone;
    },
  };
}

/** Text for a two-player board game's result (tictactoe, connect_four). */
export function boardResult(state, ctx) {
  switch (state.result) {
    case "ongoing":
      return [state.to_move ? `${roleName(ctx, state.to_move)} to move` : "ongoing", ""];
    case "win":
      return [`${roleName(ctx, state.winner)} wins`, "good"];
    case "draw":
      return ["draw", ""];
    case "forfeit": {
      const f = state.forfeit || {};
      return [`forfeit: ${roleName(ctx, f.agent)} ${f.status || ""}`.trim(), "bad"];
    }
    default:
      return [String(state.result), ""];
  }
}

/** Watch an element's width; calls `fn(width)` on change. Returns a disconnect function. */
export function watchWidth(node, fn) {
  if (typeof ResizeObserver === "undefined") return () => {};
  let last = -1;
  const observer = new ResizeObserver((entries) => {
    const width = Math.round(entries[0].contentRect.width);
    if (width !== last) {
      last = width;
      fn(width);
    }
  });
  observer.observe(node);
  return () => observer.disconnect();
}
