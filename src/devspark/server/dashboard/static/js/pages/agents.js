// #/agents : every published agent, and (for users and admins) the upload form.

import { api, apiAll } from '../api.js';
import { add, field, fmtDate, guarded, h, notify, sortableTable } from '../dom.js';
import { canCreate, me } from '../session.js';

/** The upload form: POST (a new agent, or a new version named in the manifest) or PUT. */
export function uploadForm({ agentId = null, onDone, legend = 'Upload an agent' }) {
  const file = h('input', { type: 'file', name: 'file', accept: '.tar.gz,.tgz,.zip,application/gzip,application/zip', required: true });
  const submit = h('button', { type: 'submit' }, agentId ? 'Upload version' : 'Upload');
  const form = h('form', {
    class: 'stack panel',
    onsubmit: (event) => {
      event.preventDefault();
      guarded(submit, async () => {
        if (!file.files.length) throw new Error('Choose an archive first.');
        const body = new FormData();
        body.append('file', file.files[0]);
        const version = await api(agentId ? `/agents/${agentId}` : '/agents', { method: agentId ? 'PUT' : 'POST', form: body });
        notify(`Published version ${version.version} (licence ${version.license}, sha256 ${version.sha256.slice(0, 12)}…).`);
        form.reset();
        await onDone(version);
      }, 'Upload');
    },
  },
  h('h2', {}, legend),
  field('Agent archive (.tar.gz, .tgz or .zip)', file, 'With an agent.toml manifest (name, version, language, entrypoint, license); at most 16 MiB. See docs/agents.md.'),
  h('div', {}, submit));
  return form;
}

export async function render(ctx) {
  add(ctx.main, h('h1', {}, 'Agents'));
  const mine = ctx.query.get('mine') === '1' && me();
  const agents = await apiAll(mine ? `/agents?owner_id=${me().id}` : '/agents');
  if (!ctx.isCurrent()) return;
  if (canCreate()) {
    add(ctx.main, uploadForm({ onDone: (version) => ctx.navigate(`#/agents/${version.agent_id}`) }));
  } else if (!me()) {
    add(ctx.main, h('p', {}, h('a', { href: '#/login?next=' + encodeURIComponent('#/agents') }, 'Log in'), ' to upload an agent.'));
  }
  if (me()) {
    add(ctx.main, h('p', {}, mine ? h('a', { href: '#/agents' }, 'Show every agent') : h('a', { href: '#/agents?mine=1' }, 'Show only mine')));
  }
  add(ctx.main, sortableTable({
    caption: mine ? 'Your agents' : 'Published agents (built-in baselines are listed on the leaderboards)',
    rows: agents,
    sortKey: 'created_at',
    descending: true,
    empty: 'No agent has been published yet.',
    columns: [
      { key: 'name', label: 'Name', render: (a) => h('a', { href: `#/agents/${a.id}` }, a.name) },
      { key: 'owner', label: 'Owner' },
      { key: 'ref', label: 'Reference', render: (a) => h('code', {}, a.ref) },
      { key: 'description', label: 'Description' },
      { key: 'created_at', label: 'Published', render: (a) => fmtDate(a.created_at) },
    ],
  }));
}
