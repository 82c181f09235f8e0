// #/keys: the caller's API keys; a new key's secret is shown once.

import { api, apiAll } from '../api.js';
import { add, clear, field, fmtDate, guarded, h, notify, simpleTable } from '../dom.js';
import { me } from '../session.js';

export async function render(ctx) {
  add(ctx.main, h('h1', {}, 'API keys'));
  if (!me()) {
    add(ctx.main, h('p', {}, h('a', { href: '#/login?next=' + encodeURIComponent('#/keys') }, 'Log in'), ' to manage your API keys.'));
    return;
  }
  const listHost = h('div');
  const secretHost = h('div', { 'aria-live': 'polite' });

  async function refresh() {
    const keys = await apiAll('/users/me/api-keys');
    add(clear(listHost), simpleTable({
      caption: 'Your keys (secrets are never shown again)',
      rows: keys,
      empty: 'No API keys yet.',
      columns: [
        { label: 'Name', render: (k) => k.name },
        { label: 'Prefix', render: (k) => h('code', {}, `dsk_${k.prefix}_…`) },
        { label: 'Scopes', render: (k) => k.scopes.join(', ') || '—' },
        { label: 'Created', render: (k) => fmtDate(k.created_at) },
        { label: 'Last used', render: (k) => fmtDate(k.last_used_at) },
        {
          label: 'Actions',
          render: (k) => (k.revoked_at ? `revoked ${fmtDate(k.revoked_at)}`
            : h('button', {
              type: 'button',
              class: 'small danger',
              'aria-label': `Revoke key ${k.name}`,
              onclick: (event) => guarded(event.currentTarget, async () => {
                if (!window.confirm(`Revoke the key "${k.name}"? Programs using it stop working.`)) return;
                await api(`/users/me/api-keys/${k.id}`, { method: 'DELETE' });
                notify(`Key "${k.name}" revoked.`);
                await refresh();
              }, 'Revoke key'),
            }, 'Revoke')),
        },
      ],
    }));
  }

  // The scopes come from the server (GET /users/me/api-keys/scopes): the list the routes check.
  const presets = await api('/users/me/api-keys/scopes');
  if (!ctx.isCurrent()) return;
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: '128' });
  const checks = presets.map(({ scope, allows }) => h('label', { title: allows },
    h('input', { type: 'checkbox', name: 'scope', value: scope }), scope,
    h('span', { class: 'muted scope-allows' }, ` (${allows})`)));
  const extra = h('input', { type: 'text', name: 'extra_scopes', placeholder: 'resource:verb, ...' });
  const submit = h('button', { type: 'submit' }, 'Create key');
  const form = h('form', {
    class: 'stack',
    onsubmit: (event) => {
      event.preventDefault();
      guarded(submit, async () => {
        const scopes = [...form.querySelectorAll('input[name=scope]:checked')].map((c) => c.value)
          .concat(extra.value.split(',').map((x) => x.trim()).filter(Boolean));
        const created = await api('/users/me/api-keys', { method: 'POST', json: { name: name.value.trim(), scopes } });
        const secret = h('input', { type: 'text', readonly: true, value: created.key, 'aria-label': 'New API key' });
        add(clear(secretHost), h('div', { class: 'panel' },
          h('h2', {}, `Key "${created.name}" created`),
          h('p', {}, 'Copy it now: it is shown this once.'),
          h('div', { class: 'secret' }, secret,
            h('button', { type: 'button', class: 'secondary', onclick: () => { secret.select(); } }, 'Select'))));
        secret.focus();
        secret.select();
        form.reset();
        await refresh();
      }, 'Create key');
    },
  },
  field('Name', name, 'A label, e.g. "ci".'),
  h('fieldset', { class: 'field' }, h('legend', {}, 'Scopes'), h('div', { class: 'checks scopes' }, checks)),
  field('More scopes (comma separated)', extra, 'Scopes narrow what the key may do; they never widen your role.'),
  h('div', {}, submit));

  add(ctx.main, secretHost, listHost, h('h2', {}, 'New key'), form);
  await refresh();
}
