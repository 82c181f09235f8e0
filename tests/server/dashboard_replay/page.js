// The test page's script: mounts the player under test and exposes helpers as window.api.
import { mountReplayPlayer, mountLiveMatch } from "/static/js/replay/player.js";

const host = document.getElementById("host");
const api = {
  handle: null,
  docs: new Map(),
  async fetchDoc(name) {
    const response = await fetch(`/replays/${name}.json`);
    if (!response.ok) throw new Error(`GET ${name}: ${response.status}`);
    return await response.text();
  },
  unmount() {
    if (this.handle) this.handle.destroy();
    this.handle = null;
  },
  // Mount a replay; returns the time from JSON text to the first painted frame.
  async mount(name) {
    this.unmount();
    const text = await this.fetchDoc(name);
    const started = performance.now();
    const doc = JSON.parse(text);
    this.handle = mountReplayPlayer(host, doc);
    const mounted = performance.now();
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    return { parse_and_mount_ms: mounted - started, first_frame_ms: performance.now() - started };
  },
  mountDoc(doc) {
    this.unmount();
    this.handle = mountReplayPlayer(host, doc);
  },
  state(index) {
    return this.handle.view.timeline.stateAt(index);
  },
  // Time each jump (render plus a forced layout).
  jumps(indices) {
    const timeline = this.handle.view.timeline;
    const times = [];
    const patches = [];
    for (const index of indices) {
      const before = timeline.patches;
      const started = performance.now();
      this.handle.goTo(index);
      void document.body.offsetHeight;
      times.push(performance.now() - started);
      patches.push(timeline.patches - before);
    }
    return { times, patches, every: timeline.every };
  },
  // Play from step 0 at max speed until `steps` steps are shown.
  async play(steps) {
    const view = this.handle.view;
    view.goTo(0);
    const select = host.querySelector(".dsr-speed");
    select.value = select.options[select.options.length - 1].value;
    select.dispatchEvent(new Event("change"));
    const renders = view.renders;
    const started = performance.now();
    view.play();
    await new Promise((resolve) => {
      const check = () => (view.index >= steps ? resolve() : requestAnimationFrame(check));
      requestAnimationFrame(check);
    });
    const elapsed = performance.now() - started;
    view.pause();
    return { ms: elapsed, frames: view.renders - renders, index: view.index };
  },
  // Render `count` consecutive steps one by one (each drawn), timing the whole.
  stepThrough(from, count) {
    const view = this.handle.view;
    view.goTo(from);
    const started = performance.now();
    for (let i = 1; i <= count; i += 1) view.goTo(from + i);
    void document.body.offsetHeight;
    return performance.now() - started;
  },
  // Live view with a stub socket driven by the test.
  mountLive(matchId, options) {
    this.unmount();
    const socket = {
      readyState: 0,
      sent: [],
      closed: false,
      listeners: {},
      send(data) {
        if (this.readyState !== 1) throw new Error("InvalidStateError: still connecting");
        this.sent.push(JSON.parse(data));
      },
      close() {
        this.closed = true;
      },
      addEventListener(type, fn) {
        (this.listeners[type] ||= []).push(fn);
      },
      fire(type, event) {
        for (const fn of this.listeners[type] || []) fn(event);
      },
      open() {
        this.readyState = 1;
        this.fire("open", {});
      },
      message(obj) {
        this.fire("message", { data: typeof obj === "string" ? obj : JSON.stringify(obj) });
      },
    };
    this.socket = socket;
    this.handle = mountLiveMatch(host, matchId, () => socket, options);
    return true;
  },
};
window.api = api;
window.apiReady = true;
