// Reads shared by several pages.

import { api, apiAll } from './api.js';

/** Platform-wide boards (GET /leaderboards/boards). */
export function boards() {
  return api('/leaderboards/boards');
}

/** A page of matches, newest first: filters {tournament_id, agent, status}, limit. */
export async function matches(filters = {}, limit = 20) {
  const query = new URLSearchParams({ limit: String(limit) });
  for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
  return (await api(`/matches?${query}`)).items;
}

/** Every scenario version. */
export function scenarios() {
  return apiAll('/scenarios');
}

/** Agent references entered in recent tournaments (built-ins and uploaded versions). */
export async function knownRefs() {
  const refs = new Set();
  const tournaments = await api('/tournaments?limit=100');
  for (const t of tournaments.items) for (const a of t.agents) refs.add(a);
  return refs;
}

/** Look a reference up: {kind: 'builtin'|'agent'|'other', user, name, version}. */
export function parseRef(ref) {
  if (ref.startsWith('builtin:')) return { kind: 'builtin', name: ref.slice(8) };
  const found = ref.match(/^agent:([^/]+)\/([^@]+)(?:@(.+))?$/);
  if (found) return { kind: 'agent', user: found[1], name: found[2], version: found[3] || null };
  return { kind: 'other', name: ref };
}
