// Fallback for scenarios without a renderer (e.g. pettingzoo:...): the state as JSON.
import { el, setText } from "../dom.js";

const MAX_CHARS = 200000;

export default {
  id: "generic",
  mount(root, ctx) {
    const note = el("p", { class: "dsr-muted", text: `No board drawing for scenario ${ctx.scenarioId || "(unknown)"}; showing the state as JSON.` });
    const pre = el("pre", { class: "dsr-json", tabindex: "0", "data-board": "generic", "aria-label": "Scenario state as JSON" });
    root.append(note, pre);
    return {
      update(state) {
        let text = JSON.stringify(state, null, 2);
        if (text === undefined) text = String(state);
        if (text.length > MAX_CHARS) text = `${text.slice(0, MAX_CHARS)}\n\u2026 (${text.length - MAX_CHARS} more characters)`;
        setText(pre, text);
      },
      destroy() {},
    };
  },
};
