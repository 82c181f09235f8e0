// Interaction graphs drawn as inline SVG: who messaged (or asked) whom, nodes on a circle,
// one curved arrow per (source, target, kind) with its count. Used for a match's messages
// (from its replay) and for the tasks service instances give each other.
//
// Colours come from CSS classes (s0..s5 per edge kind, node-<kind> per node kind), so the
// page's style-src 'self' policy holds; the same data is in a table for screen readers.

import { add, fmtInt, h, s, simpleTable } from './dom.js';

const WIDTH = 760;
const HEIGHT = 440;
const NODE_R = 16;
const NODE_R_NARROW = 26; // a phone draws the graph at half size: numbered nodes, a key below
const LABEL_MAX = 24;
const KIND_CLASSES = 6;

let graphCounter = 0;

function short(text) {
  const value = String(text);
  return value.length > LABEL_MAX ? `${value.slice(0, LABEL_MAX - 1)}…` : value;
}

/** Node centres on a circle (one node in the middle, two side by side); room for labels at the sides. */
function layout(nodes) {
  const cx = WIDTH / 2;
  const cy = HEIGHT / 2;
  const radius = Math.min(WIDTH / 2 - 190, HEIGHT / 2 - 50);
  const at = new Map();
  nodes.forEach((node, i) => {
    if (nodes.length === 1) {
      at.set(node.id, { x: cx, y: cy, cos: 0, sin: 1 });
      return;
    }
    // Start at the left (two nodes sit side by side), go clockwise.
    const angle = Math.PI + (2 * Math.PI * i) / nodes.length;
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    at.set(node.id, { x: cx + radius * cos, y: cy + radius * sin, cos, sin });
  });
  return at;
}

/** The curved arrow from a to b, `bend` px off the straight line (left of its direction). */
function curve(a, b, bend, nodeR) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const length = Math.hypot(dx, dy) || 1;
  const nx = -dy / length;
  const ny = dx / length;
  const control = { x: (a.x + b.x) / 2 + nx * bend, y: (a.y + b.y) / 2 + ny * bend };
  // Leave the node circles: start and end NODE_R (plus the arrowhead) away from the centres.
  const trim = (from, towards, gap) => {
    const ux = towards.x - from.x;
    const uy = towards.y - from.y;
    const norm = Math.hypot(ux, uy) || 1;
    return { x: from.x + (ux / norm) * gap, y: from.y + (uy / norm) * gap };
  };
  const start = trim(a, control, nodeR + 2);
  const end = trim(b, control, nodeR + 4);
  // The count sits before the middle, towards the sender: arrows crossing at the centre
  // (the diagonals of four nodes) keep their counts apart.
  const t = 0.38;
  const mid = {
    x: (1 - t) ** 2 * start.x + 2 * (1 - t) * t * control.x + t ** 2 * end.x,
    y: (1 - t) ** 2 * start.y + 2 * (1 - t) * t * control.y + t ** 2 * end.y,
  };
  return { d: `M${start.x.toFixed(1)},${start.y.toFixed(1)} Q${control.x.toFixed(1)},${control.y.toFixed(1)} ${end.x.toFixed(1)},${end.y.toFixed(1)}`, mid };
}

/** A loop above a node, for what a node sends itself. */
function loop(p, index, nodeR) {
  const size = 26 + 10 * index;
  const x = p.x;
  const y = p.y - nodeR;
  return {
    d: `M${(x - 6).toFixed(1)},${y.toFixed(1)} C${(x - size).toFixed(1)},${(y - size * 1.6).toFixed(1)} ${(x + size).toFixed(1)},${(y - size * 1.6).toFixed(1)} ${(x + 6).toFixed(1)},${(y - 2).toFixed(1)}`,
    mid: { x, y: y - size * 1.2 },
  };
}

