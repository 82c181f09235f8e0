// Writes a malformed JSON line on fd 1, the JS runner's protocol output.
import { writeSync } from "node:fs";

export function act(observation, context) {
  writeSync(1, `{"type": "action", "step": ${context.step}, "action": ]\n`);
  return context.legal_actions[0];
}
