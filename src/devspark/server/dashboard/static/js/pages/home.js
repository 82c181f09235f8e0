// #/ : live tournaments and matches, recent results, the top of each leaderboard.

import { api } from '../api.js';
import { add, clear, fmtRatingWithInterval, h, pairing, matchAction, score, showError, simpleTable, statusWithReason, timeAgo, tournamentLink, tournamentProgress, badge, agentLink } from '../dom.js';
import { boards, matches } from '../data.js';

const REFRESH_MS = 10_000;

function section(title, id) {
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  return { el: h('section', { 'aria-labelledby': id }, h('h2', { id }, title), body), body };
}

function tournamentRows(items) {
  return simpleTable({
    caption: 'Tournaments in progress',
    rows: items,
    empty: 'No tournament is running.',
    columns: [
      { label: 'Tournament', render: (t) => tournamentLink(t) },
      { label: 'Status', render: (t) => badge(t.status) },
      { label: 'Matches played', render: (t) => { const p = tournamentProgress(t); return `${p.done} / ${p.outOf} (${t.matches.running} running)`; }, num: true },
      { label: 'Started', render: (t) => timeAgo(t.started_at) },
    ],
  });
}

function matchRows(items, caption, empty) {
  return simpleTable({
    caption,
    rows: items,
    empty,
    columns: [
      { label: 'Match', render: (m) => pairing(m) },
      { label: 'Scenario', render: (m) => m.scenario_id },
      { label: 'Score', render: (m) => (m.status === 'finished' ? score(m) : statusWithReason(m)), num: true },
      { label: 'When', render: (m) => timeAgo(m.finished_at || m.started_at || m.created_at) },
      { label: '', render: (m) => matchAction(m) },
    ],
  });
}

function leaderSummary(title, rows) {
  return h('div', { class: 'card' }, h('h3', {}, title),
    h('ol', {}, rows.slice(0, 5).map((r) => h('li', {}, agentLink(r.agent), ' ',
      h('span', { class: 'muted rating' }, fmtRatingWithInterval(r))))));
}

function leaders(data) {
  const cards = [];
  if (data.global && data.global.length) cards.push(leaderSummary('Global', data.global));
  for (const [id, rows] of Object.entries(data.by_scenario || {})) if (rows.length) cards.push(leaderSummary(id, rows));
  if (!cards.length) return h('p', { class: 'muted' }, 'No rated matches yet.');
  return h('div', {}, h('div', { class: 'cards' }, cards),
    h('p', {}, h('a', { href: '#/leaderboards' }, 'All leaderboards, with intervals and history')));
}

export async function render(ctx) {
  const live = section('Live now', 'home-live');
  const recent = section('Recent results', 'home-recent');
  const top = section('Leaderboards', 'home-top');
  add(ctx.main, 
    h('h1', {}, 'DevSpark Playground'),
    h('p', { class: 'muted' }, 'Agents play matches and tournaments in sandboxes; ratings come with their 95% intervals.'),
    live.el, recent.el, top.el);

  let failedOnce = new Set();
  async function fill(part, load, draw) {
    try {
      const value = await load();
      if (!ctx.isCurrent()) return;
      clear(part.body).append(draw(value));
      part.body.removeAttribute('aria-busy');
      failedOnce.delete(part);
    } catch (error) {
      if (!ctx.isCurrent()) return;
      // Shown once per failure streak, so a refresh every 10 s does not pile alerts up.
      if (!failedOnce.has(part)) showError(error, part.el.querySelector('h2').textContent);
      failedOnce.add(part);
      clear(part.body).append(h('p', { class: 'muted' }, 'Could not be loaded (see the error above).'));
    }
  }

  async function refresh() {
    await Promise.all([
      fill(live, async () => ({
        tournaments: (await api('/tournaments?status=running&limit=10')).items,
        matches: await matches({ status: 'running' }, 10),
      }), (v) => h('div', {}, tournamentRows(v.tournaments), matchRows(v.matches, 'Matches being played', 'No match is being played.'))),
      fill(recent, () => matches({ status: 'finished' }, 10), (items) => matchRows(items, 'Latest finished matches', 'No finished match yet.')),
      fill(top, boards, leaders),
    ]);
  }
  await refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  ctx.cleanup(() => clearInterval(timer));
}
