// #/scenarios : the scenario gallery: each scenario with its rules (its documentation
// page, reStructuredText rendered as elements by ../rst.js) and a sample replay (its most
// recent finished match, found with GET /matches?scenario=; the first start seeds one).

import { api } from '../api.js';
import { add, h, pairing, showError } from '../dom.js';
import { scenarios } from '../data.js';
import { renderRst } from '../rst.js';

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
    rules ? h('details', { class: 'rules' }, h('summary', {}, 'Rules'), h('div', { class: 'rules-body' }, renderRst(rules)))
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
