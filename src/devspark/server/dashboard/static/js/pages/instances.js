// #/instances : running service agents (instances), with their state, load and last
// heartbeat, the form to start more and a stop button; and the graph of who asked whom
// (GET /instances/graph). Polled every 2 s while shown; filters ?capability=&state=.

import { api } from '../api.js';
import { add, agentLink, badge, clear, errorLine, field, fmtInt, guarded, h, notify, s, showError, simpleTable, submitHandler, timeAgo } from '../dom.js';
import { interactionGraph } from '../graph.js';
import { canCreate, me } from '../session.js';

const REFRESH_MS = 2_000;
const GRAPH_EVERY = 5; // refreshes between two reads of the graph (10 s)
const GRAPH_SINCE_S = 3600;
const LIMIT = 200;
export const INSTANCE_STATES = ['registered', 'deploying', 'online', 'busy', 'idle', 'offline', 'error', 'maintenance'];
/** Service agents that ship with DevSpark (suggestions only: any reference may be typed). */
const BUILTIN_SERVICES = ['builtin:echo', 'builtin:echo-js', 'builtin:connect-four-alphabeta'];

/** Load (0..1) as a bar with its percentage; amber from 80 %. */
function loadBar(load) {
  const value = Math.min(Math.max(Number(load) || 0, 0), 1);
  const percent = Math.round(value * 100);
  return h('span', { class: 'load' },
    s('svg', { class: ['load-bar', value >= 0.8 ? 'high' : ''], viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
      s('rect', { class: 'load-track', x: 0, y: 0, width: 100, height: 10 }),
      s('rect', { class: 'load-fill', x: 0, y: 0, width: percent, height: 10 })),
    h('span', { class: 'load-value' }, `${percent} %`));
}

function stateCell(instance) {
  const shown = badge(instance.state);
  const draining = instance.desired === 'stopped' && !['offline', 'error'].includes(instance.state);
  const parts = [shown];
  if (draining) parts.push(' ', h('span', { class: 'muted' }, 'stopping'));
  if (instance.error) {
    shown.setAttribute('title', instance.error);
    parts.push(h('div', { class: 'failure-short', title: instance.error }, errorLine(instance.error)));
  }
  if (instance.state === 'error' && instance.retry_at && instance.desired !== 'stopped') {
    // A failed placement waits (with backoff) before a worker tries it again.
    parts.push(h('div', { class: 'muted retry-at' }, 'retried after ', h('time', { datetime: instance.retry_at }, new Date(instance.retry_at).toLocaleTimeString())));
  }
  return h('span', { class: 'status-reason' }, parts);
}

function stopButton(instance, refresh) {
  if (!canCreate()) return '—';
  if (instance.owner_id && me() && me().role !== 'admin' && instance.owner_id !== me().id) return '—';
  const stopped = instance.desired === 'stopped';
  const button = h('button', {
    type: 'button',
    class: 'small secondary',
    disabled: stopped,
    'aria-label': `Stop instance ${instance.id.slice(0, 8)} of ${instance.agent}`,
    onclick: () => guarded(button, async () => {
      const after = await api(`/instances/${instance.id}`, { method: 'DELETE' });
      notify(`Instance ${instance.id.slice(0, 8)} of ${instance.agent} is ${after.state === 'offline' ? 'stopped' : 'draining, then stops'}.`);
      await refresh();
    }, 'Stop instance'),
  }, stopped ? 'Stopping' : 'Stop');
  return button;
}

function instanceTable(page, refresh, filtered) {
  return h('div', { class: 'instances-table' }, simpleTable({
    caption: page.total > page.items.length ? `${page.items.length} of ${page.total} instances` : `Instances (${page.total})`,
    rows: page.items,
    empty: filtered ? 'No instance matches these filters.' : 'No instance yet: start one with the form below (or devspark instances start builtin:echo).',
    columns: [
      { label: 'Agent', render: (i) => h('span', { class: 'instance-agent', 'data-instance': i.id, title: `instance ${i.id}` }, agentLink(i.agent),
        i.version && !String(i.agent).includes('@') ? h('span', { class: 'muted' }, ` ${i.version}`) : null) },
      { label: 'Handles', render: (i) => h('span', { class: 'handles' }, (i.handles || []).map((t, n) => [n ? ' ' : '', h('code', {}, t)])) },
      { label: 'State', render: (i) => stateCell(i) },
      { label: 'Load', render: (i) => loadBar(i.load) },
      { label: 'In flight', render: (i) => `${fmtInt(i.in_flight)} / ${fmtInt(i.concurrency)}`, num: true },
      { label: 'Done / failed', render: (i) => `${fmtInt(i.tasks_done)} / ${fmtInt(i.tasks_failed)}`, num: true },
      { label: 'Restarts', render: (i) => fmtInt(i.restarts), num: true },
      { label: 'Heartbeat', render: (i) => (i.heartbeat_at ? timeAgo(i.heartbeat_at) : h('span', { class: 'muted' }, 'none yet')) },
      { label: 'Stop', render: (i) => stopButton(i, refresh) },
    ],
  }));
}

/** The start form; `suggest(refs)` adds agent references to its suggestions. */
function startForm(refresh) {
  const listId = 'service-agents';
  const known = new Set(BUILTIN_SERVICES);
  const datalist = h('datalist', { id: listId });
  const suggest = (refs) => {
    const before = known.size;
    for (const ref of refs) known.add(ref);
    if (known.size !== before || !datalist.firstChild) clear(datalist).append(...[...known].sort().map((ref) => h('option', { value: ref })));
  };
  suggest([]);
  const agent = h('input', { type: 'text', name: 'agent', required: true, list: listId, placeholder: 'builtin:echo', autocomplete: 'off', spellcheck: 'false' });
  const replicas = h('input', { type: 'number', name: 'replicas', min: '1', max: '64', value: '1', required: true });
  const submit = h('button', { type: 'submit' }, 'Start instances');
  async function start() {
    const body = { agent: agent.value.trim(), replicas: Number(replicas.value || 1) };
    const answer = await api('/instances', { method: 'POST', json: body });
    const started = (answer && answer.instances) || [];
    notify(`Started ${started.length} ${started.length === 1 ? 'instance' : 'instances'} of ${body.agent}.`);
    await refresh({ graph: false });
  }
  const problem = h('p', { class: 'form-error' });
  const form = h('form', { class: 'stack panel', 'aria-labelledby': 'start-instances', onsubmit: submitHandler(submit, start, 'Start instances', problem) },
  h('h2', { id: 'start-instances' }, 'Start instances'),
  field('Service agent', agent, 'builtin:NAME or agent:USER/NAME[@VERSION]; its manifest needs a [service] table.'),
  datalist,
  field('Replicas', replicas, '1 to 64; each runs the agent\u2019s concurrency in sandboxed processes.'),
  h('div', {}, submit),
  problem);
  return { form, suggest };
}

/** Redraw `host` with `content`, keeping keyboard focus on the control of the same name. */
function redraw(host, content) {
  const focused = host.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
  clear(host).append(content);
  if (focused) {
    const again = [...host.querySelectorAll('[aria-label]')].find((el) => el.getAttribute('aria-label') === focused);
    if (again) again.focus();
  }
}

function filters(ctx) {
  const capability = h('input', { type: 'search', name: 'capability', value: ctx.query.get('capability') || '', placeholder: 'echo', spellcheck: 'false' });
  const state = h('select', { name: 'state' }, ['', ...INSTANCE_STATES].map((v) => h('option', { value: v }, v || 'any')));
  state.value = ctx.query.get('state') || '';
  const go = () => {
    const query = new URLSearchParams();
    if (capability.value.trim()) query.set('capability', capability.value.trim());
    if (state.value) query.set('state', state.value);
    const text = query.toString();
    ctx.navigate(text ? `#/instances?${text}` : '#/instances');
  };
  state.addEventListener('change', go);
  const form = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Filter instances', onsubmit: (event) => { event.preventDefault(); go(); } },
    field('Handles task type', capability), field('State', state), h('div', {}, h('button', { type: 'submit', class: 'secondary' }, 'Filter')));
  return form;
}

