// #/scenarios : the scenario gallery: each scenario with its rules and a sample replay
// (its most recent finished match, found with GET /matches?scenario=).

import { api } from '../api.js';
import { add, h, pairing, showError } from '../dom.js';
import { scenarios } from '../data.js';

/**
 * Inline markup of the rules text as elements (never HTML): ``code``, `code`, Sphinx roles
 * (:meth:`~a.b.C.f` shows `f`, the last part, after a "~") and **bold**.
 */
function inline(text) {
  const parts = [];
  const pattern = /``(.+?)``|(?::[a-z]+:)?`(~?)([^`]+)`|\*\*(.+?)\*\*/g;
  let last = 0;
  for (const found of text.matchAll(pattern)) {
    if (found.index > last) parts.push(text.slice(last, found.index));
    if (found[4] !== undefined) parts.push(h('strong', {}, found[4]));
    else if (found[1] !== undefined) parts.push(h('code', {}, found[1]));
    else parts.push(h('code', {}, found[2] ? found[3].split('.').pop() : found[3]));
    last = found.index + found[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

const indentOf = (line) => line.match(/^\s*/)[0].length;

/** Remove the common indentation of lines (blank lines ignored). */
function dedent(lines) {
  const depth = Math.min(...lines.filter((l) => l.trim()).map(indentOf));
  return lines.map((l) => l.slice(Number.isFinite(depth) ? depth : 0));
}

/**
 * One block (lines between blank lines, dedented): a list, a preformatted block (a table,
 * a diagram, anything indented further or after "::"), or a paragraph.
 */
function block(lines, literal) {
  if (lines.every((l) => /^[-*] /.test(l))) return h('ul', {}, lines.map((l) => h('li', {}, inline(l.slice(2)))));
  if (literal || lines.some((l) => indentOf(l) > 0 || /^[=-]{4,}(\s|$)/.test(l))) return h('pre', { class: 'rules-pre' }, dedent(lines).join('\n'));
  lines = lines.map((l) => l.trim());
  const text = lines.join(' ').replace(/::$/, ':');
  const heading = text.match(/^#+\s+(.*)$/);
  if (heading) return h('h4', {}, inline(heading[1]));
  return h('p', {}, inline(text));
}

/** A section body: blocks of lines separated by blank lines; "::" makes the next literal. */
function blocks(section) {
  const lines = dedent(section);
  const out = [];
  let current = [];
  let literal = false;
  const flush = () => {
    if (!current.length) return;
    out.push(block(current, literal));
    literal = current[current.length - 1].endsWith('::');
    current = [];
  };
  for (const line of lines) {
    if (line.trim()) current.push(line.trimEnd());
    else flush();
  }
  flush();
  return out;
}

/**
 * The scenario's documentation page (plain text: unindented section titles over indented
 * bodies, or Markdown-ish "# headings"), as headings, paragraphs, lists and preformatted
 * blocks. Everything is inserted as text.
 */
function prose(text) {
  const lines = String(text).replace(/\r\n?/g, '\n').trim().split('\n');
  const out = [];
  let body = [];
  const flush = () => {
    out.push(...blocks(body));
    body = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const next = lines[i + 1] || '';
    const title = line.trim() && indentOf(line) === 0 && next.trim() && indentOf(next) > 0 && !/[.:,;]$/.test(line.trim());
    if (title || /^#{1,6}\s/.test(line)) {
      flush();
      out.push(h('h3', {}, inline(line.replace(/^#+\s*/, '').trim())));
    } else {
      body.push(line);
    }
  }
  flush();
  return out;
}

function rulesOf(detail) {
  for (const key of ['docs', 'rules', 'description', 'doc']) {
    if (detail && typeof detail[key] === 'string' && detail[key].trim()) return detail[key];
  }
  return null;
}

function card(scenario, detail, sample) {
  const rules = rulesOf(detail);
  return h('li', { class: 'card scenario-card' },
    h('h2', {}, scenario.id, h('span', { class: 'muted' }, ` v${scenario.version}`)),
    h('div', { class: 'meta' },
      scenario.domains.map((d) => h('span', { class: 'badge' }, d)),
      h('span', { class: 'badge' }, scenario.players[0] === scenario.players[1] ? `${scenario.players[0]} player${scenario.players[0] === 1 ? '' : 's'}` : `${scenario.players[0]}–${scenario.players[1]} players`),
      h('span', { class: 'badge' }, scenario.parallel ? 'simultaneous moves' : 'turn based')),
    rules ? h('details', { class: 'rules' }, h('summary', {}, 'Rules'), prose(rules))
      : h('p', { class: 'muted' }, 'No rules text published for this scenario.'),
    sample ? h('p', {}, 'Sample replay: ', h('a', { href: `#/matches/${sample.id}` }, 'watch'), ' (', pairing(sample), ')')
      : h('p', { class: 'muted' }, 'No finished match of this scenario yet.'),
    h('p', {}, h('a', { href: `#/leaderboards?board=${encodeURIComponent(`scenario:${scenario.full_id}`)}` }, `Leaderboard for ${scenario.id}`)));
}

/** A sample replay of the scenario: its latest finished match with a stored replay. */
async function sampleOf(scenario) {
  const query = new URLSearchParams({ scenario: scenario.full_id, status: 'finished', limit: '10' });
  const { items } = await api(`/matches?${query}`);
  return items.find((m) => m.replay_ref !== null) || items[0] || null;
}

export async function render(ctx) {
  add(ctx.main, h('h1', {}, 'Scenarios'));
  const list = await scenarios();
  const latest = list.filter((sc, i) => !list.slice(i + 1).some((o) => o.id === sc.id));
  const [details, samples] = await Promise.all([
    Promise.all(latest.map((sc) => api(`/scenarios/${sc.full_id}`).catch((error) => {
      showError(error, `Scenario ${sc.full_id}`);
      return null;
    }))),
    Promise.all(latest.map((sc) => sampleOf(sc).catch((error) => {
      showError(error, `Sample replay of ${sc.full_id}`);
      return null;
    }))),
  ]);
  if (!ctx.isCurrent()) return;
  add(ctx.main,
    h('p', { class: 'muted' }, `${latest.length} scenarios (latest versions).`),
    h('ul', { class: 'cards' }, latest.map((sc, i) => card(sc, details[i], samples[i]))));
}
