// Writes request lines without end on fd 1 and never reads the responses.
import { writeSync } from "node:fs";

const LINE = '{"type":"request","id":"r","to":"svc.echo","payload":"spam","timeout_ms":60000}\n';
const BLOCK = LINE.repeat(256);

export function handle(task, context) {
  if (task.payload === "behave") return "fine";
  for (;;) {
    try {
      writeSync(1, BLOCK);
    } catch {
      // EAGAIN on a full pipe: keep pushing
    }
  }
}
