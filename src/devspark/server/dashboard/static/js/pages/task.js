// #/tasks/<id> : one task: its facts and payload, its progress live over the WebSocket
// topic task:<id> (task.queued, task.assigned, task.running, task.progress,
// task.finished), then its result or why it failed. Without a live socket (no login, or
// it dropped) the page polls every 2 s until the task is final (every 10 s while live, in
// case an event is missed).

import { api } from '../api.js';
import { add, badge, clear, fmtDate, fmtInt, h, showError } from '../dom.js';
import { subscribe } from '../live.js';
import { me } from '../session.js';
import { TASK_FINAL, taskDuration, taskLink } from './tasks.js';

const POLL_MS = 2_000;
const LIVE_POLL_MS = 10_000;
const LOG_MAX = 200;

/**
 * A fraction 0..1 from a progress report, when it says one: a number in [0, 1], or an
 * object with `fraction`, `percent`, or a count out of a total (done/step/current/n of
 * total/of/steps/count). Otherwise null (the report is shown as it is).
 */
export function progressFraction(data) {
  if (typeof data === 'number') return data >= 0 && data <= 1 ? data : null;
  if (!data || typeof data !== 'object') return null;
  if (typeof data.fraction === 'number') return Math.min(Math.max(data.fraction, 0), 1);
  if (typeof data.percent === 'number') return Math.min(Math.max(data.percent / 100, 0), 1);
  const done = ['done', 'step', 'current', 'n'].map((k) => data[k]).find((v) => typeof v === 'number');
  const total = ['total', 'of', 'steps', 'count'].map((k) => data[k]).find((v) => typeof v === 'number');
  if (typeof done === 'number' && typeof total === 'number' && total > 0) return Math.min(Math.max(done / total, 0), 1);
  return null;
}

function json(value) {
  return JSON.stringify(value, null, 2) ?? 'null';
}

function facts(task) {
  return h('dl', { class: 'facts' },
    h('dt', {}, 'Status'), h('dd', { class: 'task-status' }, badge(task.status)),
    h('dt', {}, 'Type'), h('dd', {}, h('code', {}, task.type)),
    h('dt', {}, 'Priority'), h('dd', {}, String(task.priority)),
    h('dt', {}, 'Attempts'), h('dd', {}, `${fmtInt(task.attempts)} of ${fmtInt(task.max_attempts)}`),
    h('dt', {}, 'Timeout'), h('dd', {}, `${fmtInt(task.timeout_s)} s`),
    h('dt', {}, 'Instance'), h('dd', {}, task.instance_id
      ? h('a', { href: '#/instances', title: `instance ${task.instance_id}` }, String(task.instance_id).slice(0, 8)) : h('span', { class: 'muted' }, 'not assigned yet')),
    task.to ? [h('dt', {}, 'Sent to'), h('dd', {}, h('span', { class: 'mono' }, task.to))] : null,
    task.parent_id ? [h('dt', {}, 'Sub-task of'), h('dd', {}, taskLink({ id: task.parent_id }))] : null,
    h('dt', {}, 'Submitted'), h('dd', {}, fmtDate(task.created_at)),
    h('dt', {}, 'Assigned'), h('dd', {}, fmtDate(task.assigned_at)),
    h('dt', {}, 'Started'), h('dd', {}, fmtDate(task.started_at)),
    h('dt', {}, 'Finished'), h('dd', {}, fmtDate(task.finished_at)),
    h('dt', {}, 'Time'), h('dd', { class: 'task-time' }, taskDuration(task)));
}

function progressView(latest, final) {
  if (latest === null || latest === undefined) return h('p', { class: 'muted' }, final ? 'The agent reported no progress.' : 'No progress reported yet.');
  const fraction = progressFraction(latest);
  return h('div', {},
    fraction === null ? null : h('progress', { max: '100', value: String(Math.round(fraction * 100)), 'aria-label': 'Progress' }, `${Math.round(fraction * 100)} %`),
    fraction === null ? null : h('span', { class: 'progress-value' }, ` ${Math.round(fraction * 100)} %`),
    h('pre', { class: 'task-progress', 'aria-label': 'Latest progress report' }, json(latest)));
}

function outcomeView(task) {
  if (!TASK_FINAL.has(task.status)) {
    return h('p', { class: 'muted' }, `The task is ${task.status.replace(/_/g, ' ')}; its result appears here when it ends.`);
  }
  if (task.status === 'succeeded') return h('pre', { class: 'task-result', 'aria-label': 'Result' }, json(task.result));
  const what = { failed: 'The agent failed this task', timed_out: 'This task timed out', dead_lettered: 'This task was given up (dead-lettered)' }[task.status] || `This task ${task.status}`;
  return h('div', { class: 'failure', role: 'note', 'aria-label': 'Why this task did not succeed' },
    h('strong', {}, what),
    task.error ? h('pre', { class: 'failure-reason task-error' }, task.error) : h('p', {}, 'The server recorded no reason.'));
}

