// #/tasks : tasks for service agents: the queue's counts by status, the newest tasks with
// filters (?status=&type=), and the form to submit one (wait for it, or follow it live on
// its page). The list and the counts (GET /tasks/counts: one request, one GROUP BY) are
// polled every 3 s while shown, well under the per-user rate limit.

import { api } from '../api.js';
import { add, badge, clear, errorLine, field, fmtInt, h, showError, simpleTable, submitHandler, timeAgo } from '../dom.js';
import { canCreate, me } from '../session.js';

const REFRESH_MS = 3_000;
const LIMIT = 50;
const WAIT_S = 30;
export const TASK_STATES = ['queued', 'assigned', 'running', 'succeeded', 'failed', 'timed_out', 'dead_lettered'];
export const TASK_FINAL = new Set(['succeeded', 'failed', 'timed_out', 'dead_lettered']);

export function taskLink(task, text) {
  return h('a', { href: `#/tasks/${task.id}` }, text || String(task.id).slice(0, 8));
}

/** Seconds from start to finish ("0.42 s"), or how long it has waited so far. */
export function taskDuration(task) {
  const from = task.started_at || task.assigned_at || task.created_at;
  if (!from) return '—';
  const to = task.finished_at ? new Date(task.finished_at) : new Date();
  const seconds = Math.max(0, (to - new Date(from)) / 1000);
  const text = seconds < 10 ? seconds.toFixed(2) : seconds < 100 ? seconds.toFixed(1) : seconds.toFixed(0);
  return task.finished_at ? `${text} s` : `${text} s so far`;
}

/** A task's status badge, with its error's first line beside it when it did not succeed. */
export function taskStatus(task) {
  const shown = badge(task.status);
  if (!task.error || task.status === 'succeeded') return shown;
  shown.setAttribute('title', task.error);
  return h('span', { class: 'status-reason' }, shown, ' ', h('span', { class: 'failure-short', title: task.error }, errorLine(task.error, 60)));
}

function counts(totals, ctx) {
  const current = ctx.query.get('status') || '';
  return h('ul', { class: 'queue-counts task-counts', 'aria-label': 'Tasks by status' }, TASK_STATES.map((status) => {
    const query = new URLSearchParams(ctx.query);
    if (current === status) query.delete('status');
    else query.set('status', status);
    const text = query.toString();
    return h('li', { class: ['card', 'queue-count', current === status ? 'selected' : ''], 'data-count': status },
      h('span', { class: 'queue-value' }, fmtInt(totals[status])),
      h('a', { href: text ? `#/tasks?${text}` : '#/tasks', 'aria-current': current === status ? 'true' : null }, status.replace(/_/g, ' ')));
  }));
}

function taskTable(page, filtered) {
  return simpleTable({
    caption: `Tasks, newest first (${page.items.length} of ${fmtInt(page.total)})`,
    rows: page.items,
    empty: filtered ? 'No task matches these filters.' : 'No task yet: submit one with the form below (or devspark task submit echo --payload \'{"hi": 1}\').',
    columns: [
      { label: 'Task', render: (t) => h('span', { class: 'task-id' }, taskLink(t)) },
      { label: 'Type', render: (t) => h('code', {}, t.type) },
      { label: 'Status', render: (t) => taskStatus(t) },
      { label: 'Priority', render: (t) => String(t.priority), num: true },
      { label: 'Attempts', render: (t) => `${fmtInt(t.attempts)} / ${fmtInt(t.max_attempts)}`, num: true },
      { label: 'Submitted', render: (t) => timeAgo(t.created_at) },
      { label: 'Time', render: (t) => taskDuration(t), num: true },
    ],
  });
}

/** Parse the payload field: empty is null; anything else must be JSON. */
function parsePayload(text) {
  if (!text.trim()) return null;
  try {
    return JSON.parse(text);
  } catch (error) {
    const failure = new Error(`The payload is not JSON: ${error.message}`);
    failure.code = 'invalid_json';
    throw failure;
  }
}

