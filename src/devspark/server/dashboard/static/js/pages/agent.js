// #/agents/<id or reference> : versions (manifest, licence, hash, lifecycle state),
// rating history, record against each opponent, recent matches, and for its owner or an
// admin: upload a new version, start, stop, deprecate.

import { api, apiAll } from '../api.js';
import { add, badge, clear, field, fmtDate, fmtInt, guarded, h, matchAction, notify, statusWithReason, pairing, score, showError, simpleTable, sortableTable, timeAgo, agentLink } from '../dom.js';
import { historyChart, historySeries } from '../charts.js';
import { boards, matches, parseRef } from '../data.js';
import { canChange } from '../session.js';
import { uploadForm } from './agents.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function headToHead(ref) {
  const data = await api(`/leaderboards/head-to-head?agent=${encodeURIComponent(ref)}`);
  return sortableTable({
    caption: `Record of ${ref} against each opponent`,
    rows: data.opponents.map((o) => ({ ...o, total: o.wins + o.draws + o.losses })),
    sortKey: 'total',
    descending: true,
    empty: 'No finished match against anyone yet.',
    columns: [
      { key: 'opponent', label: 'Opponent', render: (o) => agentLink(o.opponent) },
      { key: 'wins', label: 'Wins', num: true },
      { key: 'draws', label: 'Draws', num: true },
      { key: 'losses', label: 'Losses', num: true },
      { key: 'total', label: 'Played', num: true },
      { key: 'rate', label: 'Win rate', num: true, value: (o) => (o.total ? o.wins / o.total : null), render: (o) => (o.total ? `${Math.round((100 * o.wins) / o.total)} %` : '—') },
    ],
  });
}

async function recentMatches(ref) {
  const items = await matches({ agent: ref }, 10);
  return simpleTable({
    caption: `Latest matches of ${ref}`,
    rows: items,
    empty: 'No match yet.',
    columns: [
      { label: 'Match', render: (m) => pairing(m) },
      { label: 'Scenario', render: (m) => m.scenario_id },
      { label: 'Result', render: (m) => (m.status === 'finished' ? score(m) : statusWithReason(m)), num: true },
      { label: 'When', render: (m) => timeAgo(m.finished_at || m.started_at || m.created_at) },
      { label: '', render: (m) => matchAction(m) },
    ],
  });
}

/** Rating history of every ref, record and matches of the chosen one. */
async function performance(ctx, refs, chosen) {
  const section = h('section', { 'aria-labelledby': 'perf-heading' }, h('h2', { id: 'perf-heading' }, 'Performance'));
  add(ctx.main, section);
  if (!refs.length) {
    add(section, h('p', { class: 'muted' }, 'This agent has no playable reference yet.'));
    return;
  }
  const pick = h('select', { name: 'ref' }, refs.map((r) => h('option', { value: r }, r)));
  pick.value = chosen && refs.includes(chosen) ? chosen : refs[refs.length - 1];
  const chartHost = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const recordHost = h('div');
  const matchesHost = h('div');
  add(section, 
    h('h3', {}, 'Rating history'), chartHost,
    refs.length > 1 ? h('div', { class: 'toolbar' }, field('Version', pick)) : null,
    h('h3', {}, 'Against each opponent'), recordHost,
    h('h3', {}, 'Recent matches'), matchesHost);

  async function fill(host, load, label) {
    add(clear(host), h('p', { class: 'muted' }, 'Loading…'));
    try {
      const node = await load();
      if (ctx.isCurrent()) add(clear(host), node);
    } catch (error) {
      if (!ctx.isCurrent()) return;
      add(clear(host), h('p', { class: 'muted' }, 'Could not be loaded (see the error above).'));
      showError(error, label);
    }
  }
  const drawRef = () => Promise.all([
    fill(recordHost, () => headToHead(pick.value), 'Head-to-head'),
    fill(matchesHost, () => recentMatches(pick.value), 'Recent matches'),
  ]);
  pick.addEventListener('change', drawRef);
  await Promise.all([
    fill(chartHost, async () => {
      const data = await boards();
      const series = historySeries(data.history, refs.slice(-6));
      return historyChart(series, { title: `Rating history of ${series.map((x) => x.name).join(', ') || refs[0]}` });
    }, 'Rating history'),
    drawRef(),
  ]);
}

function lifecycleDetails(agentId, version) {
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const details = h('details', {}, h('summary', {}, 'Lifecycle'), body);
  let loaded = false;
  details.addEventListener('toggle', async () => {
    if (!details.open || loaded) return;
    loaded = true;
    try {
      const events = await apiAll(`/agents/${agentId}/versions/${version.id}/events`);
      add(clear(body), events.length ? h('ol', {}, events.map((e) => h('li', {}, `${e.from_state} → ${e.to_state} (${e.reason}), ${fmtDate(e.at)}`)))
        : h('p', { class: 'muted' }, 'No transition yet.'));
    } catch (error) {
      loaded = false;
      add(clear(body), h('p', { class: 'muted' }, 'Could not be loaded.'));
      showError(error, 'Lifecycle');
    }
  });
  return details;
}

