// #/login: username and password; tokens go to sessionStorage (see api.js).

import { add, field, guarded, h, notify } from '../dom.js';
import { login } from '../session.js';

export async function render(ctx) {
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit' }, 'Log in');
  const next = ctx.query.get('next');
  const form = h('form', {
    class: 'stack',
    onsubmit: (event) => {
      event.preventDefault();
      guarded(submit, async () => {
        const user = await login(username.value.trim(), password.value);
        ctx.refreshNav();
        notify(`Logged in as ${user.username} (${user.role}).`);
        ctx.navigate(next && next.startsWith('#/') && !next.startsWith('#/login') ? next : '#/');
      }, 'Log in');
    },
  },
  field('Username', username),
  field('Password', password),
  h('div', {}, submit));
  if (ctx.query.get('expired')) notify('Your session has ended; log in again.', 'info');
  add(ctx.main, 
    h('h1', {}, 'Log in'),
    form,
    h('p', {}, 'No account yet? ', h('a', { href: '#/register' }, 'Register')));
}
