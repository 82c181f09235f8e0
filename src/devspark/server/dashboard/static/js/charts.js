// Charts drawn as inline SVG: rating intervals (error bars) and rating history lines.
// Colours come from CSS classes (s0..s5), so the page's style-src 'self' policy holds.

import { fmtNum, fmtInterval, fmtRating, h, s, simpleTable } from './dom.js';

const SERIES = 6;

/** Round tick values covering [lo, hi], about `count` of them. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => v >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** The common scale of a board's interval bars: every lower and upper bound, padded. */
export function intervalScale(rows) {
  const values = [];
  for (const r of rows) {
    for (const v of [r.lower, r.rating, r.upper]) if (typeof v === 'number' && Number.isFinite(v)) values.push(v);
  }
  if (!values.length) return { min: 0, max: 1 };
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (max === min) {
    min -= 1;
    max += 1;
  }
  const pad = (max - min) * 0.04;
  return { min: min - pad, max: max + pad };
}

/** One row's rating with its 95% interval, as an error bar on the board's scale. */
export function intervalBar(row, scale) {
  const width = 200;
  const x = (v) => ((v - scale.min) / (scale.max - scale.min)) * width;
  const hasInterval = typeof row.lower === 'number' && typeof row.upper === 'number';
  const label = hasInterval
    ? `${row.agent}: rating ${fmtRating(row.rating)}, 95% interval ${fmtRating(row.lower)} to ${fmtRating(row.upper)}`
    : `${row.agent}: rating ${fmtRating(row.rating)}, no interval`;
  return s('svg', { class: 'ci', viewBox: `0 0 ${width} 18`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label },
    s('title', {}, label),
    s('line', { class: 'track', x1: 0, x2: width, y1: 9, y2: 9 }),
    hasInterval ? [
      s('line', { class: 'whisker', x1: x(row.lower), x2: x(row.upper), y1: 9, y2: 9 }),
      s('line', { class: 'whisker', x1: x(row.lower), x2: x(row.lower), y1: 3, y2: 15 }),
      s('line', { class: 'whisker', x1: x(row.upper), x2: x(row.upper), y1: 3, y2: 15 }),
    ] : null,
    s('circle', { class: 'point', cx: x(row.rating), cy: 9, r: 4.5 }));
}

/**
 * Rating history: one line per series with its +-2 sigma band.
 * series: [{name, points: [{x, y, lo, hi}]}]. Returns a <figure> with a legend and the
 * numbers in a collapsed table (for screen readers and keyboard users).
 */
export function historyChart(series, { title = 'Rating history', xLabel = 'match', yLabel = 'skill μ' } = {}) {
  const W = 720;
  const H = 300;
  const m = { left: 56, right: 16, top: 14, bottom: 40 };
  const all = series.flatMap((ser) => ser.points);
  if (!all.length) return h('p', { class: 'muted' }, 'No rated matches yet.');
  const xs = all.map((p) => p.x);
  const ys = all.flatMap((p) => [p.lo ?? p.y, p.hi ?? p.y]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) {
    y0 -= 1;
    y1 += 1;
  }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const px = (v) => m.left + ((v - x0) / (x1 - x0)) * (W - m.left - m.right);
  const py = (v) => H - m.bottom - ((v - y0) / (y1 - y0)) * (H - m.top - m.bottom);

  const grid = s('g', { class: 'grid' });
  const axis = s('g', { class: 'axis' });
  for (const t of ticks(y0, y1)) {
    grid.append(s('line', { x1: m.left, x2: W - m.right, y1: py(t), y2: py(t) }));
    axis.append(s('text', { x: m.left - 6, y: py(t) + 4, 'text-anchor': 'end' }, fmtNum(t, Math.abs(t) < 10 ? 1 : 0)));
  }
  for (const t of ticks(x0, x1, 6).filter((v) => Number.isInteger(v))) {
    axis.append(s('text', { x: px(t), y: H - m.bottom + 16, 'text-anchor': 'middle' }, String(t)));
  }
  axis.append(
    s('line', { x1: m.left, x2: m.left, y1: m.top, y2: H - m.bottom }),
    s('line', { x1: m.left, x2: W - m.right, y1: H - m.bottom, y2: H - m.bottom }),
    s('text', { x: (m.left + W - m.right) / 2, y: H - 6, 'text-anchor': 'middle' }, xLabel),
    s('text', { x: 14, y: (m.top + H - m.bottom) / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${(m.top + H - m.bottom) / 2})` }, yLabel),
  );

  const lines = series.map((ser, i) => {
    const cls = `s${i % SERIES}`;
    const pts = ser.points;
    const path = pts.map((p, j) => `${j ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    const banded = pts.filter((p) => typeof p.lo === 'number' && typeof p.hi === 'number');
    const band = banded.length > 1
      ? s('path', {
        class: `band ${cls}`,
        d: banded.map((p, j) => `${j ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(p.hi).toFixed(1)}`).join(' ')
          + ' ' + [...banded].reverse().map((p) => `L${px(p.x).toFixed(1)},${py(p.lo).toFixed(1)}`).join(' ') + ' Z',
      })
      : null;
    const dots = pts.length < 40 ? pts.map((p) => s('circle', { class: cls, cx: px(p.x), cy: py(p.y), r: 2.5 })) : null;
    return s('g', {}, band, s('path', { class: `line ${cls}`, d: path }), dots);
  });

  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: ${series.map((x) => x.name).join(', ')}` },
    s('title', {}, title), grid, axis, lines);
  const legend = h('ul', { class: 'legend' }, series.map((ser, i) => h('li', { class: `c${i % SERIES}` }, h('span', {}, ser.name))));
  const rows = series.flatMap((ser) => ser.points.map((p) => ({ name: ser.name, ...p })));
  const data = h('details', {}, h('summary', {}, 'Chart data'),
    simpleTable({
      caption: title,
      rows: rows.slice(-200),
      columns: [
        { label: 'Agent', render: (r) => r.name },
        { label: xLabel, render: (r) => String(r.x), num: true },
        { label: yLabel, render: (r) => fmtNum(r.y), num: true },
        { label: 'band', render: (r) => (typeof r.lo === 'number' ? fmtInterval({ rating: r.y, lower: r.lo, upper: r.hi }) : '—'), num: true },
      ],
    }));
  return h('figure', {}, svg, h('figcaption', {}, legend, h('span', { class: 'muted' }, 'Line: skill estimate μ after each match; shaded: μ ± 2σ.')), data);
}

/** Series for historyChart from the boards' history: {agent: [[match_no, mu, sigma], ...]}. */
export function historySeries(history, agents) {
  return agents.filter((a) => history && history[a]).map((agent) => ({
    name: agent,
    points: history[agent].map(([x, mu, sigma]) => ({
      x, y: mu, lo: typeof sigma === 'number' ? mu - 2 * sigma : undefined, hi: typeof sigma === 'number' ? mu + 2 * sigma : undefined,
    })),
  }));
}
