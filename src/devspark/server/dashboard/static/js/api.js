// HTTP client for /api/v1: bearer tokens kept in sessionStorage, one refresh on 401.
//
// Every failure becomes an ApiError carrying the server's {code, message,
// correlation_id}; callers show it (see dom.js showError), they never drop it.

const BASE = '/api/v1';
const ACCESS = 'devspark.access_token';
const REFRESH = 'devspark.refresh_token';

/** An error answered by the API (or a network failure, code "network"). */
export class ApiError extends Error {
  constructor(status, code, message, correlationId = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.correlationId = correlationId;
  }
}

let onSessionLost = () => {};

/** Register what happens when the session cannot be refreshed (go to the login page). */
export function setSessionLostHandler(handler) {
  onSessionLost = handler;
}

export function accessToken() {
  return sessionStorage.getItem(ACCESS);
}

export function refreshToken() {
  return sessionStorage.getItem(REFRESH);
}

export function setTokens(pair) {
  sessionStorage.setItem(ACCESS, pair.access_token);
  sessionStorage.setItem(REFRESH, pair.refresh_token);
}

export function clearTokens() {
  sessionStorage.removeItem(ACCESS);
  sessionStorage.removeItem(REFRESH);
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's page, say): fall through to the status line.
  }
  const error = body && body.error;
  if (error && typeof error.message === 'string') {
    return new ApiError(response.status, error.code || 'error', error.message, error.correlation_id);
  }
  const text = `${response.status} ${response.statusText || 'error'}`.trim();
  return new ApiError(response.status, 'http_' + response.status, `The server answered ${text}.`);
}

async function send(path, { method = 'GET', json, form, token }) {
  const headers = { Accept: 'application/json' };
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser sets the multipart boundary
  }
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(BASE + path, { method, headers, body, credentials: 'same-origin' });
  } catch (err) {
    throw new ApiError(0, 'network', `Cannot reach the server (${err.message}).`);
  }
}

let refreshing = null;

/**
 * Trade the refresh token for a new pair, once for every caller waiting on it (a refresh
 * token works once: two parallel refreshes would look like theft and end the session).
 */
export function refreshSession() {
  if (!refreshing) {
    refreshing = (async () => {
      const token = refreshToken();
      if (!token) return false;
      const response = await send('/auth/refresh', { method: 'POST', json: { refresh_token: token } });
      if (!response.ok) {
        clearTokens();
        return false;
      }
      setTokens(await response.json());
      return true;
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/**
 * Call the API. Options: method, json (a body to send as JSON), form (FormData).
 * Resolves with the parsed JSON body (null for 204); rejects with ApiError.
 */
export async function api(path, options = {}) {
  const token = accessToken();
  let response = await send(path, { ...options, token });
  if (response.status === 401 && token) {
    const renewed = await refreshSession();
    if (renewed) response = await send(path, { ...options, token: accessToken() });
    if (response.status === 401) {
      const error = await errorFrom(response);
      clearTokens();
      onSessionLost(error);
      throw error;
    }
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  const type = response.headers.get('Content-Type') || '';
  return type.includes('json') ? response.json() : response.text();
}

/** Every item of a paginated list (pages of `limit`, at most `max` items). */
export async function apiAll(path, { limit = 100, max = 1000 } = {}) {
  const items = [];
  const sep = path.includes('?') ? '&' : '?';
  for (let offset = 0; offset < max; offset += limit) {
    const page = await api(`${path}${sep}offset=${offset}&limit=${limit}`);
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) break;
  }
  return items;
}

function tokenExpiry(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload)).exp * 1000;
  } catch {
    return 0;
  }
}

/** Refresh the access token first when it expires within a minute (before a WebSocket). */
export async function freshAccessToken() {
  const token = accessToken();
  if (!token) return null;
  if (tokenExpiry(token) - Date.now() > 60_000) return token;
  return (await refreshSession()) ? accessToken() : null;
}

/** A new WebSocket on /api/v1/ws, authenticated by the current access token. */
export function openSocket() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = accessToken();
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  return new WebSocket(`${scheme}//${location.host}${BASE}/ws${query}`);
}