function submitForm(ctx, onSubmitted) {
  const listId = 'task-types';
  const types = new Set();
  const datalist = h('datalist', { id: listId });
  const suggest = (more) => {
    const before = types.size;
    for (const t of more) types.add(t);
    if (types.size !== before) clear(datalist).append(...[...types].sort().map((t) => h('option', { value: t })));
  };
  const type = h('input', { type: 'text', name: 'type', required: true, list: listId, placeholder: 'echo', autocomplete: 'off', spellcheck: 'false' });
  if (ctx.query.get('type')) type.value = ctx.query.get('type');
  const payload = h('textarea', { name: 'payload', rows: '4', spellcheck: 'false', class: 'mono', placeholder: '{"text": "hello"}' });
  const wait = h('input', { type: 'checkbox', name: 'wait', id: 'task-wait' });
  const priority = h('input', { type: 'number', name: 'priority', min: '1', max: '10', placeholder: '5' });
  const timeout = h('input', { type: 'number', name: 'timeout_s', min: '1', max: '3600', placeholder: '30' });
  const to = h('input', { type: 'text', name: 'to', placeholder: 'any instance', spellcheck: 'false', autocomplete: 'off' });
  const submit = h('button', { type: 'submit' }, 'Submit task');
  const outcome = h('div', { class: 'task-outcome', 'aria-live': 'polite' });
  async function send() {
    clear(outcome);
    const body = { type: type.value.trim(), payload: parsePayload(payload.value) };
    if (priority.value) body.priority = Number(priority.value);
    if (timeout.value) body.timeout_s = Number(timeout.value);
    if (to.value.trim()) body.to = to.value.trim();
    const waiting = wait.checked;
    if (waiting) submit.textContent = `Waiting (up to ${WAIT_S} s)…`;
    let task;
    try {
      task = await api(waiting ? `/tasks?wait=${WAIT_S}` : '/tasks', { method: 'POST', json: body });
    } finally {
      submit.textContent = 'Submit task';
    }
    if (!waiting || !TASK_FINAL.has(task.status)) {
      ctx.navigate(`#/tasks/${task.id}`); // its page follows it live
      return;
    }
    add(outcome, h('h3', {}, 'Task ', taskLink(task), ' ', badge(task.status)),
      task.status === 'succeeded'
        ? h('pre', { class: 'task-result', 'aria-label': 'Result' }, JSON.stringify(task.result, null, 2))
        : h('pre', { class: 'failure-reason task-error', 'aria-label': 'Error' }, task.error || 'No reason recorded.'));
    await onSubmitted();
  }
  const problem = h('p', { class: 'form-error' });
  const form = h('form', { class: 'stack panel', 'aria-labelledby': 'submit-task', onsubmit: submitHandler(submit, send, 'Submit task', problem) },
  h('h2', { id: 'submit-task' }, 'Submit a task'),
  field('Task type', type, 'One a running instance handles: echo, connect_four.best_move, …'),
  datalist,
  field('Payload (JSON)', payload, 'Any JSON value, 256 KiB at most; empty sends null.'),
  h('div', { class: 'checks' }, h('label', { for: 'task-wait' }, wait, `Wait for the result (up to ${WAIT_S} s)`)),
  h('details', { class: 'more-options' }, h('summary', {}, 'More options'),
    h('div', { class: 'stack-inner' },
      field('Priority (1–10)', priority, 'Higher first; 5 by default.'),
      field('Timeout (seconds)', timeout, '30 by default, at most 3600.'),
      field('Instance', to, 'An instance id, to send it to that one only.'))),
  h('div', {}, submit),
  problem,
  outcome);
  return { form, suggest };
}

