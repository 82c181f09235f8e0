// #/scenarios : the scenario gallery: each scenario with its rules and a sample replay
// (its most recent finished match).

import { api, apiAll } from '../api.js';
import { add, h, pairing, showError } from '../dom.js';
import { scenarios } from '../data.js';

/** Rules text as paragraphs and lists (plain text; never parsed as HTML). */
function prose(text) {
  const blocks = String(text).trim().split(/\n\s*\n/);
  return blocks.map((block) => {
    const lines = block.split('\n');
    if (lines.every((l) => /^\s*[-*] /.test(l))) return h('ul', {}, lines.map((l) => h('li', {}, l.replace(/^\s*[-*] /, ''))));
    const heading = block.match(/^#+\s+(.*)$/);
    if (heading && lines.length === 1) return h('h4', {}, heading[1]);
    return h('p', {}, block.replace(/\n/g, ' '));
  });
}

function rulesOf(detail) {
  for (const key of ['rules', 'docs', 'description', 'doc']) {
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

export async function render(ctx) {
  add(ctx.main, h('h1', {}, 'Scenarios'));
  const [list, recent] = await Promise.all([
    scenarios(),
    apiAll('/matches?status=finished', { max: 300 }).catch((error) => {
      showError(error, 'Sample replays');
      return [];
    }),
  ]);
  const latest = list.filter((sc, i) => !list.slice(i + 1).some((o) => o.id === sc.id));
  const details = await Promise.all(latest.map((sc) => api(`/scenarios/${sc.full_id}`).catch((error) => {
    showError(error, `Scenario ${sc.full_id}`);
    return null;
  })));
  if (!ctx.isCurrent()) return;
  const samples = new Map();
  for (const m of recent) if (!samples.has(m.scenario_id) && m.replay_ref !== null) samples.set(m.scenario_id, m);
  for (const m of recent) if (!samples.has(m.scenario_id)) samples.set(m.scenario_id, m);
  add(ctx.main, 
    h('p', { class: 'muted' }, `${latest.length} scenarios (latest versions).`),
    h('ul', { class: 'cards' }, latest.map((sc, i) => card(sc, details[i], samples.get(sc.full_id)))));
}
