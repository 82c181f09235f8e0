// #/register: a new account (role user), then logged in.

import { api } from '../api.js';
import { add, field, guarded, h, notify } from '../dom.js';
import { login } from '../session.js';

export async function render(ctx) {
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, minlength: '3', maxlength: '64', pattern: '[A-Za-z0-9_.\\-]{3,64}' });
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'email' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
  const submit = h('button', { type: 'submit' }, 'Create account');
  const form = h('form', {
    class: 'stack',
    onsubmit: (event) => {
      event.preventDefault();
      guarded(submit, async () => {
        const body = { username: username.value.trim(), password: password.value };
        if (email.value.trim()) body.email = email.value.trim();
        await api('/auth/register', { method: 'POST', json: body });
        const user = await login(body.username, body.password);
        ctx.refreshNav();
        notify(`Welcome, ${user.username}: your account is ready.`);
        ctx.navigate('#/');
      }, 'Registration');
    },
  },
  field('Username', username, '3 to 64 characters: letters, digits, _ . -'),
  field('Email (optional)', email),
  field('Password', password, 'At least 8 characters.'),
  h('div', {}, submit));
  add(ctx.main, 
    h('h1', {}, 'Register'),
    form,
    h('p', {}, 'Already registered? ', h('a', { href: '#/login' }, 'Log in')));
}
