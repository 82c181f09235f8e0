// #/tournaments/<id> : bracket (elimination formats) or standings (round robin, Swiss,
// ladder, gauntlet), its matches, and live progress over the WebSocket (polling when the
// socket is not available: logged out, or the connection dropped).

import { api, apiAll } from '../api.js';
import { add, agentLink, badge, clear, failureBlock, fmtDate, fmtInterval, fmtNum, fmtRating, fmtSigned, guarded, h, matchAction, methodName, notify, pairing, score, showError, simpleTable, sortableTable, statusWithReason, timeAgo, tournamentProgress } from '../dom.js';
import { intervalBar, intervalScale } from '../charts.js';
import { subscribe } from '../live.js';
import { canChange } from '../session.js';

const POLL_MS = 4000;
const POLL_LIVE_MS = 20_000;
const DONE = new Set(['finished', 'cancelled', 'failed']);

/** Each agent's outcome in a finished match: 'win', 'draw' or 'loss'. */
function outcomes(match) {
  const results = match.results || [];
  if (!results.length) return new Map();
  const best = Math.max(...results.map((r) => r.reward));
  const top = results.filter((r) => r.reward === best);
  return new Map(results.map((r) => [r.agent, r.reward < best ? 'loss' : top.length === 1 ? 'win' : 'draw']));
}

/** Standings computed from the finished matches so far (win 1 point, draw 1/2). */
function provisional(tournament, matches) {
  const table = new Map(tournament.agents.map((a) => [a, { agent: a, played: 0, wins: 0, draws: 0, losses: 0, points: 0, reward: 0 }]));
  for (const m of matches) {
    if (m.status !== 'finished') continue;
    for (const [agent, result] of outcomes(m)) {
      const row = table.get(agent) || { agent, played: 0, wins: 0, draws: 0, losses: 0, points: 0, reward: 0 };
      row.played += 1;
      row[result === 'win' ? 'wins' : result === 'draw' ? 'draws' : 'losses'] += 1;
      row.points += result === 'win' ? 1 : result === 'draw' ? 0.5 : 0;
      row.reward += (m.results.find((r) => r.agent === agent) || { reward: 0 }).reward;
      table.set(agent, row);
    }
  }
  const rows = [...table.values()].sort((a, b) => b.points - a.points || b.reward - a.reward);
  rows.forEach((r, i) => { r.rank = i + 1; });
  return rows;
}

function provisionalTable(rows, done) {
  return sortableTable({
    caption: done ? 'Results from the matches played' : 'Provisional standings from the matches finished so far (win 1, draw ½)',
    rows,
    sortKey: 'rank',
    columns: [
      { key: 'rank', label: 'Rank', num: true },
      { key: 'agent', label: 'Agent', render: (r) => agentLink(r.agent) },
      { key: 'points', label: 'Points', num: true, render: (r) => fmtNum(r.points, 1) },
      { key: 'played', label: 'Played', num: true },
      { key: 'wins', label: 'W', num: true },
      { key: 'draws', label: 'D', num: true },
      { key: 'losses', label: 'L', num: true },
      { key: 'reward', label: 'Total reward', num: true, className: 'hide-narrow', render: (r) => fmtSigned(r.reward, 1) },
    ],
  });
}

function finalTable(rows) {
  const scale = intervalScale(rows);
  return sortableTable({
    caption: `Final standings (${methodName(rows[0] && rows[0].method)}); bars show the 95% interval`,
    rows,
    sortKey: 'rank',
    columns: [
      { key: 'rank', label: 'Rank', num: true },
      { key: 'agent', label: 'Agent', render: (r) => agentLink(r.agent) },
      { key: 'rating', label: 'Rating', num: true, render: (r) => fmtRating(r.rating) },
      { key: 'lower', label: '95% interval', num: true, className: 'nowrap hide-narrow', render: (r) => fmtInterval(r) },
      { key: 'bar', label: 'Interval', sortable: false, className: 'interval', render: (r) => intervalBar(r, scale) },
      { key: 'matches', label: 'Matches', num: true, className: 'hide-narrow' },
    ],
  });
}

/**
 * Elimination bracket: one column per round, one card per tie (its games linked). A tie
 * level after its games goes to the higher seed, the earlier of `entrants`.
 */