export async function render(ctx) {
  add(ctx.main,
    h('h1', {}, 'Instances'),
    h('p', { class: 'muted' }, `Service agents running on the workers: each instance takes tasks of the types it handles (see Tasks). Refreshed every ${REFRESH_MS / 1000} s.`));
  if (!me()) {
    add(ctx.main, h('p', {}, h('a', { href: `#/login?next=${encodeURIComponent(location.hash)}` }, 'Log in'), ' to see the instances and start some.'));
    return;
  }
  const listBody = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  const graphBody = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  const start = canCreate() ? startForm((options) => refresh(options)) : null;
  const formHost = h('div', {}, start ? start.form : h('p', { class: 'muted' }, 'Starting and stopping instances needs the user or admin role.'));
  add(ctx.main,
    filters(ctx),
    h('section', { 'aria-labelledby': 'instances-list', class: 'instances' }, h('h2', { id: 'instances-list', class: 'visually-hidden' }, 'Instances'), listBody),
    formHost,
    h('section', { 'aria-labelledby': 'instances-graph' }, h('h2', { id: 'instances-graph' }, 'Who asked whom'),
      h('p', { class: 'muted' }, 'Tasks in the last hour: from the API\u2019s users to instances, and from an instance to those that ran the sub-tasks it submitted.'),
      graphBody));

  const query = new URLSearchParams({ limit: String(LIMIT) });
  for (const key of ['capability', 'state']) if (ctx.query.get(key)) query.set(key, ctx.query.get(key));
  let failing = false;
  let graphFailing = false;
  let rounds = 0;
  let lastGraph = null;

  async function refreshGraph() {
    try {
      const graph = await api(`/instances/graph?since_s=${GRAPH_SINCE_S}`);
      if (!ctx.isCurrent()) return;
      const text = JSON.stringify(graph);
      if (text !== lastGraph) {
        lastGraph = text;
        clear(graphBody).append(interactionGraph(graph, {
          caption: 'Tasks between users and instances',
          kindLabel: 'Kind',
          empty: 'No task has run in the last hour.',
        }));
      }
      graphBody.removeAttribute('aria-busy');
      graphFailing = false;
    } catch (error) {
      if (!ctx.isCurrent()) return;
      if (!graphFailing) {
        showError(error, 'Instance graph');
        clear(graphBody).append(h('p', { class: 'muted' }, 'Not available (see the error above).'));
        graphBody.removeAttribute('aria-busy');
      }
      graphFailing = true;
    }
  }

  async function refresh({ graph = null } = {}) {
    if (document.hidden && graph === null) return; // a tab in the background asks for nothing
    const withGraph = graph ?? rounds % GRAPH_EVERY === 0;
    rounds += 1;
    try {
      const page = await api(`/instances?${query}`);
      if (!ctx.isCurrent()) return;
      redraw(listBody, instanceTable(page, refresh, query.has('capability') || query.has('state')));
      listBody.removeAttribute('aria-busy');
      failing = false;
      if (start) start.suggest(page.items.map((i) => i.agent));
    } catch (error) {
      if (!ctx.isCurrent()) return;
      if (!failing) {
        showError(error, 'Instances'); // once per failure streak, not every 2 s
        clear(listBody).append(h('p', { class: 'muted' }, 'Not available (see the error above).'));
        listBody.removeAttribute('aria-busy');
      }
      failing = true;
    }
    if (withGraph) await refreshGraph();
  }
  await refresh({ graph: true });
  const timer = setInterval(refresh, REFRESH_MS);
  ctx.cleanup(() => clearInterval(timer));
}
