// Timelines: the sequence of states a player shows, with the step record that led to
// each. Index 0 of a replay is the state after reset; index k the state after step k.
//
// ReplayTimeline rebuilds states exactly as devspark.arena.replay.Replay.states() and
// _patch do, lazily: full states are cached at checkpoints (every CHECKPOINT_EVERY
// steps) as the timeline is walked, so once warmed a jump to any step applies at most
// CHECKPOINT_EVERY - 1 deltas. States are shallow (unchanged values are shared with the
// previous state, as in the Python), so they must be treated as read-only.

export const CHECKPOINT_EVERY = 100;

/**
 * Apply one delta record to `state` (a new object; `state` is unchanged).
 * Mirrors devspark.arena.replay._patch.
 */
export function applyRecord(state, record) {
  if (Object.prototype.hasOwnProperty.call(record, "state")) return record.state;
  const next = Object.assign({}, state, record.delta || {});
  const patch = record.patch || {};
  for (const key of Object.keys(patch)) {
    const value = Array.from(next[key]);
    const items = patch[key];
    for (const index of Object.keys(items)) value[Number.parseInt(index, 10)] = items[index];
    next[key] = value;
  }
  for (const key of record.removed || []) delete next[key];
  return next;
}

/** Check the parts of a replay document the player relies on; throw a named error. */
export function checkReplay(doc) {
  if (!doc || typeof doc !== "object") throw new Error("the replay is not a JSON object");
  if (doc.format !== "devspark-replay") {
    throw new Error(`not a DevSpark replay: format is ${JSON.stringify(doc.format)}`);
  }
  if (doc.version !== 1) {
    throw new Error(`replay format version ${JSON.stringify(doc.version)} is not supported (expected 1)`);
  }
  if (!doc.scenario || typeof doc.scenario.id !== "string") {
    throw new Error("the replay has no scenario id");
  }
  if (!Array.isArray(doc.steps)) throw new Error("the replay has no steps list");
  if (!Array.isArray(doc.agents)) throw new Error("the replay has no agents list");
  doc.steps.forEach((record, index) => {
    if (!record || typeof record !== "object" || !Array.isArray(record.moves)) {
      throw new Error(`steps[${index}] has no moves list`);
    }
    if (!("state" in record) && !("delta" in record)) {
      throw new Error(`steps[${index}] has neither a state nor a delta`);
    }
  });
}

/** A recorded replay: fixed length, states rebuilt lazily from checkpoints. */
export class ReplayTimeline {
  constructor(doc, { every = CHECKPOINT_EVERY } = {}) {
    this.initial = doc.initial;
    this.records = doc.steps;
    this.every = every;
    this.live = false;
    this.checkpoints = [this.initial]; // index c holds the state at step c * every
    this.last = { index: 0, state: this.initial };
    this.patches = 0; // deltas applied so far (for tests and the debug readout)
  }

  get length() {
    return this.records.length + 1;
  }

  /** The step record that produced state `index` (null for the initial state). */
  recordAt(index) {
    return index > 0 ? this.records[index - 1] : null;
  }

  /** A label for state `index`. */
  label(index) {
    return index === 0 ? "start" : `step ${index}`;
  }

  /** The full state after step `index`. */
  stateAt(index) {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(`step ${index} is out of range 0..${this.length - 1}`);
    }
    if (this.last.index === index) return this.last.state;
    let from = Math.min(Math.floor(index / this.every), this.checkpoints.length - 1);
    let start = from * this.every;
    let state = this.checkpoints[from];
    if (this.last.index > start && this.last.index < index) {
      start = this.last.index;
      state = this.last.state;
    }
    state = this.walk(start, state, index);
    this.last = { index, state };
    return state;
  }

  /** Walk from `state` at `start` to `end`, caching checkpoints on the way. */
  walk(start, state, end) {
    for (let i = start + 1; i <= end; i += 1) {
      state = applyRecord(state, this.records[i - 1]);
      this.patches += 1;
      if (i % this.every === 0 && this.checkpoints.length === i / this.every) {
        this.checkpoints.push(state);
      }
    }
    return state;
  }

  /**
   * Call `fn(state, index)` for every state from `from` to the end, in order, without
   * disturbing the random-access cache (used for whole-match charts).
   */
  forEach(from, fn) {
    let state = this.stateAt(from);
    fn(state, from);
    for (let i = from + 1; i < this.length; i += 1) {
      state = applyRecord(state, this.records[i - 1]);
      if (i % this.every === 0 && this.checkpoints.length === i / this.every) {
        this.checkpoints.push(state);
      }
      fn(state, i);
    }
  }

  /**
   * Fill the checkpoint cache in slices of `chunk` steps between frames, so the first
   * jump far ahead costs no more than a later one. Returns a function that stops it.
   */
  warm({ chunk = 2000 } = {}) {
    let stopped = false;
    const work = () => {
      if (stopped) return;
      const have = (this.checkpoints.length - 1) * this.every;
      if (have + this.every >= this.length) return;
      const end = Math.min(this.length - 1, have + chunk);
      this.walk(have, this.checkpoints[this.checkpoints.length - 1], end);
      setTimeout(work, 0);
    };
    setTimeout(work, 0);
    return () => {
      stopped = true;
    };
  }
}

/**
 * A live match: step events are appended as they arrive, each with its full state
 * (the server sends the state after reset as step -1 first, when someone watches).
 */
export class LiveTimeline {
  constructor() {
    this.events = [];
    this.live = true;
  }

  get length() {
    return this.events.length;
  }

  push(event) {
    this.events.push(event);
  }

  /** The step event of `index`; null for the state after reset (server step -1). */
  recordAt(index) {
    const event = this.events[index];
    return event && event.step !== -1 ? event : null;
  }

  /** Server steps count from 0 (-1 is the state after reset); labels count applied steps, as replays do. */
  label(index) {
    const event = this.events[index];
    if (!event || typeof event.step !== "number") return `event ${index + 1}`;
    return event.step < 0 ? "start" : `step ${event.step + 1}`;
  }

  stateAt(index) {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(`step ${index} is out of range 0..${this.length - 1}`);
    }
    return this.events[index].state;
  }

  forEach(from, fn) {
    for (let i = from; i < this.length; i += 1) fn(this.events[i].state, i);
  }
}
