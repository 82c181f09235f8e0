// #/tournaments : every tournament (newest first), and the form to create one.

import { api, apiAll } from '../api.js';
import { add, clear, field, guarded, h, notify, simpleTable, statusWithReason, timeAgo, tournamentLink, tournamentProgress } from '../dom.js';
import { knownRefs, scenarios } from '../data.js';
import { canCreate, me } from '../session.js';

export const FORMATS = ['round_robin', 'swiss', 'single_elimination', 'double_elimination', 'gauntlet', 'ladder'];
const ISOLATION = ['sandbox', 'process', 'gvisor', 'trusted'];

async function myRefs() {
  const user = me();
  const refs = [];
  const agents = await apiAll(`/agents?owner_id=${user.id}`, { max: 50 });
  for (const agent of agents) {
    const versions = await apiAll(`/agents/${agent.id}/versions`);
    for (const v of versions) {
      if (!v.deprecated) refs.push({ ref: `${agent.ref || `agent:${user.username}/${agent.name}`}@${v.version}`, state: v.lifecycle_state });
    }
  }
  return refs;
}

function label(format) {
  return format.replace(/_/g, ' ');
}

async function createForm(ctx) {
  const [scenarioList, builtins, own] = await Promise.all([scenarios(), knownRefs(), myRefs()]);
  const scenario = h('select', { name: 'scenario', required: true },
    scenarioList.map((sc) => h('option', { value: sc.full_id }, `${sc.id} v${sc.version} (${sc.players[0] === sc.players[1] ? sc.players[0] : `${sc.players[0]}–${sc.players[1]}`} players)`)));
  const format = h('select', { name: 'format' }, FORMATS.map((f) => h('option', { value: f }, label(f))));
  const rounds = h('input', { type: 'number', name: 'rounds', min: '1', max: '100', placeholder: 'default' });
  const seed = h('input', { type: 'number', name: 'seed', min: '0', value: '0' });
  const isolation = h('select', { name: 'isolation' }, ISOLATION.map((i) => h('option', { value: i }, i)));
  const extra = h('textarea', { name: 'extra_agents', rows: '2', placeholder: 'builtin:minimax\nagent:ada/greedy-bot@1.0.0' });
  const startNow = h('input', { type: 'checkbox', name: 'start', checked: true, id: 'start-now' });
  // An own version entered in a recent tournament is listed once, with its state.
  const ownRefs = new Set(own.map(({ ref }) => ref));
  const others = [...builtins].filter((ref) => !ownRefs.has(ref)).sort();
  const choices = [...others.map((ref) => ({ ref, state: null })), ...own];
  const boxes = choices.map(({ ref, state }) => h('label', {},
    h('input', { type: 'checkbox', name: 'agent', value: ref }),
    ref, state && !['online', 'idle', 'busy'].includes(state) ? h('span', { class: 'muted' }, ` (${state}: start it first)`) : null));
  const submit = h('button', { type: 'submit' }, 'Create tournament');
  const form = h('form', {
    class: 'stack panel',
    onsubmit: (event) => {
      event.preventDefault();
      guarded(submit, async () => {
        const agents = [...form.querySelectorAll('input[name=agent]:checked')].map((c) => c.value)
          .concat(extra.value.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean));
        const body = { scenario: scenario.value, format: format.value, agents, seed: Number(seed.value || 0), isolation: isolation.value };
        if (rounds.value) body.rounds = Number(rounds.value);
        let tournament = await api('/tournaments', { method: 'POST', json: body });
        if (startNow.checked) tournament = await api(`/tournaments/${tournament.id}/start`, { method: 'POST' });
        notify(`Tournament created${startNow.checked ? ' and started' : ''}.`);
        ctx.navigate(`#/tournaments/${tournament.id}`);
      }, 'Create tournament');
    },
  },
  h('h2', {}, 'New tournament'),
  field('Scenario', scenario),
  field('Format', format),
  h('fieldset', { class: 'field' }, h('legend', {}, 'Entrants'),
    boxes.length ? h('div', { class: 'checks column' }, boxes) : h('p', { class: 'muted' }, 'No known agent yet: type references below.')),
  field('More entrants (one reference per line)', extra, 'builtin:NAME or agent:USER/NAME@VERSION; an uploaded version must be started first.'),
  field('Rounds (legs, rounds or games per tie)', rounds),
  field('Seed', seed),
  field('Isolation', isolation),
  h('div', { class: 'checks' }, h('label', { for: 'start-now' }, startNow, 'Start it now')),
  h('div', {}, submit));
  return form;
}

export async function render(ctx) {
  add(ctx.main, h('h1', {}, 'Tournaments'));
  const status = ctx.query.get('status') || '';
  const filter = h('select', { name: 'status' }, ['', 'created', 'running', 'finished', 'cancelled', 'failed'].map((v) => h('option', { value: v }, v || 'any')));
  filter.value = status;
  filter.addEventListener('change', () => ctx.navigate(filter.value ? `#/tournaments?status=${filter.value}` : '#/tournaments'));
  const page = await api(`/tournaments?limit=100${status ? `&status=${status}` : ''}`);
  if (!ctx.isCurrent()) return;
  const formHost = h('div');
  add(ctx.main, h('div', { class: 'toolbar' }, field('Status', filter)), simpleTable({
    caption: `Tournaments, newest first (${page.total})`,
    rows: page.items,
    empty: 'No tournament yet.',
    columns: [
      { label: 'Tournament', render: (t) => tournamentLink(t) },
      { label: 'Status', render: (t) => statusWithReason(t) },
      { label: 'Entrants', render: (t) => String(t.agents.length), num: true },
      { label: 'Matches played', render: (t) => { const p = tournamentProgress(t); return `${p.done} / ${p.outOf}`; }, num: true },
      { label: 'Created', render: (t) => timeAgo(t.created_at) },
    ],
  }), formHost);
  if (canCreate()) add(clear(formHost), await createForm(ctx));
  else if (!me()) add(formHost, h('p', {}, h('a', { href: '#/login?next=' + encodeURIComponent('#/tournaments') }, 'Log in'), ' to create a tournament.'));
}