function filters(ctx) {
  const status = h('select', { name: 'status' }, ['', ...TASK_STATES].map((v) => h('option', { value: v }, v ? v.replace(/_/g, ' ') : 'any')));
  status.value = ctx.query.get('status') || '';
  const type = h('input', { type: 'search', name: 'type', value: ctx.query.get('type') || '', placeholder: 'echo', spellcheck: 'false' });
  const go = () => {
    const query = new URLSearchParams();
    if (status.value) query.set('status', status.value);
    if (type.value.trim()) query.set('type', type.value.trim());
    const text = query.toString();
    ctx.navigate(text ? `#/tasks?${text}` : '#/tasks');
  };
  status.addEventListener('change', go);
  return h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Filter tasks', onsubmit: (event) => { event.preventDefault(); go(); } },
    field('Status', status), field('Type', type), h('div', {}, h('button', { type: 'submit', class: 'secondary' }, 'Filter')));
}

export async function render(ctx) {
  add(ctx.main,
    h('h1', {}, 'Tasks'),
    h('p', { class: 'muted' }, `Work for service agents: a task of a type goes to an instance that handles it (see Instances). Refreshed every ${REFRESH_MS / 1000} s.`));
  if (!me()) {
    add(ctx.main, h('p', {}, h('a', { href: `#/login?next=${encodeURIComponent(location.hash)}` }, 'Log in'), ' to see the tasks and submit some.'));
    return;
  }
  const countsBody = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  const listBody = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  const submitter = canCreate() ? submitForm(ctx, () => refresh({ withCounts: true })) : null;
  add(ctx.main,
    h('section', { 'aria-labelledby': 'tasks-queue' }, h('h2', { id: 'tasks-queue' }, 'Queue'), countsBody),
    h('section', { 'aria-labelledby': 'tasks-list' }, h('h2', { id: 'tasks-list' }, 'Tasks'), filters(ctx), listBody),
    submitter ? submitter.form : h('p', { class: 'muted' }, 'Submitting tasks needs the user or admin role (or an API key of the agent role).'));

  const query = new URLSearchParams({ limit: String(LIMIT) });
  for (const key of ['status', 'type']) if (ctx.query.get(key)) query.set(key, ctx.query.get(key));
  const typeQuery = ctx.query.get('type') ? `?type=${encodeURIComponent(ctx.query.get('type'))}` : '';
  let failing = false;

  async function refreshCounts() {
    const totals = await api(`/tasks/counts${typeQuery}`);
    if (!ctx.isCurrent()) return;
    clear(countsBody).append(counts(totals, ctx));
    countsBody.removeAttribute('aria-busy');
  }

  async function refresh({ withCounts = false } = {}) {
    if (document.hidden && !withCounts) return; // a tab in the background asks for nothing
    try {
      const [page] = await Promise.all([api(`/tasks?${query}`), refreshCounts()]);
      if (!ctx.isCurrent()) return;
      clear(listBody).append(taskTable(page, query.has('status') || query.has('type')));
      listBody.removeAttribute('aria-busy');
      if (submitter) submitter.suggest(page.items.map((t) => t.type));
      failing = false;
    } catch (error) {
      if (!ctx.isCurrent()) return;
      if (!failing) {
        showError(error, 'Tasks');
        for (const body of [countsBody, listBody]) {
          if (!body.hasAttribute('aria-busy')) continue;
          clear(body).append(h('p', { class: 'muted' }, 'Not available (see the error above).'));
          body.removeAttribute('aria-busy');
        }
      }
      failing = true;
    }
  }
  if (submitter) {
    // The task types running instances handle, once (the list adds those it shows).
    api('/instances?limit=200').then((page) => {
      if (ctx.isCurrent()) submitter.suggest(page.items.filter((i) => i.desired !== 'stopped').flatMap((i) => i.handles || []));
    }).catch(() => {}); // suggestions only: the form works without them
  }
  await refresh({ withCounts: true });
  const timer = setInterval(refresh, REFRESH_MS);
  ctx.cleanup(() => clearInterval(timer));
}
