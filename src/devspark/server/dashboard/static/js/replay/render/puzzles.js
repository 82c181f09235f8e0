// Puzzles: the puzzle (make24 numbers and target, sequence terms, Latin square grid),
// then each attempt as a step with its verdict, the result and (on request) a solution.
import { el, setText, clear, short } from "../dom.js";
import { statusLine } from "./common.js";

function grid(rows, cls = "dsr-latin") {
  const table = el("table", { class: cls });
  for (const row of rows) {
    table.append(el("tr", {}, ...row.map((v) => el("td", { class: v ? "" : "dsr-blank", text: v ? v : "\u00b7" }))));
  }
  return table;
}

function parseGrid(answer, n) {
  let values = answer;
  if (typeof answer === "string") {
    const digits = answer.match(/-?\d+/g);
    if (!digits) return null;
    values = digits.map(Number);
  }
  if (!Array.isArray(values)) return null;
  const flat = values.flat();
  if (flat.length !== n * n) return null;
  return Array.from({ length: n }, (_, r) => flat.slice(r * n, r * n + n));
}

function puzzleView(state) {
  const data = state.data || {};
  if (state.kind === "make24") {
    return el("div", { class: "dsr-puzzle-data" },
      el("ul", { class: "dsr-chips", "aria-label": "Numbers" }, ...(data.numbers || []).map((n) => el("li", { text: n }))),
      el("p", { class: "dsr-target" }, "target ", el("strong", { text: data.target })));
  }
  if (state.kind === "sequence") {
    return el("ol", { class: "dsr-chips", "aria-label": "Terms" },
      ...(data.terms || []).map((t) => el("li", { text: t })), el("li", { class: "dsr-unknown", text: "?" }));
  }
  if (state.kind === "latin") return grid(data.grid || []);
  return el("pre", { class: "dsr-json", text: JSON.stringify(data, null, 2) });
}

export default {
  id: "puzzles",
  mount(root, ctx) {
    const head = el("p", { class: "dsr-puzzle-kind" });
    const prompt = el("p", { class: "dsr-prompt", "data-board": "puzzles" });
    const dataBox = el("div", { class: "dsr-puzzle-box" });
    const attempts = el("ol", { class: "dsr-attempts", "aria-label": "Attempts" });
    const status = statusLine();
    const solution = el("details", { class: "dsr-solution" }, el("summary", { text: "Show a solution" }));
    const solutionBody = el("div");
    solution.append(solutionBody);
    root.append(head, prompt, dataBox, el("h4", { text: "Attempts" }), attempts, status.node, solution);
    let puzzleKey = "";

    return {
      update(state) {
        const key = JSON.stringify([state.kind, state.prompt]);
        if (key !== puzzleKey) {
          puzzleKey = key;
          setText(head, `${state.kind}, difficulty ${state.difficulty}`);
          setText(prompt, state.prompt || "");
          dataBox.replaceChildren(puzzleView(state));
          const sol = state.solution;
          solutionBody.replaceChildren(
            state.kind === "latin" && Array.isArray(sol) ? grid(sol) : el("code", { text: short(sol, 400) }));
        }
        clear(attempts);
        const n = (state.data || {}).size;
        (state.attempts || []).forEach((attempt, i) => {
          const verdict = attempt.verdict;
          const item = el("li", { class: `dsr-attempt dsr-verdict-${verdict}`, "data-verdict": verdict },
            el("span", { class: "dsr-attempt-no", text: `attempt ${i + 1}` }), " ",
            el("code", { text: short(attempt.answer, 300) }), " \u2192 ",
            el("strong", { text: verdict }));
          const answerGrid = state.kind === "latin" ? parseGrid(attempt.answer, n) : null;
          if (answerGrid) item.append(grid(answerGrid, "dsr-latin dsr-latin-small"));
          attempts.append(item);
        });
        if (!(state.attempts || []).length) attempts.append(el("li", { class: "dsr-muted", text: "no attempt yet" }));
        let text = `${state.result}, ${state.attempts_left} attempt${state.attempts_left === 1 ? "" : "s"} left`;
        if (state.forfeit) text += `; forfeit: ${state.forfeit.agent} ${state.forfeit.status}`;
        status.set(text, state.result === "solved" ? "good" : state.result === "ongoing" ? "" : "bad");
      },
      destroy() {},
    };
  },
};
