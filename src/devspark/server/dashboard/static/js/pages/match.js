// #/matches/<id> : a match's spec and per-seat results, with the replay player (finished
// matches) or the live view (queued or running ones). The player lives in ../replay/
// and is imported lazily, so this page still shows the match when it fails to load.

import { api, freshAccessToken, openSocket } from '../api.js';
import { add, agentLink, badge, clear, failureBlock, fmtDate, fmtInt, fmtNum, fmtSigned, h, hasReplay, notify, showError, simpleTable, tournamentLink } from '../dom.js';
import { interactionGraph, replayInteractions } from '../graph.js';

const POLL_MS = 3000;
const PLAYING = new Set(['queued', 'running']);

function resultsTable(match) {
  return simpleTable({
    caption: 'Results by seat',
    rows: [...(match.results || [])].sort((a, b) => a.seat - b.seat),
    empty: PLAYING.has(match.status) ? 'Results appear when the match ends.' : 'No result recorded.',
    columns: [
      { label: 'Seat', render: (r) => String(r.seat), num: true },
      { label: 'Agent', render: (r) => agentLink(r.agent) },
      { label: 'Role', render: (r) => r.role },
      { label: 'Status', render: (r) => badge(r.status) },
      { label: 'Reward', render: (r) => fmtSigned(r.reward, 2), num: true },
      { label: 'Moves', render: (r) => String(r.moves), num: true },
      { label: 'Wall ms', render: (r) => fmtNum(r.wall_ms, 1), num: true },
      { label: 'CPU s', render: (r) => fmtNum(r.cpu_s, 3), num: true },
      { label: 'Peak MB', render: (r) => fmtNum(r.peak_mb, 1), num: true },
      { label: 'Detail', render: (r) => (r.detail ? h('pre', {}, r.detail) : '—') },
    ],
  });
}

/** The tournament a match belongs to, by name (its format and scenario), linked. */
function tournamentOf(match, tournament) {
  const link = tournament ? tournamentLink(tournament)
    : h('a', { href: `#/tournaments/${match.tournament_id}` }, `tournament ${String(match.tournament_id).slice(0, 8)}`);
  const round = match.round !== null && match.round !== undefined ? `round ${match.round + 1}` : null;
  const where = [match.label ? `tie ${match.label}` : null, round].filter(Boolean).join(', ');
  return [h('dt', {}, 'Tournament'), h('dd', {}, link, where ? h('span', { class: 'muted' }, ` (${where})`) : null)];
}

/** Seconds since `started` (an ISO date), for a match still being played. */
function elapsed(started) {
  const ms = Date.now() - new Date(started).getTime();
  return Number.isFinite(ms) ? `${fmtNum(Math.max(ms, 0) / 1000, 1)} s so far` : 'still playing';
}

/**
 * The match's facts. While it is played (`live` given), steps and time are those received
 * so far: the stored `steps` and `wall_ms` are written when it ends.
 */
function facts(match, tournament, live = null) {
  const playing = PLAYING.has(match.status);
  const steps = playing ? (live && live.steps ? `${live.steps} so far` : match.status === 'queued' ? 'not started' : '0 so far') : String(match.steps);
  const wall = playing ? (match.started_at ? elapsed(match.started_at) : 'not started') : `${fmtNum(match.wall_ms, 1)} ms`;
  return h('div', {}, failureBlock(match, 'match'), h('dl', { class: 'facts' },
    h('dt', {}, 'Status'), h('dd', {}, badge(match.status)),
    h('dt', {}, 'Scenario'), h('dd', {}, match.scenario_id),
    h('dt', {}, 'Agents'), h('dd', {}, match.agents.map((a, i) => [i ? ' vs ' : '', agentLink(a)])),
    match.tournament_id ? tournamentOf(match, tournament) : null,
    h('dt', {}, 'Seed'), h('dd', {}, String(match.seed)),
    h('dt', {}, 'Isolation'), h('dd', {}, match.isolation),
    h('dt', {}, 'Steps'), h('dd', { class: 'fact-steps' }, steps),
    h('dt', {}, 'Wall time'), h('dd', { class: 'fact-wall' }, wall),
    h('dt', {}, 'Started'), h('dd', {}, fmtDate(match.started_at)),
    h('dt', {}, 'Finished'), h('dd', {}, fmtDate(match.finished_at))));
}

/**
 * Who messaged whom in the match (from the replay's recorded messages), or null when no
 * agent published anything (nor had a message refused).
 */
function messagesSection(doc) {
  const found = replayInteractions(doc);
  if (!found.published && !found.refused) return null;
  const plural = (n, one, many) => `${fmtInt(n)} ${n === 1 ? one : many}`;
  const summary = [
    `${plural(found.published, 'message', 'messages')} published, ${plural(found.delivered, 'delivery', 'deliveries')}`,
    found.unheard ? `${plural(found.unheard, 'message', 'messages')} nobody subscribed to` : null,
    found.refused ? `${plural(found.refused, 'message', 'messages')} refused (no grant, over a limit)` : null,
  ].filter(Boolean).join('; ');
  return h('section', { 'aria-labelledby': 'messages-heading', class: 'match-messages' },
    h('h2', { id: 'messages-heading' }, 'Messages between agents'),
    interactionGraph(found.graph, {
      caption: 'Who messaged whom (an arrow per channel, with the number of deliveries)',
      kindLabel: 'Channel',
      empty: 'No message reached another agent.',
      summary: `${summary}.`,
    }));
}

async function loadPlayer() {
  try {
    return await import('../replay/player.js');
  } catch (error) {
    const failure = new Error(`The replay player could not be loaded: ${error.message}`);
    failure.code = 'player_unavailable';
    throw failure;
  }
}