function versionActions(ctx, agent, version) {
  if (!canChange(agent.owner_id)) return '—';
  const act = (label, path, done) => h('button', {
    type: 'button',
    class: 'small secondary',
    'aria-label': `${label} version ${version.version}`,
    onclick: (event) => guarded(event.currentTarget, async () => {
      await api(path, { method: 'POST' });
      notify(done);
      ctx.navigate(location.hash);
    }, `${label} ${version.version}`),
  }, label);
  const online = ['deploying', 'online', 'busy', 'idle'].includes(version.lifecycle_state);
  return h('div', { class: 'checks' },
    version.deprecated ? null : online
      ? act('Stop', `/agents/${agent.id}/stop?version_id=${version.id}`, `Version ${version.version} stopped.`)
      : act('Start', `/agents/${agent.id}/start?version_id=${version.id}`, `Version ${version.version} started.`),
    version.deprecated ? null : act('Deprecate', `/agents/${agent.id}/versions/${version.id}/deprecate`, `Version ${version.version} deprecated.`));
}

function versionsTable(ctx, agent, versions) {
  return simpleTable({
    caption: 'Versions (newest first)',
    rows: [...versions].reverse(),
    columns: [
      { label: 'Version', render: (v) => h('strong', {}, v.version) },
      { label: 'State', render: (v) => h('span', {}, badge(v.lifecycle_state), v.deprecated ? [' ', badge('deprecated')] : null) },
      { label: 'Licence', render: (v) => v.license },
      { label: 'Language', render: (v) => v.language },
      { label: 'SHA-256', render: (v) => h('code', { title: v.sha256 }, `${v.sha256.slice(0, 12)}…`) },
      { label: 'Matches', render: (v) => fmtInt(v.matches_played), num: true },
      { label: 'Published', render: (v) => fmtDate(v.created_at) },
      {
        label: 'Details',
        render: (v) => h('div', {},
          h('details', {}, h('summary', {}, 'Manifest'), h('pre', {}, JSON.stringify(v.manifest, null, 2))),
          lifecycleDetails(agent.id, v),
          h('a', { href: `/api/v1/agents/${agent.id}/versions/${v.id}/download`, download: '' }, 'Download')),
      },
      { label: 'Actions', render: (v) => versionActions(ctx, agent, v) },
    ],
  });
}

/** The agent's reference without a version (`agent:OWNER/NAME`, from the API). */
function baseRef(agent) {
  return agent.ref || `agent:${agent.owner}/${agent.name}`;
}

/**
 * Pinned references of the agent: one per published version (`REF@VERSION`), plus any
 * other version the boards know (a deleted one that still has a rating).
 */
async function refsOf(agent, versions) {
  const prefix = `${baseRef(agent)}@`;
  const refs = versions.map((v) => prefix + v.version);
  const data = await boards().catch(() => ({ history: {} }));
  const rated = Object.keys(data.history || {}).filter((ref) => ref.startsWith(prefix) && !refs.includes(ref));
  return [...rated, ...refs];
}

async function renderAgent(ctx, agentId, chosenRef) {
  const [agent, versions] = await Promise.all([api(`/agents/${agentId}`), apiAll(`/agents/${agentId}/versions`)]);
  if (!ctx.isCurrent()) return;
  const latest = versions[versions.length - 1];
  add(ctx.main, 
    h('h1', {}, agent.name),
    agent.description ? h('p', {}, agent.description) : null,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Reference'), h('dd', {}, h('code', {}, baseRef(agent))),
      h('dt', {}, 'Owner'), h('dd', {}, agent.owner || '—'),
      h('dt', {}, 'Latest version'), h('dd', {}, latest ? latest.version : '—'),
      h('dt', {}, 'Lifecycle state'), h('dd', {}, latest ? badge(latest.lifecycle_state) : '—'),
      h('dt', {}, 'Licence'), h('dd', {}, latest ? latest.license : '—'),
      h('dt', {}, 'Published'), h('dd', {}, fmtDate(agent.created_at))),
    h('section', { 'aria-labelledby': 'versions-heading' }, h('h2', { id: 'versions-heading' }, 'Versions'), versionsTable(ctx, agent, versions)));
  if (canChange(agent.owner_id)) {
    add(ctx.main, uploadForm({ agentId: agent.id, legend: 'Upload a new version', onDone: () => ctx.navigate(location.hash) }));
  }
  await performance(ctx, await refsOf(agent, versions), chosenRef);
}

async function renderRef(ctx, ref) {
  const parsed = parseRef(ref);
  if (parsed.kind === 'agent') {
    const base = `agent:${parsed.user}/${parsed.name}`;
    const found = (await apiAll('/agents')).filter((a) => baseRef(a) === base);
    if (!ctx.isCurrent()) return;
    if (found.length) {
      await renderAgent(ctx, found[0].id, ref);
      return;
    }
    add(ctx.main, h('h1', {}, ref),
      h('p', { class: 'muted' }, `No published agent is ${base} now (it may have been deleted); its past results follow.`));
  } else {
    add(ctx.main, h('h1', {}, ref),
      h('p', { class: 'muted' }, parsed.kind === 'builtin' ? 'A built-in baseline shipped with DevSpark.' : 'An agent reference.'));
  }
  await performance(ctx, [ref], ref);
}

export async function render(ctx) {
  const [id] = ctx.params;
  if (UUID.test(id)) await renderAgent(ctx, id, ctx.query.get('ref'));
  else await renderRef(ctx, id);
}
