// Who is logged in, and what their role lets them do (mirrors services/accounts.can).
//
// viewer: read only; user: create (upload agents, create tournaments) and change what
// they own; agent: read; admin: everything. The server enforces all of it; the dashboard
// only avoids offering what would be refused.

import { accessToken, api, clearTokens, refreshToken, setTokens } from './api.js';

let current = null;

export function me() {
  return current;
}

/** Load the account behind the stored token (null when logged out). */
export async function loadMe() {
  if (!accessToken()) {
    current = null;
    return null;
  }
  try {
    current = await api('/users/me');
  } catch (error) {
    current = null;
    if (error.status !== 401) throw error;
  }
  return current;
}

export async function login(username, password) {
  const pair = await api('/auth/login', { method: 'POST', json: { username, password } });
  setTokens(pair);
  return loadMe();
}

export async function logout() {
  const token = refreshToken();
  try {
    if (token) await api('/auth/logout', { method: 'POST', json: { refresh_token: token } });
  } finally {
    clearTokens();
    current = null;
  }
}

export function forget() {
  current = null;
}

export function role() {
  return current ? current.role : null;
}

/** May create things: upload agents, create tournaments. */
export function canCreate() {
  return role() === 'user' || role() === 'admin';
}

/** May change a resource owned by ownerId (its owner with role user, or an admin). */
export function canChange(ownerId) {
  if (role() === 'admin') return true;
  return role() === 'user' && current.id === ownerId;
}

export function isAdmin() {
  return role() === 'admin';
}