export async function render(ctx) {
  const [id] = ctx.params;
  let match = await api(`/matches/${id}`);
  // Its tournament's name (the match's label is the tie's, "B4"); the link still works without it.
  const tournament = match.tournament_id ? await api(`/tournaments/${match.tournament_id}`).catch(() => null) : null;
  if (!ctx.isCurrent()) return;
  const live = { steps: 0 };
  const drawFacts = () => add(clear(factsHost), facts(match, tournament, live));
  const factsHost = h('div', {}, facts(match, tournament, live));
  const resultsHost = h('div', {}, resultsTable(match));
  const playerHeading = h('h2', { id: 'player-heading' }, 'Replay');
  const playerHost = h('div', { class: 'replay-host' });
  const messagesHost = h('div');
  add(ctx.main, 
    h('h1', {}, `${match.agents.join(' vs ')}`),
    h('p', { class: 'muted' }, `${match.scenario_id} · match ${match.id}`),
    factsHost,
    h('section', { 'aria-labelledby': 'player-heading' }, playerHeading, playerHost),
    messagesHost,
    h('section', { 'aria-labelledby': 'results-heading' }, h('h2', { id: 'results-heading' }, 'Results'), resultsHost));

  let mounted = null;
  ctx.cleanup(() => {
    if (mounted) mounted.destroy();
    mounted = null;
  });

  async function showReplay({ atEnd = false } = {}) {
    playerHeading.textContent = 'Replay';
    const none = () => add(clear(playerHost), h('p', { class: 'muted' }, 'No replay was recorded for this match.'));
    if (!hasReplay(match)) {
      none(); // a failed or cancelled match: nothing to ask the server for
      return;
    }
    let doc;
    try {
      doc = await api(`/matches/${id}/replay`);
    } catch (error) {
      if (error.status === 404) {
        none();
        return;
      }
      throw error;
    }
    add(clear(messagesHost), messagesSection(doc)); // shown even if the player fails to load
    const player = await loadPlayer();
    if (!ctx.isCurrent()) return;
    clear(playerHost);
    mounted = player.mountReplayPlayer(playerHost, doc);
    // Coming from the live view, stay on the final board rather than jump back to the start.
    if (atEnd && mounted.view) mounted.goTo(mounted.view.timeline.length - 1);
  }

  async function showLive() {
    playerHeading.textContent = 'Live';
    const token = await freshAccessToken().catch(() => null);
    if (!token) {
      add(clear(playerHost), h('p', {}, 'This match is being played. ',
        h('a', { href: `#/login?next=${encodeURIComponent(location.hash)}` }, 'Log in'),
        ' to watch it move by move; this page shows the replay when it ends.'));
      return;
    }
    const player = await loadPlayer();
    if (!ctx.isCurrent()) return;
    clear(playerHost);
    // The live view owns the socket; the page listens on it too, to show the replay as
    // soon as `match_finished` says the result and the replay are stored.
    const watched = () => {
      const socket = openSocket();
      socket.addEventListener('message', (message) => {
        let event = null;
        try {
          event = JSON.parse(message.data);
        } catch {
          return; // the live view reports it
        }
        if (event && event.type === 'match_finished' && String(event.match_id) === String(id)) pollNow();
      });
      return socket;
    };
    mounted = player.mountLiveMatch(playerHost, id, watched, {
      scenario: match.scenario_id,
      agents: match.agents,
      onStep: (event) => {
        if (typeof event.step !== 'number' || ended) return;
        live.steps = Math.max(live.steps, event.step + 1); // step -1 is the state after reset
        if (match.status === 'queued') match = { ...match, status: 'running', started_at: match.started_at || new Date().toISOString() };
        drawFacts();
      },
    });
  }

  async function guard(step) {
    try {
      await step();
    } catch (error) {
      if (!ctx.isCurrent()) return;
      add(clear(playerHost), h('p', { class: 'muted' }, 'Not available (see the error above).'));
      showError(error, playerHeading.textContent);
    }
  }

  if (!PLAYING.has(match.status)) {
    await guard(showReplay);
    return;
  }
  let timer = null;
  let polling = null;
  let ended = false;
  const poll = async () => {
    const before = match.status;
    try {
      match = await api(`/matches/${id}`);
    } catch (error) {
      if (ctx.isCurrent()) showError(error, 'Refreshing the match');
    }
    if (!ctx.isCurrent() || ended) return;
    if (PLAYING.has(match.status)) {
      if (match.status !== before) drawFacts(); // queued → running
      timer = setTimeout(pollNow, POLL_MS);
      return;
    }
    ended = true;
    drawFacts();
    add(clear(resultsHost), resultsTable(match));
    if (mounted) mounted.destroy();
    mounted = null;
    notify(hasReplay(match) ? `The match has ${match.status}; showing its replay.` : `The match has ${match.status}.`, 'info');
    await guard(() => showReplay({ atEnd: true }));
  };
  // One poll at a time: the timer and `match_finished` both ask for one; a request made
  // while one is in flight (it may have read the match just before it was stored) runs
  // once that one is done.
  let again = false;
  function pollNow() {
    clearTimeout(timer);
    if (polling) {
      again = true;
      return polling;
    }
    polling = poll().finally(() => {
      polling = null;
      if (again && !ended && ctx.isCurrent()) {
        again = false;
        pollNow();
      }
    });
    return polling;
  }
  ctx.cleanup(() => clearTimeout(timer));
  await guard(showLive);
  if (ctx.isCurrent() && !ended) timer = setTimeout(pollNow, POLL_MS);
}