/** One line of the event log: its time, kind and data. */
function logLine(event) {
  const kind = String(event.type || 'event').replace(/^task\./, '');
  const detail = event.type === 'task.progress' ? json(event.data) : event.type === 'task.finished' ? event.status : event.status || '';
  return h('li', { 'data-kind': kind },
    h('time', { class: 'muted' }, new Date().toLocaleTimeString()), ' ', h('strong', {}, kind),
    detail ? [' ', h('code', {}, String(detail).length > 300 ? `${String(detail).slice(0, 299)}…` : String(detail))] : null);
}

export async function render(ctx) {
  const [id] = ctx.params;
  if (!me()) {
    add(ctx.main, h('h1', {}, 'Task'), h('p', {}, h('a', { href: `#/login?next=${encodeURIComponent(location.hash)}` }, 'Log in'), ' to see this task.'));
    return;
  }
  let task = await api(`/tasks/${encodeURIComponent(id)}`);
  if (!ctx.isCurrent()) return;
  let latest = task.progress ?? null;
  const factsHost = h('div', {}, facts(task));
  const progressHost = h('div', {}, progressView(latest, TASK_FINAL.has(task.status)));
  const outcomeHost = h('div', {}, outcomeView(task));
  const liveState = h('p', { class: 'muted live-state' }, TASK_FINAL.has(task.status) ? 'Finished.' : 'Connecting…');
  const log = h('ol', { class: 'events task-events', 'aria-label': 'Events received' });
  add(ctx.main,
    h('h1', {}, `Task ${String(task.id).slice(0, 8)} · ${task.type}`),
    h('p', { class: 'muted' }, h('a', { href: '#/tasks' }, 'All tasks'), ` · task ${task.id}`),
    factsHost,
    h('section', { 'aria-labelledby': 'task-payload' }, h('h2', { id: 'task-payload' }, 'Payload'), h('pre', { class: 'task-payload' }, json(task.payload))),
    h('section', { 'aria-labelledby': 'task-progress-heading' }, h('h2', { id: 'task-progress-heading' }, 'Progress'), liveState, progressHost,
      h('details', { class: 'task-log' }, h('summary', {}, 'Events received'), log)),
    h('section', { 'aria-labelledby': 'task-outcome-heading' }, h('h2', { id: 'task-outcome-heading' }, 'Result'), outcomeHost));

  const draw = () => {
    add(clear(factsHost), facts(task));
    add(clear(progressHost), progressView(latest, TASK_FINAL.has(task.status)));
    add(clear(outcomeHost), outcomeView(task));
  };
  if (TASK_FINAL.has(task.status)) return;

  let ended = false;
  let timer = null;
  let live = null;
  let fetching = false;
  const stop = () => {
    ended = true;
    clearTimeout(timer);
    if (live) live.close();
  };
  ctx.cleanup(stop);

  let again = false;
  let heard = false; // progress came by event: newer than the stored (throttled) one
  async function reload() {
    if (fetching) {
      again = true; // read once more when this read is done: it may predate the news
      return;
    }
    fetching = true;
    try {
      const fresh = await api(`/tasks/${encodeURIComponent(id)}`);
      if (!ctx.isCurrent() || ended) return;
      if (TASK_FINAL.has(task.status) && !TASK_FINAL.has(fresh.status)) return; // read before it ended
      task = fresh;
      if (!heard && task.progress !== null && task.progress !== undefined) latest = task.progress;
      draw();
      if (TASK_FINAL.has(task.status)) {
        liveState.textContent = 'Finished.';
        stop();
      }
    } catch (error) {
      if (ctx.isCurrent()) showError(error, 'Refreshing the task');
    } finally {
      fetching = false;
      if (again && !ended && ctx.isCurrent()) {
        again = false;
        reload();
      }
    }
  }

  let delay = POLL_MS;
  function poll() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      await reload();
      if (!ended && ctx.isCurrent()) poll();
    }, delay);
  }

  live = subscribe(`task:${task.id}`, (event) => {
    if (ended || !ctx.isCurrent()) return;
    if (event.type === 'dropped') {
      reload(); // some events were lost: read the task as stored
      return;
    }
    log.append(logLine(event));
    while (log.children.length > LOG_MAX) log.firstChild.remove();
    const status = String(event.type || '').replace(/^task\./, '');
    if (event.type === 'task.progress') {
      latest = event.data;
      heard = true;
      if (!['running', ...TASK_FINAL].includes(task.status)) task = { ...task, status: 'running' };
      draw();
    } else if (event.type === 'task.finished') {
      // The event carries status, result and error; the stored task has its times too.
      task = { ...task, status: event.status || task.status, result: event.result ?? task.result, error: event.error ?? task.error };
      draw();
      reload();
    } else if (['queued', 'assigned', 'running'].includes(status)) {
      task = { ...task, status };
      draw();
    }
  }, (state) => {
    if (ended) return;
    if (state === 'live') {
      liveState.textContent = 'Live: progress appears as the agent reports it.';
      delay = LIVE_POLL_MS; // in case an event is missed
      reload(); // it may have moved between the first read and the subscription
      poll();
    } else {
      delay = POLL_MS;
      liveState.textContent = state === 'login' ? 'Not live (log in again to follow it); refreshed every 2 s.' : 'Live updates interrupted; refreshed every 2 s.';
      poll();
    }
  });
}