/** Stroke width for a count, 1.5 to 6 px on a log scale of the graph's largest count. */
function widthOf(count, most) {
  if (most <= 1) return 2;
  return 1.5 + 4.5 * (Math.log(count) / Math.log(most));
}

/**
 * A graph figure: {nodes: [{id, label, kind}], edges: [{source, target, count, kind}]}.
 * Options: caption (the figure's caption), kindLabel (the table's header for an edge's
 * kind, "Channel" say), empty (the text shown when there is no edge), summary (a line
 * under the caption). Returns a <figure class="graph">.
 */
export function interactionGraph(graph, { caption = 'Who messaged whom', kindLabel = 'Kind', empty = 'No interaction yet.', summary = null } = {}) {
  const nodes = graph.nodes || [];
  const known = new Set(nodes.map((n) => n.id));
  const edges = (graph.edges || []).filter((e) => known.has(e.source) && known.has(e.target) && e.count > 0);
  const figure = h('figure', { class: 'graph' }, h('figcaption', {}, caption), summary ? h('p', { class: 'muted graph-summary' }, summary) : null);
  if (!nodes.length || !edges.length) {
    add(figure, h('p', { class: 'muted graph-empty' }, empty));
    return figure;
  }
  const id = `graph${++graphCounter}`;
  // On a phone the figure is about half its size: labels would be unreadable, so the
  // nodes carry numbers and a key lists them.
  const narrow = window.matchMedia('(max-width: 760px)').matches;
  const nodeR = narrow ? NODE_R_NARROW : NODE_R;
  const at = layout(nodes);
  const labels = new Map(nodes.map((n) => [n.id, n.label || n.id]));
  const kinds = [...new Set(edges.map((e) => String(e.kind ?? '')))].sort();
  const kindClass = (kind) => `s${kinds.indexOf(String(kind ?? '')) % KIND_CLASSES}`;
  const most = Math.max(...edges.map((e) => e.count));

  const markers = kinds.map((kind) => s('marker', {
    id: `${id}-${kindClass(kind)}`, viewBox: '0 0 10 10', refX: '8', refY: '5',
    markerUnits: 'userSpaceOnUse', markerWidth: '11', markerHeight: '11', orient: 'auto-start-reverse',
  }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: ['arrowhead', kindClass(kind)] })));

  // Parallel edges (same pair and direction, other kinds) bend further out.
  const seen = new Map();
  const drawn = edges.map((edge) => {
    const key = `${edge.source}\u0000${edge.target}`;
    const index = seen.get(key) || 0;
    seen.set(key, index + 1);
    const a = at.get(edge.source);
    const b = at.get(edge.target);
    const path = edge.source === edge.target ? loop(a, index, nodeR) : curve(a, b, 22 + 16 * index, nodeR);
    const text = `${labels.get(edge.source)} → ${labels.get(edge.target)}${edge.kind ? ` (${edge.kind})` : ''}: ${fmtInt(edge.count)}`;
    return s('g', { class: 'edge-group' },
      s('title', {}, text),
      s('path', {
        class: ['edge', kindClass(edge.kind)], d: path.d,
        'stroke-width': widthOf(edge.count, most).toFixed(2),
        'marker-end': `url(#${id}-${kindClass(edge.kind)})`,
      }),
      s('text', { class: 'edge-count', x: path.mid.x.toFixed(1), y: path.mid.y.toFixed(1), 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, fmtInt(edge.count)));
  });

  const drawnNodes = nodes.map((node, n) => {
    const p = at.get(node.id);
    const outward = nodeR + 8;
    const anchor = p.cos > 0.3 ? 'start' : p.cos < -0.3 ? 'end' : 'middle';
    const lx = p.x + p.cos * outward;
    const ly = p.y + p.sin * outward + (anchor === 'middle' ? (p.sin >= 0 ? 8 : -4) : 0);
    return s('g', { class: ['node', `node-${String(node.kind || 'other').replace(/[^a-z_]/gi, '')}`], 'data-node': node.id },
      s('title', {}, `${labels.get(node.id)}${node.kind ? ` (${node.kind})` : ''}`),
      s('circle', { cx: p.x.toFixed(1), cy: p.y.toFixed(1), r: nodeR }),
      narrow
        ? s('text', { x: p.x.toFixed(1), y: p.y.toFixed(1), 'text-anchor': 'middle', 'dominant-baseline': 'central', class: 'node-number' }, String(n + 1))
        : s('text', { x: lx.toFixed(1), y: ly.toFixed(1), 'text-anchor': anchor, 'dominant-baseline': 'middle', class: 'node-label' }, short(labels.get(node.id))));
  });

  const total = edges.reduce((sum, e) => sum + e.count, 0);
  const label = `${caption}: ${nodes.length} ${nodes.length === 1 ? 'node' : 'nodes'}, ${edges.length} ${edges.length === 1 ? 'link' : 'links'}, ${fmtInt(total)} in all (the table below lists them).`;
  add(figure,
    s('svg', { class: 'graph-svg', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': label },
      s('defs', {}, markers), s('g', { class: 'edges' }, drawn), s('g', { class: 'nodes' }, drawnNodes)),
    narrow ? h('ol', { class: 'graph-key', 'aria-label': 'Nodes' }, nodes.map((node) => h('li', {}, labels.get(node.id)))) : null,
    kinds.length > 1 || kinds[0] ? h('ul', { class: 'legend', 'aria-label': `${kindLabel}s` },
      kinds.map((kind, i) => h('li', { class: `c${i % KIND_CLASSES}` }, h('span', {}, kind || '—')))) : null,
    h('details', { class: 'graph-table' }, h('summary', {}, 'The links as a table'),
      simpleTable({
        caption: `${caption}, most first`,
        rows: [...edges].sort((x, y) => y.count - x.count),
        columns: [
          { label: 'From', render: (e) => labels.get(e.source) },
          { label: 'To', render: (e) => labels.get(e.target) },
          { label: kindLabel, render: (e) => e.kind || '—' },
          { label: 'Count', render: (e) => fmtInt(e.count), num: true },
        ],
      })));
  return figure;
}

/**
 * The messages of a replay (`devspark-replay`: steps[].messages, steps[].refused) as a
 * graph: a node per seat (its role and agent), an edge sender -> receiver per channel,
 * counting deliveries. Also the totals: published, delivered, unheard (published with no
 * receiver) and refused.
 */
export function replayInteractions(doc) {
  const agents = [...(doc.agents || [])].sort((a, b) => a.seat - b.seat);
  const nodes = agents.map((a) => ({ id: a.role, label: `${a.role} · ${a.name || a.ref}`, kind: 'seat' }));
  const counts = new Map();
  let published = 0;
  let delivered = 0;
  let unheard = 0;
  let refused = 0;
  for (const step of doc.steps || []) {
    for (const message of step.messages || []) {
      published += 1;
      const receivers = message.to || [];
      if (!receivers.length) unheard += 1;
      for (const to of receivers) {
        delivered += 1;
        const key = JSON.stringify([message.sender, to, message.channel]);
        counts.set(key, (counts.get(key) || 0) + 1);
      }
    }
    for (const count of Object.values(step.refused || {})) refused += Number(count) || 0;
  }
  const edges = [...counts].map(([key, count]) => {
    const [source, target, kind] = JSON.parse(key);
    return { source, target, kind, count };
  });
  // A sender or receiver the seat list does not name still gets a node.
  const ids = new Set(nodes.map((n) => n.id));
  for (const e of edges) {
    for (const end of [e.source, e.target]) {
      if (!ids.has(end)) {
        ids.add(end);
        nodes.push({ id: end, label: end, kind: 'seat' });
      }
    }
  }
  return { graph: { nodes, edges }, published, delivered, unheard, refused };
}
