// The player core shared by recorded replays and live matches: the board drawn by the
// scenario's renderer, the transport controls (real buttons and labelled inputs), the
// keyboard map, the play loop, the step panels and the error list.
import { el, svg, setText, ensureStylesheet } from "./dom.js";
import { movesPanel, agentsPanel } from "./panels.js";

/** Playback speeds in steps per second; the last one is the "max" speed. */
export const SPEEDS = [1, 2, 5, 10, 30, 100, 1000];
const DEFAULT_SPEED = 5;

let uid = 0;

// Transport icons as SVG paths (font glyphs such as U+23EE are missing on many systems).
const ICONS = {
  first: "M3 2h2v12H3zM14 2v12L6 8z",
  back: "M13 2v12L4 8z",
  play: "M4 2v12l9-6z",
  pause: "M3 2h3.5v12H3zM9.5 2H13v12H9.5z",
  forward: "M3 2v12l9-6z",
  last: "M11 2h2v12h-2zM2 2v12l8-6z",
};

function icon(name) {
  return svg("svg", { class: "dsr-icon", viewBox: "0 0 16 16", "aria-hidden": "true", focusable: "false" },
    svg("path", { d: ICONS[name] }));
}

export class PlayerView {
  /**
   * @param {HTMLElement} root where the player is drawn (its children are owned)
   * @param {object} options
   * @param {object} options.timeline ReplayTimeline or LiveTimeline
   * @param {object} options.ledger Ledger aligned with the timeline
   * @param {(role: string) => string} options.nameOf display name of a role
   * @param {() => object} options.renderer returns the renderer (chosen on first state)
   * @param {object} options.ctx passed to the renderer's mount
   * @param {boolean} [options.live]
   */
  constructor(root, { timeline, ledger, nameOf, renderer, ctx, live = false }) {
    this.root = root;
    this.timeline = timeline;
    this.ledger = ledger;
    this.nameOf = nameOf;
    this.pickRenderer = renderer;
    this.ctx = ctx; // kept as is: live views define `agents` as a getter
    this.ctx.timeline = timeline;
    this.ctx.showError = (e) => this.showError(e);
    this.live = live;
    this.follow = live;
    this.index = 0;
    this.playing = false;
    this.speed = DEFAULT_SPEED;
    this.renders = 0;
    this.frame = 0;
    this.shownErrors = new Set();
    this.id = `dsr-${(uid += 1)}`;
    this.build();
    this.onKey = (event) => this.key(event);
    this.root.addEventListener("keydown", this.onKey);
  }

  build() {
    const id = this.id;
    this.errors = el("ul", { class: "dsr-errors", role: "alert", "aria-live": "assertive" });
    this.notices = el("ul", { class: "dsr-notices", role: "status", "aria-live": "polite" });
    this.board = el("div", { class: "dsr-board", "aria-label": "Board" });
    this.position = el("output", { class: "dsr-position", id: `${id}-pos`, "aria-live": "polite" });
    const button = (action, label, key) =>
      el("button", { type: "button", class: "dsr-btn", "data-action": action, "aria-label": label, title: `${label} (${key})`, onclick: () => this.action(action) }, icon(action));
    this.playLabel = el("span", { text: "Play" });
    this.playIcon = el("span", { class: "dsr-icon-box" }, icon("play"));
    this.playButton = el("button", { type: "button", class: "dsr-btn dsr-play", "data-action": "play", title: "Play or pause (Space)", onclick: () => this.toggle() }, this.playIcon, this.playLabel);
    this.slider = el("input", { type: "range", min: 0, max: 0, value: 0, step: 1, id: `${id}-slider`, class: "dsr-slider", "aria-describedby": `${id}-pos` });
    this.slider.addEventListener("input", () => {
      this.pause();
      this.goTo(Number(this.slider.value), { user: true });
    });
    this.jumpInput = el("input", { type: "number", min: 0, max: 0, value: 0, step: 1, id: `${id}-jump`, class: "dsr-jump", inputmode: "numeric" });
    const jumpForm = el("form", { class: "dsr-jump-form", novalidate: true, onsubmit: (event) => {
      event.preventDefault();
      this.jumpFromInput();
    } }, el("label", { for: `${id}-jump`, text: "Go to step" }), this.jumpInput, el("button", { type: "submit", class: "dsr-btn", text: "Go" }));
    this.speedSelect = el("select", { id: `${id}-speed`, class: "dsr-speed" },
      ...SPEEDS.map((s, i) => el("option", { value: s, selected: s === DEFAULT_SPEED ? true : null, text: i === SPEEDS.length - 1 ? "max" : `${s} steps/s` })));
    this.speedSelect.addEventListener("change", () => {
      this.speed = Number(this.speedSelect.value);
    });
    this.controls = el("div", { class: "dsr-controls", role: "group", "aria-label": "Playback controls" },
      el("div", { class: "dsr-buttons" },
        button("first", "First step", "Home"), button("back", "Step back", "Left arrow"),
        this.playButton, button("forward", "Step forward", "Right arrow"), button("last", "Last step", "End")),
      el("div", { class: "dsr-scrub" }, el("label", { for: `${id}-slider`, text: "Step" }), this.slider, this.position),
      el("div", { class: "dsr-options" }, jumpForm,
        el("span", { class: "dsr-speed-wrap" }, el("label", { for: `${id}-speed`, text: "Speed" }), this.speedSelect)));
    if (this.live) {
      this.followBox = el("input", { type: "checkbox", id: `${id}-follow`, checked: true });
      this.followBox.addEventListener("change", () => {
        this.follow = this.followBox.checked;
        if (this.follow) this.goTo(this.timeline.length - 1);
      });
      this.controls.append(el("span", { class: "dsr-follow" }, this.followBox, el("label", { for: `${id}-follow`, text: "Follow live steps" })));
    }
    this.help = el("p", { class: "dsr-help", text: "Keys: \u2190/\u2192 step, Shift+\u2190/\u2192 or PageUp/PageDown 10 steps, Home/End first/last, Space play/pause." });
    this.moves = movesPanel();
    this.agents = agentsPanel();
    this.empty = el("p", { class: "dsr-muted dsr-waiting", text: "Waiting for the first step\u2026" });
    this.root.append(this.errors, this.notices, el("div", { class: "dsr-main" },
      el("div", { class: "dsr-stage" }, this.board, this.controls, this.help),
      el("div", { class: "dsr-side" }, this.agents.node, this.moves.node)));
    this.root.tabIndex = 0; // so the keys work once the player is clicked
  }

