// Small DOM helpers for the replay player. No innerHTML with data: text goes through
// textContent, so agent logs and actions can never inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * Create an HTML element.
 * @param {string} tag
 * @param {Record<string, any>} [attrs] attributes; `class`, `text` and `on<event>` are special
 * @param {...(Node|string|null|undefined|false)} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/**
 * Create an SVG element (attributes are set as SVG attributes).
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node|string|null|undefined|false)} children
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.setAttribute("class", value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** Remove every child of `node`. */
export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
}

/** Set `node.textContent` only when it changed (cheap re-renders while playing). */
export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

/** A compact one-line rendering of any JSON value (actions, answers). */
export function short(value, max = 120) {
  let text;
  if (typeof value === "string") text = value;
  else {
    try {
      text = JSON.stringify(value);
    } catch (error) {
      text = String(value);
    }
  }
  if (text === undefined) text = String(value);
  return text.length > max ? `${text.slice(0, max - 1)}\u2026` : text;
}

/** Format a number for display: integers as is, others with up to `digits` decimals. */
export function num(value, digits = 3) {
  if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(digits).replace(/0+$/, "").replace(/\.$/, "");
}

let stylesheetAdded = false;

/** Add replay.css to `document.head` once (the page's CSP allows 'self' styles). */
export function ensureStylesheet() {
  if (stylesheetAdded || document.querySelector("link[data-devspark-replay-css]")) {
    stylesheetAdded = true;
    return;
  }
  const href = new URL("./replay.css", import.meta.url).pathname;
  document.head.append(el("link", { rel: "stylesheet", href, "data-devspark-replay-css": true }));
  stylesheetAdded = true;
}

/**
 * Size a canvas to its CSS box times the device pixel ratio.
 * @returns {{ctx: CanvasRenderingContext2D, width: number, height: number}} CSS-pixel size
 */
export function fitCanvas(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(width));
  const h = Math.max(1, Math.round(height));
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, width: w, height: h };
}

/** Read a CSS custom property of `node` (colours for canvas drawing). */
export function cssVar(node, name, fallback) {
  const value = getComputedStyle(node).getPropertyValue(name).trim();
  return value || fallback;
}

/** Statuses that are a fault of the agent (see devspark.core.results.AgentStatus). */
export function isFault(status) {
  return Boolean(status) && status !== "ok";
}
