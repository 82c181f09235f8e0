// DevSpark wire protocol v1: the JavaScript agent runner.
//
// Runs inside the sandbox on the system node; builtins only, no npm dependencies.
// Usage: node --max-old-space-size=N runner.mjs AGENT_DIR ENTRYPOINT
//
// A behavioural mirror of ../runner.py. The protocol is JSON lines: the host writes
// hello, reset, observe, message, result, task, response and bye; the runner answers
// ready to hello, action to observe and task_result to task and may send log and error
// at any time, publish, request and submit while the agent works and progress while it
// handles a task (a request or submit blocks until its response; lines arriving
// meanwhile wait their turn; see docs/protocol.md). Agent code that prints goes to stderr: console and
// process.stdout are redirected before the agent is imported, and process.stdin
// reads as empty, so agent code cannot corrupt or eat host messages through them.
// Lines are read from fd 0 and written to fd 1 synchronously: a warm move costs a
// few tens of microseconds. The price is that the event loop (timers, I/O
// callbacks) only turns while an async act or hook is being awaited.

import { readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";

export const PROTOCOL_VERSION = 1;
export const MAX_LOG_CHARS = 4096;
// The protocol streams. Node cannot dup(2), so they stay on fds 0 and 1; only the
// runner writes fd 1 and reads fd 0, every agent-facing stream is redirected below.
export const PROTOCOL_IN_FD = 0;
export const PROTOCOL_OUT_FD = 1;
const LIMIT_CODES = new Set(["EFBIG", "ENOSPC", "EMFILE", "ENFILE", "EAGAIN", "EDQUOT"]);
const LIMIT_MESSAGE =
  /^(Invalid (typed )?array length|Invalid string length|Array buffer allocation failed)/;
const NON_ASCII = /[^\x00-\x7e]/; // what Python's json (ensure_ascii) escapes
const NON_ASCII_ALL = /[^\x00-\x7e]/g;

// --- stdio: fd 1 is the protocol's, whatever the agent prints goes to stderr ---------
// The global console looks process.stdout up lazily, so this covers console.dir,
// console.table and friends too; the explicit reassignments are belt and braces.
Object.defineProperty(process, "stdout", {
  configurable: true,
  enumerable: true,
  get: () => process.stderr,
});
let agentStdin = null;
Object.defineProperty(process, "stdin", {
  configurable: true,
  enumerable: true,
  get() {
    // Empty, like the /dev/null the Python runner puts on the agent's fd 0.
    agentStdin ??= new Readable({
      read() {
        this.push(null);
      },
    });
    return agentStdin;
  },
});
console.log = console.info = console.debug = console.warn = console.error;

// --- output -------------------------------------------------------------------------
const pause = new Int32Array(new SharedArrayBuffer(4));

function sleepMs(ms) {
  Atomics.wait(pause, 0, 0, ms);
}

function escapeChar(char) {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

function writeLine(text) {
  // Compact, ASCII-only JSON like Python's encoder, so characters == bytes here.
  let line = NON_ASCII.test(text) ? text.replace(NON_ASCII_ALL, escapeChar) : text;
  line += "\n";
  for (;;) {
    let written;
    try {
      written = writeSync(PROTOCOL_OUT_FD, line);
    } catch (error) {
      if (error?.code === "EAGAIN" || error?.code === "EINTR") {
        sleepMs(1);
        continue;
      }
      throw error;
    }
    if (written >= line.length) return;
    line = line.slice(written);
  }
}

/** Write one protocol message to the host. */
export function send(message) {
  writeLine(JSON.stringify(message));
}

function rejectNonFinite(_key, value) {
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new RangeError(`Out of range float values are not JSON compliant: ${value}`);
  }
  return value;
}

function sendAction(step, action) {
  // Python's encoder has allow_nan=False and turns None into null; JSON.stringify
  // would quietly write NaN as null and drop an undefined action.
  let payload;
  if (action === undefined || action === null) {
    payload = "null";
  } else if (typeof action === "number") {
    payload = JSON.stringify(rejectNonFinite("", action));
  } else if (typeof action === "object") {
    payload = JSON.stringify(action, rejectNonFinite) ?? "null";
  } else {
    payload = JSON.stringify(action) ?? "null";
  }
  writeLine(`{"type":"action","step":${JSON.stringify(step)},"action":${payload}}`);
}

function head(text, count) {
  // The first `count` code points, as Python's str slicing counts them.
  if (text.length <= count) return text;
  return Array.from(text.slice(0, 2 * count))
    .slice(0, count)
    .join("");
}

function tail(text, count) {
  if (text.length <= count) return text;
  return Array.from(text.slice(-2 * count))
    .slice(-count)
    .join("");
}

// --- the seeded generator: CPython's Mersenne Twister, bit for bit -------------------
// context.rng() yields the same floats as Python's random.Random(seed).random() for
// the same integer seed, so a JS agent and its Python twin see the same stream.
const N = 624;
const M = 397;
const mt = new Uint32Array(N);
let mti = N + 1;

function initGenrand(seed) {
  mt[0] = seed >>> 0;
  for (mti = 1; mti < N; mti++) {
    const prev = mt[mti - 1] ^ (mt[mti - 1] >>> 30);
    mt[mti] = (Math.imul(1812433253, prev) + mti) >>> 0;
  }
}

function initByArray(key) {
  initGenrand(19650218);
  let i = 1;
  let j = 0;
  for (let k = Math.max(N, key.length); k > 0; k--) {
    const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
    mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j) >>> 0;
    i++;
    j++;
    if (i >= N) {
      mt[0] = mt[N - 1];
      i = 1;
    }
    if (j >= key.length) j = 0;
  }
  for (let k = N - 1; k > 0; k--) {
    const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
    mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0;
    i++;
    if (i >= N) {
      mt[0] = mt[N - 1];
      i = 1;
    }
  }
  mt[0] = 0x80000000;
  mti = N;
}