function bracket(matches, entrants) {
  const seed = (agent) => (entrants.includes(agent) ? entrants.indexOf(agent) : Infinity);
  if (!matches.length) return h('p', { class: 'muted' }, 'No match has been drawn yet.');
  const rounds = new Map();
  for (const m of matches) {
    const round = m.round ?? 0;
    if (!rounds.has(round)) rounds.set(round, new Map());
    const key = m.label || [...m.agents].sort().join(' vs ');
    const ties = rounds.get(round);
    if (!ties.has(key)) ties.set(key, []);
    ties.get(key).push(m);
  }
  const columns = [...rounds.keys()].sort((a, b) => a - b).map((round) => {
    const ties = [...rounds.get(round)].map(([key, games]) => {
      const totals = new Map();
      let finished = 0;
      for (const g of games) {
        for (const a of g.agents) if (!totals.has(a)) totals.set(a, 0);
        if (g.status !== 'finished') continue;
        finished += 1;
        for (const [agent, result] of outcomes(g)) totals.set(agent, totals.get(agent) + (result === 'win' ? 1 : result === 'draw' ? 0.5 : 0));
      }
      const best = finished ? Math.max(...totals.values()) : null;
      const leaders = [...totals].filter(([, v]) => v === best).map(([agent]) => agent).sort((a, b) => seed(a) - seed(b));
      const allDone = finished === games.length;
      const level = allDone && leaders.length > 1;
      const winner = allDone ? leaders[0] : null;
      const state = !winner ? 'in progress' : level ? `${winner} won (level: the higher seed goes through)` : `${winner} won`;
      return h('li', { class: 'tie' },
        h('a', { href: `#/matches/${games[games.length - 1].id}`, 'aria-label': `${key}: ${[...totals.keys()].join(' vs ')}, ${games.length} game(s), ${state}` },
          h('span', { class: 'label' }, key),
          [...totals].map(([agent, points]) => h('span', { class: ['seat', agent === winner ? 'winner' : ''] },
            h('span', {}, agent), h('span', {}, finished ? fmtNum(points, points % 1 ? 1 : 0) : '–'))),
          level ? h('span', { class: 'label' }, 'level: the higher seed goes through') : null,
          allDone ? null : h('span', { class: 'label' }, games.some((g) => g.status === 'running') ? 'playing now' : 'to play')),
        games.length > 1 ? h('p', { class: 'label' }, games.map((g, i) => [i ? ' · ' : '', h('a', { href: `#/matches/${g.id}` }, `game ${i + 1}`)])) : null);
    });
    return h('section', { class: 'bracket-round', 'aria-label': `Round ${round + 1}` }, h('h3', {}, `Round ${round + 1}`), h('ol', {}, ties));
  });
  return h('div', { class: 'bracket', role: 'group', 'aria-label': 'Bracket', tabindex: '0' }, columns);
}

function matchesTable(matches) {
  return simpleTable({
    caption: `Matches (${matches.length}), newest first`,
    rows: [...matches].reverse().slice(0, 100),
    empty: 'No match has been played yet.',
    columns: [
      { label: 'Round', render: (m) => (m.round ?? 0) + 1, num: true, className: 'hide-narrow' },
      { label: 'Match', render: (m) => pairing(m) },
      { label: 'Status', render: (m) => statusWithReason(m) },
      { label: 'Score', render: (m) => score(m), num: true },
      { label: 'When', render: (m) => timeAgo(m.finished_at || m.started_at || m.created_at) },
      { label: '', render: (m) => matchAction(m) },
    ],
  });
}

function progress(t) {
  const { done, outOf, planned } = tournamentProgress(t);
  return h('div', { class: 'panel' },
    failureBlock(t, 'tournament'),
    h('p', {}, badge(t.status), ' ',
      `${done} of ${outOf} match${outOf === 1 ? '' : 'es'} played`, t.matches.failed ? ` (${t.matches.failed} failed)` : '',
      t.matches.cancelled ? `, ${t.matches.cancelled} never started (cancelled).` : `, ${t.matches.running} running, ${t.matches.queued} queued.`),
    outOf ? h('progress', { max: String(outOf), value: String(done), 'aria-label': planned ? 'Matches played out of those planned' : 'Matches played out of those drawn so far' }) : null);
}

function actions(ctx, t, reload) {
  if (!canChange(t.owner_id) || DONE.has(t.status)) return null;
  const start = t.status === 'created' ? h('button', {
    type: 'button',
    onclick: (event) => guarded(event.currentTarget, async () => {
      await api(`/tournaments/${t.id}/start`, { method: 'POST' });
      notify('Tournament started.');
      await reload();
    }, 'Start tournament'),
  }, 'Start') : null;
  const cancel = h('button', {
    type: 'button',
    class: 'danger',
    onclick: (event) => guarded(event.currentTarget, async () => {
      if (!window.confirm('Cancel this tournament? Matches already played are kept.')) return;
      await api(`/tournaments/${t.id}/cancel`, { method: 'POST' });
      notify('Tournament cancelled.');
      await reload();
    }, 'Cancel tournament'),
  }, 'Cancel');
  return h('div', { class: 'toolbar' }, start, cancel);
}