  /** Show an error in the alert list (and the console); never swallowed. */
  showError(error, where = "") {
    const message = `${where ? `${where}: ` : ""}${error && error.message ? error.message : String(error)}`;
    console.error("[replay player]", where, error);
    if (this.shownErrors.has(message)) return;
    this.shownErrors.add(message);
    const item = el("li", { class: "dsr-error" }, el("span", { text: message }));
    item.append(el("button", { type: "button", class: "dsr-btn dsr-dismiss", "aria-label": "Dismiss error", text: "\u00d7", onclick: () => {
      item.remove();
      this.shownErrors.delete(message);
    } }));
    this.errors.append(item);
  }

  /** A notice (not an error), e.g. dropped live events. */
  notice(text, tone = "info") {
    const item = el("li", { class: `dsr-notice dsr-notice-${tone}`, text });
    this.notices.append(item);
    return item;
  }

  action(name) {
    const last = this.timeline.length - 1;
    if (name === "first") this.goTo(0, { user: true });
    else if (name === "back") this.goTo(this.index - 1, { user: true });
    else if (name === "forward") this.goTo(this.index + 1, { user: true });
    else if (name === "last") {
      this.goTo(last, { user: true });
      if (this.live) this.setFollow(true);
    }
    if (name !== "play") this.pause();
  }

  setFollow(on) {
    this.follow = on;
    if (this.followBox) this.followBox.checked = on;
  }

  jumpFromInput() {
    const value = Number(this.jumpInput.value);
    const last = this.timeline.length - 1;
    if (!Number.isInteger(value) || value < 0 || value > last) {
      this.showError(new Error(`step ${this.jumpInput.value} is not between 0 and ${last}`), "Go to step");
      return;
    }
    this.pause();
    this.goTo(value, { user: true });
  }