function genrandUint32() {
  if (mti >= N) {
    let kk = 0;
    let y;
    for (; kk < N - M; kk++) {
      y = (mt[kk] & 0x80000000) | (mt[kk + 1] & 0x7fffffff);
      mt[kk] = mt[kk + M] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    for (; kk < N - 1; kk++) {
      y = (mt[kk] & 0x80000000) | (mt[kk + 1] & 0x7fffffff);
      mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    y = (mt[N - 1] & 0x80000000) | (mt[0] & 0x7fffffff);
    mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    mti = 0;
  }
  let y = mt[mti++];
  y ^= y >>> 11;
  y ^= (y << 7) & 0x9d2c5680;
  y ^= (y << 15) & 0xefc60000;
  y ^= y >>> 18;
  return y >>> 0;
}

function seedKey(seed) {
  // Python seeds an int from the 32-bit words of abs(seed), least significant first.
  if (seed === null || seed === undefined) {
    return [(Math.random() * 2 ** 32) >>> 0, (Math.random() * 2 ** 32) >>> 0, Date.now() >>> 0];
  }
  if (typeof seed === "boolean") return [seed ? 1 : 0];
  if (typeof seed === "number" && Number.isInteger(seed)) {
    let rest = Math.abs(seed);
    const key = [];
    while (rest > 0) {
      key.push(rest % 2 ** 32);
      rest = Math.floor(rest / 2 ** 32);
    }
    return key.length ? key : [0];
  }
  // Not an integer: deterministic, though not Python's stream (FNV-1a of the text).
  const text = typeof seed === "string" ? seed : JSON.stringify(seed);
  const key = [];
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
    if (i % 4 === 3) key.push(hash);
  }
  key.push(hash, text.length);
  return key;
}

/** Reseed the shared generator (what Python's ``rng.seed(seed)`` does). */
function reseed(seed) {
  initByArray(seedKey(seed));
}

/** A float in [0, 1) with 53 random bits, like Python's ``random.random()``. */
function rng() {
  const a = genrandUint32() >>> 5;
  const b = genrandUint32() >>> 6;
  return (a * 67108864 + b) / 9007199254740992;
}

// --- requests through the host ------------------------------------------------------
/** What context.request and context.submit throw when the host answers ok: false. */
export class RequestError extends Error {}
RequestError.prototype.name = "RequestError";

const kept = []; // decoded host lines that arrived while a request waited
let requestIds = 0;

function encodeValue(value) {
  return JSON.stringify(value === undefined ? null : value, rejectNonFinite) ?? "null";
}

/** Send a request or submit line and block until its response; its payload or a throw. */
function ask(kind, fields, payload) {
  requestIds += 1;
  const id = `${kind[0]}${requestIds}`;
  const prefix = JSON.stringify({ type: kind, id, ...fields }).slice(0, -1);
  writeLine(`${prefix},"payload":${encodeValue(payload)}}`);
  for (;;) {
    const line = nextLine();
    if (line === null) throw new RequestError("the host closed the protocol before answering");
    const message = JSON.parse(line);
    if (message !== null && message.type === "response" && message.id === id) {
      if (message.ok === true) return message.payload ?? null;
      throw new RequestError(String(message.error ?? "refused"));
    }
    kept.push(message);
  }
}

/** The next message from the host (kept ones first), or null at end of input. */
function nextMessage() {
  if (kept.length > 0) return kept.shift();
  const line = nextLine();
  return line === null ? null : JSON.parse(line);
}

// --- the context ----------------------------------------------------------------------
let setDeadline;

/** What an agent sees besides the observation (same names as the Python runner). */
export class Context {
  #deadline = 0;

  static {
    setDeadline = (context, deadline) => {
      context.#deadline = deadline;
    };
  }

  constructor(params, seed) {
    this.params = params;
    this.seed = seed;
    reseed(seed);
    this.rng = rng;
    this.legal_actions = null;
    this.step = -1;
    this.role = "";
    this.scenario = "";
    this.episode = -1;
    this.messages = [];
    this.bus_errors = [];
    this.task_id = null; // the task being handled (service agents)
    Object.seal(this); // Python's Context has __slots__: no new attributes
  }

  /** The class request and submit throw: `error instanceof context.RequestError`. */
  get RequestError() {
    return RequestError;
  }

  /** Milliseconds left for this move, time bank included. */
  get time_left_ms() {
    return Math.max(0, this.#deadline - performance.now());
  }

  /** Send a line to the match log (capped by the host). */
  log(message) {
    send({ type: "log", step: this.step, message: head(String(message), MAX_LOG_CHARS) });
  }

  /**
   * Publish `payload` (any JSON value) on `channel`; the host routes it to subscribers.
   * Throws a RangeError for NaN or infinities, as Python's encoder does.
   */
  publish(channel, payload) {
    const body = JSON.stringify(payload === undefined ? null : payload, rejectNonFinite);
    writeLine(`{"type":"publish","channel":${JSON.stringify(String(channel))},"payload":${body}}`);
  }

  /**
   * Ask `to` (svc.TYPE, sys.memory...) and block until the host answers; returns the
   * answer's payload or throws a RequestError (refused, failed or timed out).
   */
  request(to, payload = null, timeout_ms = 1000) {
    return ask("request", { to: String(to), timeout_ms }, payload);
  }

  /**
   * Submit a sub-task of `task_type` (to one instance, or any) and block until its
   * result; service agents only, while they handle a task. Throws a RequestError.
   */
  submit(task_type, payload = null, to = null, timeout_ms = 10000) {
    return ask("submit", { task_type: String(task_type), to, timeout_ms }, payload);
  }

  /** Report progress on the current task (streamed to its watchers; capped by the host). */
  progress(data) {
    if (this.task_id === null) return;
    writeLine(`{"type":"progress","id":${JSON.stringify(this.task_id)},"data":${encodeValue(data)}}`);
  }
}

// --- the agent --------------------------------------------------------------------------
class ImportError extends Error {}
ImportError.prototype.name = "ImportError";

function isAgent(value) {
  return typeof value?.act === "function" || typeof value?.handle === "function";
}

function isAgentClass(value) {
  return typeof value === "function" && isAgent(value.prototype);
}

async function loadAgent(agentDir, entrypoint) {
  const module = await import(pathToFileURL(join(agentDir, entrypoint)).href);
  if (isAgent(module)) return module;
  let cls = module.Agent;
  if (cls === undefined) {
    const fallback = module.default;
    if (fallback !== null && typeof fallback === "object" && isAgent(fallback)) {
      return fallback; // export default { act } or CommonJS module.exports = { act }
    }
    cls = isAgentClass(fallback) ? fallback : Object.values(module).find(isAgentClass);
  }
  if (cls === undefined) {
    throw new ImportError(
      `${entrypoint} defines neither act(observation, context), handle(task, context) ` +
        "nor an Agent class",
    );
  }
  return new cls();
}

/** Run handle(task, context) and send its task_result. */
async function serveTask(agent, message, context) {
  const id = field(message, "id");
  const prefix = `{"type":"task_result","id":${JSON.stringify(id)}`;
  if (typeof agent?.handle !== "function") {
    writeLine(`${prefix},"ok":false,"error":"agent has no handle()"}`);
    return;
  }
  context.task_id = id;
  setDeadline(context, performance.now() + (message.deadline_ms ?? 0));
  const task = { id, type: message.task_type ?? null, payload: message.payload ?? null };
  let result;
  try {
    result = agent.handle(task, context);
    if (isThenable(result)) result = await result;
  } catch (error) {
    let text;
    try {
      text = tail(describe(error), MAX_LOG_CHARS);
    } catch {
      text = "MemoryError";
    }
    const kind = faultKind(error);
    writeLine(`${prefix},"ok":false,"error":${JSON.stringify(text)},"kind":"${kind}"}`);
    return;
  } finally {
    context.task_id = null;
  }
  let body;
  try {
    body = encodeValue(result);
  } catch (error) {
    const text = head(`the result is not JSON: ${error?.message ?? error}`, MAX_LOG_CHARS);
    writeLine(`${prefix},"ok":false,"error":${JSON.stringify(text)}}`);
    return;
  }
  writeLine(`${prefix},"ok":true,"result":${body}}`);
}

function faultKind(error) {
  if (error instanceof RangeError && LIMIT_MESSAGE.test(error.message)) return "limit_exceeded";
  if (error !== null && typeof error === "object" && LIMIT_CODES.has(error.code)) {
    return "limit_exceeded";
  }
  return "exception";
}

function describe(error, depth = 0) {
  if (error instanceof Error) {
    let text = typeof error.stack === "string" ? error.stack : `${error.name}: ${error.message}`;
    if (error.cause !== undefined && depth < 4) {
      text += `\n\nCaused by: ${describe(error.cause, depth + 1)}`;
    }
    return text;
  }
  try {
    return `Uncaught ${String(error)}`;
  } catch {
    return "Uncaught exception";
  }
}

function report(step, error) {
  try {
    const message = tail(describe(error), MAX_LOG_CHARS);
    send({ type: "error", step, kind: faultKind(error), message });
  } catch {
    send({ type: "error", step, kind: "limit_exceeded", message: "MemoryError" });
  }
}

function isThenable(value) {
  return value !== null && (typeof value === "object" || typeof value === "function")
    && typeof value.then === "function";
}

/** Call an optional hook; returns what it threw (null when it did not throw). */
async function callHook(agent, name, argument, context) {
  const hook = agent?.[name];
  if (typeof hook !== "function") return null;
  try {
    const result = hook.call(agent, argument, context);
    if (isThenable(result)) await result;
    return null;
  } catch (error) {
    return error ?? new Error(String(error));
  }
}

/** A hook outside a move failed: tell the match log, charge no move. */
function logHookError(name, error) {
  const text = String(error?.stack ?? error);
  send({ type: "log", step: -1, message: `${name} raised: ${text}`.slice(-4096) });
}

// --- input ------------------------------------------------------------------------------
let inBuffer = Buffer.allocUnsafe(1 << 16);
let inStart = 0;
let inEnd = 0;
let inScan = 0;

function readChunk() {
  for (;;) {
    try {
      return readSync(PROTOCOL_IN_FD, inBuffer, inEnd, inBuffer.length - inEnd, null);
    } catch (error) {
      if (error?.code === "EAGAIN" || error?.code === "EINTR") {
        sleepMs(1);
        continue;
      }
      if (error?.code === "EOF") return 0;
      throw error;
    }
  }
}

/** The next non-empty line from the host, or null at end of input. */
function nextLine() {
  for (;;) {
    const end = inBuffer.indexOf(10, inScan);
    if (end !== -1 && end < inEnd) {
      const start = inStart;
      inStart = inScan = end + 1;
      if (end > start) return inBuffer.toString("utf8", start, end);
      continue;
    }
    if (inStart === inEnd) {
      inStart = inEnd = 0;
    } else if (inEnd === inBuffer.length) {
      if (inStart > 0) {
        inBuffer.copy(inBuffer, 0, inStart, inEnd);
      } else {
        const bigger = Buffer.allocUnsafe(inBuffer.length * 2);
        inBuffer.copy(bigger, 0, 0, inEnd);
        inBuffer = bigger;
      }
      inEnd -= inStart;
      inStart = 0;
    }
    inScan = inEnd;
    const count = readChunk();
    if (count === 0) return null; // a partial last line is dropped, as in Python
    inEnd += count;
  }
}

// --- the loop ---------------------------------------------------------------------------
// Protocol violations by the host end the runner with status 1, as in Python.
function need(context) {
  if (context === null) throw new Error("AssertionError: reset or observe before hello");
}

function field(message, name) {
  if (!(name in message)) throw new Error(`KeyError: '${name}'`);
  return message[name];
}

/** Serve the protocol until bye or end of input; resolves to the exit status. */
export async function main(argv) {
  const agentDir = argv[0];
  const entrypoint = argv[1];
  let agent = null;
  let context = null;
  let resetError = null; // a reset hook failure is charged to the episode's first move
  for (let message = nextMessage(); message !== null; message = nextMessage()) {
    const kind = message.type;
    if (kind === "observe") {
      need(context);
      const step = field(message, "step");
      context.step = step;
      context.legal_actions = message.legal_actions ?? null;
      const budget = field(message, "deadline_ms") + (message.time_bank_ms ?? 0);
      setDeadline(context, performance.now() + budget);
      context.messages = message.messages ?? [];
      context.bus_errors = message.bus_errors ?? [];
      for (const delivered of context.messages) {
        const error = await callHook(agent, "on_message", delivered, context);
        if (error !== null) logHookError("on_message", error);
      }
      try {
        if (resetError !== null) {
          const error = resetError;
          resetError = null;
          throw error;
        }
        if (!("observation" in message)) throw new Error("KeyError: 'observation'");
        let action = agent.act(message.observation, context);
        if (isThenable(action)) action = await action;
        sendAction(step, action);
      } catch (error) {
        report(step, error); // the agent's own fault, reported
      }
      await undefined; // let microtasks the agent queued run before the next move
    } else if (kind === "task") {
      need(context);
      await serveTask(agent, message, context);
      await undefined;
    } else if (kind === "reset") {
      need(context);
      context.episode = field(message, "episode");
      context.role = field(message, "role");
      context.scenario = field(message, "scenario");
      context.step = -1;
      reseed("seed" in message ? message.seed : context.seed);
      resetError = await callHook(agent, "reset", "config" in message ? message.config : {}, context);
    } else if (kind === "hello") {
      context = new Context(
        "params" in message ? message.params : {},
        "seed" in message ? message.seed : 0,
      );
      try {
        agent = await loadAgent(agentDir, entrypoint);
      } catch (error) {
        report(-1, error);
        return 1;
      }
      send({ type: "ready", protocol: PROTOCOL_VERSION });
    } else if (kind === "message" || kind === "result") {
      const name = kind === "message" ? "on_message" : "on_result";
      const error = await callHook(agent, name, message, context);
      if (error !== null) logHookError(name, error);
    } else if (kind === "bye") {
      return 0;
    }
  }
  return 0;
}

// A rejection nobody handles (fire-and-forget agent code) is logged, not fatal.
process.on("unhandledRejection", (reason) => {
  console.error("unhandled rejection in agent code:", reason);
});

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (error) => {
    console.error(describe(error));
    process.exit(1);
  },
);
