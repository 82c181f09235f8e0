// The echo-js service agent: a task's payload comes back as its result.
// echo.slow does the same after three progress steps ({step: i, of: 3}), each after a
// short pause (payload.pause_ms, default 50 ms), for streaming demos.
const STEPS = 3;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function handle(task, context) {
  const payload = task.payload;
  if (task.type === "echo.slow") {
    const pauseMs = typeof payload?.pause_ms === "number" ? payload.pause_ms : 50;
    for (let step = 1; step <= STEPS; step++) {
      await sleep(Math.min(pauseMs, context.time_left_ms / (STEPS + 1)));
      context.progress({ step, of: STEPS });
    }
  }
  return payload;
}