  key(event) {
    const target = event.target;
    const tag = target && target.tagName;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (tag === "SELECT" || tag === "TEXTAREA" || (tag === "INPUT" && target.type !== "range" && target.type !== "checkbox")) return;
    const onRange = tag === "INPUT" && target.type === "range";
    const onButton = tag === "BUTTON" || tag === "SUMMARY" || (tag === "INPUT" && target.type === "checkbox");
    const jump = event.shiftKey ? 10 : 1;
    let handled = true;
    switch (event.key) {
      case "ArrowRight":
        if (onRange) return; // the slider moves itself and fires `input`
        this.pause();
        this.goTo(this.index + jump, { user: true });
        break;
      case "ArrowLeft":
        if (onRange) return;
        this.pause();
        this.goTo(this.index - jump, { user: true });
        break;
      case "PageDown":
        if (onRange) return;
        this.pause();
        this.goTo(this.index + 10, { user: true });
        break;
      case "PageUp":
        if (onRange) return;
        this.pause();
        this.goTo(this.index - 10, { user: true });
        break;
      case "Home":
        if (onRange) return;
        this.action("first");
        break;
      case "End":
        if (onRange) return;
        this.action("last");
        break;
      case " ":
      case "Spacebar":
      case "k":
        if (onButton && event.key !== "k") return; // Space activates the focused button
        this.toggle();
        break;
      default:
        handled = false;
    }
    if (handled) event.preventDefault();
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  play() {
    if (this.playing || this.timeline.length === 0) return;
    if (this.index >= this.timeline.length - 1 && !this.live) this.goTo(0);
    this.playing = true;
    setText(this.playLabel, "Pause");
    this.playIcon.replaceChildren(icon("pause"));
    this.position.setAttribute("aria-live", "off");
    let previous = performance.now();
    let budget = 0;
    const tick = (now) => {
      if (!this.playing) return;
      budget += ((now - previous) / 1000) * this.speed;
      previous = now;
      const steps = Math.floor(budget);
      if (steps > 0) {
        budget -= steps;
        const last = this.timeline.length - 1;
        const next = Math.min(last, this.index + steps);
        if (next !== this.index) this.goTo(next);
        if (next >= last) {
          if (this.live) this.setFollow(true);
          this.pause();
          return;
        }
      }
      this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
    this.root.dataset.playing = "true";
  }

  pause() {
    if (!this.playing) return;
    this.playing = false;
    cancelAnimationFrame(this.frame);
    setText(this.playLabel, "Play");
    this.playIcon.replaceChildren(icon("play"));
    this.position.setAttribute("aria-live", "polite");
    this.root.dataset.playing = "false";
  }

  /** Show state `index` (clamped); synchronous, so its cost can be measured. */
  goTo(index, { user = false } = {}) {
    const last = this.timeline.length - 1;
    if (last < 0) return;
    const target = Math.max(0, Math.min(last, Math.round(index)));
    if (user && this.live && target < last) this.setFollow(false);
    this.index = target;
    this.render();
  }

  /** The timeline grew (a live step arrived). */
  grew() {
    const last = this.timeline.length - 1;
    if (this.follow && !this.playing) this.goTo(last);
    else this.updateControls();
  }

  updateControls() {
    const last = Math.max(0, this.timeline.length - 1);
    if (this.slider.max !== String(last)) {
      this.slider.max = String(last);
      this.jumpInput.max = String(last);
    }
    if (this.slider.value !== String(this.index)) this.slider.value = String(this.index);
    if (document.activeElement !== this.jumpInput) this.jumpInput.value = String(this.index);
    const total = this.live ? `${this.timeline.length} received` : `${last}`;
    setText(this.position, `${this.timeline.label(this.index)} of ${total}`);
    this.slider.setAttribute("aria-valuetext", `${this.timeline.label(this.index)} of ${total}`);
    this.root.dataset.index = String(this.index);
    this.root.dataset.length = String(this.timeline.length);
  }

  render() {
    if (this.timeline.length === 0) return;
    this.empty.remove();
    const index = this.index;
    this.updateControls();
    let state;
    try {
      state = this.timeline.stateAt(index);
    } catch (error) {
      this.pause();
      this.showError(error, `rebuilding the state of ${this.timeline.label(index)}`);
      return;
    }
    try {
      if (!this.renderer) {
        const renderer = this.pickRenderer(state);
        this.rendererId = renderer.id;
        this.root.dataset.renderer = renderer.id;
        this.renderer = renderer.mount(this.board, this.ctx);
      }
      this.renderer.update(state, index);
    } catch (error) {
      this.pause();
      this.showError(error, `drawing ${this.timeline.label(index)}`);
    }
    try {
      this.moves.update(this.timeline.recordAt(index), this.timeline.label(index), this.nameOf);
      this.agents.update(this.ledger.at(index), this.nameOf);
    } catch (error) {
      this.pause();
      this.showError(error, `listing the moves of ${this.timeline.label(index)}`);
    }
    this.renders += 1;
    this.root.dataset.renders = String(this.renders);
  }

  waiting() {
    this.board.append(this.empty);
  }

  destroy() {
    this.pause();
    this.root.removeEventListener("keydown", this.onKey);
    try {
      if (this.renderer && this.renderer.destroy) this.renderer.destroy();
    } finally {
      this.root.replaceChildren();
    }
  }
}

/** Display names: "player_0 (random)" from the replay's agents list. */
export function nameFunction(agents) {
  const names = new Map();
  for (const agent of agents) {
    if (agent && agent.role) names.set(agent.role, agent.name || agent.ref || "");
  }
  return (role) => (names.get(role) ? `${role} (${names.get(role)})` : String(role));
}

/** Add the player's section to `container` (and its stylesheet to the page, once). */
export function shell(container) {
  if (!(container instanceof HTMLElement)) throw new TypeError("the replay player needs a container element");
  ensureStylesheet();
  const section = el("section", { class: "dsr-player" });
  container.append(section);
  return section;
}
