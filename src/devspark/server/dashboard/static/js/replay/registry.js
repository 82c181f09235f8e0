// Renderer registry: one renderer per built-in scenario, a JSON view for the rest.
import tictactoe from "./render/tictactoe.js";
import connectFour from "./render/connect_four.js";
import maze from "./render/maze.js";
import foraging from "./render/foraging.js";
import prisonersDilemma from "./render/prisoners_dilemma.js";
import puzzles from "./render/puzzles.js";
import generic from "./render/generic.js";

/** Renderers by scenario id (without the "-vN" suffix). */
export const RENDERERS = Object.freeze({
  tictactoe,
  connect_four: connectFour,
  maze,
  foraging,
  prisoners_dilemma: prisonersDilemma,
  puzzles,
});

/** Strip a version suffix: "connect_four-v1" -> "connect_four". */
export function baseScenarioId(id) {
  return String(id || "").replace(/-v\d+$/, "");
}

/** Guess the scenario from a render_state() value (live events name no scenario). */
export function guessScenario(state) {
  if (!state || typeof state !== "object" || Array.isArray(state)) return "";
  const has = (...keys) => keys.every((k) => k in state);
  if (has("board", "rows", "columns", "inarow")) return "connect_four";
  if (has("board", "to_move") && Array.isArray(state.board) && state.board.length === 9) return "tictactoe";
  if (has("grid", "position", "goal", "step_limit")) return "maze";
  if (has("size", "agents", "food", "signals")) return "foraging";
  if (has("round", "horizon", "executed", "cooperations")) return "prisoners_dilemma";
  if (has("kind", "prompt", "attempts", "attempts_left")) return "puzzles";
  return "";
}

/** The renderer for `scenarioId`, else one guessed from `state`, else the JSON view. */
export function rendererFor(scenarioId, state) {
  const id = baseScenarioId(scenarioId);
  if (Object.prototype.hasOwnProperty.call(RENDERERS, id)) return RENDERERS[id];
  if (!scenarioId) {
    const guessed = guessScenario(state);
    if (guessed) return RENDERERS[guessed];
  }
  return generic;
}
