// #/workers : the worker processes (devspark worker, or the one a server embeds) with
// their state and heartbeat, and the queue's counts; polled every 2 s while shown.

import { api } from '../api.js';
import { add, badge, clear, fmtInt, h, showError, simpleTable } from '../dom.js';

const REFRESH_MS = 2_000;
const LIMIT = 200;

/** "4 s ago" from the server's heartbeat time, against the browser's clock. */
function heartbeatAge(value) {
  const seconds = Math.max(0, Math.round((Date.now() - new Date(value).getTime()) / 1000));
  const text = seconds < 60 ? `${seconds} s ago` : seconds < 3600 ? `${Math.round(seconds / 60)} min ago` : `${Math.round(seconds / 3600)} h ago`;
  return h('time', { datetime: value, title: new Date(value).toLocaleString() }, text);
}

function queueCounts(queue) {
  const count = (label, value, key) => h('div', { class: 'card queue-count', 'data-count': key },
    h('span', { class: 'queue-value' }, fmtInt(value)), h('span', { class: 'muted' }, label));
  return h('div', { class: 'queue-counts' },
    count('queued', queue.queued, 'queued'),
    count('running', queue.running, 'running'),
    count('finished in the last minute', queue.finished_last_minute, 'finished_last_minute'));
}

function workerTable(page) {
  return simpleTable({
    caption: page.total > page.items.length ? `${page.items.length} of ${page.total} workers` : null,
    rows: page.items,
    empty: 'No worker has registered yet: start one with devspark worker (devspark serve embeds one).',
    columns: [
      { label: 'Name', render: (w) => h('span', { class: 'worker-name' }, w.name) },
      { label: 'Host', render: (w) => `${w.host} (pid ${w.pid})` },
      { label: 'State', render: (w) => badge(w.state) },
      { label: 'Heartbeat', render: (w) => heartbeatAge(w.heartbeat_at) },
      { label: 'In flight', render: (w) => `${fmtInt(w.in_flight)} / ${fmtInt(w.slots)}`, num: true },
      { label: 'Matches played', render: (w) => fmtInt(w.matches_played), num: true },
    ],
  });
}

export async function render(ctx) {
  const queueBody = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  const workersBody = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  add(ctx.main,
    h('h1', {}, 'Workers'),
    h('p', { class: 'muted' }, `Processes that play queued matches and tournaments. A worker silent for longer than its lease (15 s by default) is offline. Refreshed every ${REFRESH_MS / 1000} s.`),
    h('section', { 'aria-labelledby': 'workers-queue', class: 'workers' }, h('h2', { id: 'workers-queue' }, 'Queue'), queueBody),
    h('section', { 'aria-labelledby': 'workers-list', class: 'workers' }, h('h2', { id: 'workers-list' }, 'Workers'), workersBody));

  let failing = false;
  async function refresh() {
    try {
      const [queue, page] = await Promise.all([api('/queue'), api(`/workers?limit=${LIMIT}`)]);
      if (!ctx.isCurrent()) return;
      clear(queueBody).append(queueCounts(queue));
      clear(workersBody).append(workerTable(page));
      queueBody.removeAttribute('aria-busy');
      workersBody.removeAttribute('aria-busy');
      failing = false;
    } catch (error) {
      if (!ctx.isCurrent()) return;
      if (!failing) showError(error, 'Workers'); // once per failure streak, not every 2 s
      failing = true;
    }
  }
  await refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  ctx.cleanup(() => clearInterval(timer));
}