export async function render(ctx) {
  const [id] = ctx.params;
  let tournament = await api(`/tournaments/${id}`);
  if (!ctx.isCurrent()) return;
  const elimination = tournament.format.includes('elimination');
  const liveState = h('p', { class: 'muted', id: 'live-state' }, 'Connecting to live updates…');
  const head = h('div');
  const board = h('div');
  const list = h('div');
  const events = h('ol', { class: 'events', 'aria-live': 'polite', 'aria-label': 'Live events' });

  add(ctx.main, 
    h('h1', {}, `${tournament.format.replace(/_/g, ' ')} · ${tournament.scenario_id}`),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Entrants'), h('dd', {}, tournament.agents.map((a, i) => [i ? ', ' : '', agentLink(a)])),
      h('dt', {}, 'Seed'), h('dd', {}, String(tournament.seed)),
      h('dt', {}, 'Rounds'), h('dd', {}, tournament.rounds === null ? 'default' : String(tournament.rounds)),
      h('dt', {}, 'Isolation'), h('dd', {}, tournament.isolation),
      h('dt', {}, 'Created'), h('dd', {}, fmtDate(tournament.created_at))),
    head,
    h('section', { 'aria-labelledby': 'board-heading' }, h('h2', { id: 'board-heading' }, elimination ? 'Bracket' : 'Standings'), board),
    h('section', { 'aria-labelledby': 'live-heading' }, h('h2', { id: 'live-heading' }, 'Live'), liveState, events),
    h('section', { 'aria-labelledby': 'matches-heading' }, h('h2', { id: 'matches-heading' }, 'Matches'), list));

  let standingsShown = false;
  let loading = null;
  async function reload() {
    if (loading) return loading;
    loading = (async () => {
      try {
        const [t, matches] = await Promise.all([api(`/tournaments/${id}`), apiAll(`/tournaments/${id}/matches`, { max: 2000 })]);
        if (!ctx.isCurrent()) return;
        tournament = t;
        add(clear(head), progress(t), actions(ctx, t, reload));
        add(clear(list), matchesTable(matches));
        if (elimination) {
          add(clear(board), bracket(matches, t.agents));
        } else if (t.status === 'finished' && !standingsShown) {
          const rows = await apiAll(`/tournaments/${id}/standings`);
          if (!ctx.isCurrent()) return;
          standingsShown = true;
          add(clear(board), finalTable(rows), h('details', {}, h('summary', {}, 'Points table'), provisionalTable(provisional(t, matches), true)));
        } else if (!standingsShown) {
          add(clear(board), provisionalTable(provisional(t, matches), DONE.has(t.status)));
        }
      } catch (error) {
        if (ctx.isCurrent()) showError(error, 'Refreshing the tournament');
      } finally {
        loading = null;
      }
    })();
    return loading;
  }

  let debounce = null;
  function soon() {
    clearTimeout(debounce);
    debounce = setTimeout(reload, 400);
  }
  function logEvent(text) {
    events.prepend(h('li', {}, h('time', {}, new Date().toLocaleTimeString()), ' ', text));
    while (events.children.length > 30) events.lastChild.remove();
  }

  let live = false;
  if (DONE.has(tournament.status)) {
    liveState.textContent = tournament.status === 'failed' ? 'This tournament failed (see why above).' : `This tournament is ${tournament.status}.`;
    await reload();
    return;
  }
  const socket = subscribe(`tournament:${id}`, (event) => {
    if (event.type === 'match_started') logEvent(`Match started: ${(event.agents || []).join(' vs ')}`);
    else if (event.type === 'match_finished') logEvent(`Match finished: ${(event.agents || []).join(' vs ')} (${score({ results: (event.rewards || []).map((reward, seat) => ({ seat, reward })) })})`);
    else if (event.type === 'tournament') logEvent(`Tournament ${event.status}`);
    else if (event.type === 'dropped') logEvent(`${event.count} events missed; reloading`);
    soon();
  }, (state) => {
    live = state === 'live';
    liveState.className = live ? 'live-dot' : 'muted';
    liveState.textContent = live ? 'Live: updates arrive as matches start and finish.'
      : state === 'login' ? `Log in for instant updates; refreshing every ${POLL_MS / 1000} s meanwhile.`
        : `Live updates unavailable; refreshing every ${POLL_MS / 1000} s.`;
  });
  ctx.cleanup(() => socket.close());

  let timer = null;
  const poll = async () => {
    if (!DONE.has(tournament.status) || !standingsShown) await reload();
    if (ctx.isCurrent() && !DONE.has(tournament.status)) timer = setTimeout(poll, live ? POLL_LIVE_MS : POLL_MS);
  };
  ctx.cleanup(() => {
    clearTimeout(timer);
    clearTimeout(debounce);
  });
  await reload();
  if (!DONE.has(tournament.status)) timer = setTimeout(poll, POLL_MS);
}
