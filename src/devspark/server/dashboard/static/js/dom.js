// DOM helpers: elements built with h() (text is always text, never parsed as HTML),
// the alert and notice regions, number and date formats, sortable tables.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(parent, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(parent, c);
  } else if (child instanceof Node) {
    parent.append(child);
  } else {
    parent.append(document.createTextNode(String(child)));
  }
}

function build(el, props, children) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'class') {
      el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'value' || key === 'checked' || key === 'selected') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** An HTML element: h('a', {href: '#/'}, 'Home'). */
export function h(tag, props, ...children) {
  return build(document.createElement(tag), props, children);
}

/** An SVG element (presentation attributes allowed by the CSP; no style attributes). */
export function s(tag, props, ...children) {
  return build(document.createElementNS(SVG_NS, tag), props, children);
}

/** Append children to parent, skipping null, undefined and false (unlike Element.append). */
export function add(parent, ...children) {
  append(parent, children);
  return parent;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// ---------------------------------------------------------------- alerts and notices

/**
 * An error message; one that lists several problems (one per line, or "N problems: a;
 * b; c" as manifest checks write them) becomes a list, one problem per item.
 */
function messageOf(message) {
  const text = String(message);
  let intro = '';
  let lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const counted = lines.length === 1 ? text.match(/^(.*?\b\d+ problems?:)\s*(.+)$/s) : null;
  if (counted) {
    intro = counted[1];
    lines = counted[2].split(/;\s+/).map((l) => l.trim()).filter(Boolean);
  }
  if (lines.length < 2) return h('span', { class: 'message' }, text);
  return h('div', { class: 'message' }, intro, h('ul', { class: 'problems' }, lines.map((l) => h('li', {}, l))));
}

/** Show an error in the role="alert" region: its message, code and correlation id. */
export function showError(error, context = '') {
  const region = document.getElementById('alerts');
  const code = error && error.code ? error.code : 'error';
  const message = (error && error.message) || String(error);
  const item = h('div', { class: 'alert' },
    h('div', {},
      context ? h('strong', {}, `${context}: `) : null,
      h('span', { class: 'code' }, code), ' — ', messageOf(message),
      error && error.correlationId
        ? h('span', { class: 'cid' }, `Correlation id: ${error.correlationId}`) : null),
    h('button', { type: 'button', 'aria-label': 'Dismiss this error', onclick: () => item.remove() }, 'Dismiss'));
  region.append(item);
  return item;
}

/** A short success or information message in the role="status" region. */
export function notify(message, kind = 'ok') {
  const region = document.getElementById('notices');
  const item = h('div', { class: ['notice', kind === 'info' ? 'info' : ''] },
    h('span', {}, message),
    h('button', { type: 'button', 'aria-label': 'Dismiss this message', onclick: () => item.remove() }, 'Dismiss'));
  region.append(item);
  return item;
}

export function clearMessages() {
  clear(document.getElementById('alerts'));
  clear(document.getElementById('notices'));
}

/** Run an async action from a button or form, showing any error; disables `control` meanwhile. */
export async function guarded(control, action, context = '') {
  if (control) control.disabled = true;
  try {
    return await action();
  } catch (error) {
    showError(error, context);
    return undefined;
  } finally {
    if (control) control.disabled = false;
  }
}

/**
 * A form's submit handler: runs `action` with `control` disabled and shows its error, as
 * guarded() does; a new submission first takes the previous one's error out of the alert
 * region, so a mistake that was fixed does not stay on screen next to the success. With
 * `inline` (an element in the form), the error's message is also written there, next to
 * the button, where the user is looking.
 */
export function submitHandler(control, action, context, inline = null) {
  let shown = null;
  return async (event) => {
    event.preventDefault();
    if (shown) shown.remove();
    shown = null;
    if (inline) clear(inline);
    control.disabled = true;
    try {
      await action();
    } catch (error) {
      shown = showError(error, context);
      if (inline) inline.append((error && error.message) || String(error));
    } finally {
      control.disabled = false;
    }
  };
}

// ---------------------------------------------------------------- formats

export function fmtNum(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return Number(value).toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtInt(value) {
  if (value === null || value === undefined) return '—';
  return Number(value).toLocaleString();
}

export function fmtDate(value) {
  if (!value) return '—';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

export function fmtAgo(value) {
  if (!value) return '—';
  const seconds = Math.round((Date.now() - new Date(value).getTime()) / 1000);
  if (Number.isNaN(seconds)) return String(value);
  if (seconds < 60) return `${Math.max(seconds, 0)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

/** A date element showing "3 min ago" with the full date in its title. */
export function timeAgo(value) {
  return h('time', { datetime: value || '', title: fmtDate(value) }, fmtAgo(value));
}

export function badge(status) {
  const text = String(status || 'unknown');
  return h('span', { class: ['badge', text.replace(/[^a-z_]/gi, '')] }, text.replace(/_/g, ' '));
}

// ---------------------------------------------------------------- links

/** Link to an agent page from a reference (builtin:NAME, agent:USER/NAME@VERSION) or id. */
export function agentHref(ref) {
  return `#/agents/${encodeURIComponent(ref)}`;
}

export function agentLink(ref) {
  return h('a', { href: agentHref(ref) }, ref);
}

export function matchLink(match, text) {
  return h('a', { href: `#/matches/${match.id || match}` }, text || 'View');
}

export function tournamentLink(tournament, text) {
  return h('a', { href: `#/tournaments/${tournament.id}` }, text || `${tournament.format.replace(/_/g, ' ')} · ${tournament.scenario_id}`);
}

/** "a vs b" with links; the winner (highest reward) in bold when the match finished. */
export function pairing(match) {
  const rewards = new Map((match.results || []).map((r) => [r.agent, r.reward]));
  const best = rewards.size ? Math.max(...rewards.values()) : null;
  const winners = [...rewards].filter(([, r]) => r === best);
  const parts = [];
  (match.agents || []).forEach((ref, i) => {
    if (i) parts.push(' vs ');
    const link = agentLink(ref);
    const won = winners.length === 1 && winners[0][0] === ref;
    parts.push(won ? h('strong', {}, link, h('span', { class: 'visually-hidden' }, ' (winner)')) : link);
  });
  return h('span', {}, parts);
}

const MINUS = '\u2212';

/** A number with a true minus sign (−1, not -1), so it never reads as a dash. */
export function fmtSigned(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return '—';
  const text = Math.abs(Number(value)).toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false });
  return Number(value) < 0 && Number(text) !== 0 ? `${MINUS}${text}` : text;
}

/** "1 : −1" score of a finished match, from the rewards in seat order. */
export function score(match) {
  if (!match.results || !match.results.length) return '—';
  return [...match.results].sort((a, b) => a.seat - b.seat).map((r) => fmtSigned(r.reward, r.reward % 1 ? 2 : 0)).join(' : ');
}

/** Decimals for a rating: none from 100 up (Elo-like scales), more for small scales. */
function ratingDigits(value) {
  const size = Math.abs(Number(value));
  return size >= 100 ? 0 : size >= 10 ? 1 : 2;
}

/** A rating, rounded by its size, without thousands separators: "1979", "−12", "0.35". */
export function fmtRating(value) {
  return fmtSigned(value, ratingDigits(value));
}

const METHODS = { bradley_terry: 'Bradley-Terry', openskill: 'OpenSkill', elo: 'Elo' };

/** A rating method as people write it ("Bradley-Terry"), not its API name ("bradley_terry"). */
export function methodName(method) {
  if (!method) return 'rating';
  return METHODS[method] || String(method).replace(/_/g, ' ');
}

/** A 95% interval "1606–2296", both bounds rounded like the row's rating. */
export function fmtInterval(row) {
  if (typeof row.lower !== 'number' || typeof row.upper !== 'number') return '—';
  const digits = ratingDigits(row.rating ?? row.upper);
  return `${fmtSigned(row.lower, digits)}\u2013${fmtSigned(row.upper, digits)}`;
}

/** "1979 (1606–2296)": a rating with its 95% interval. */
export function fmtRatingWithInterval(row) {
  return typeof row.lower === 'number' ? `${fmtRating(row.rating)} (${fmtInterval(row)})` : fmtRating(row.rating);
}

/**
 * A tournament's progress: matches played (finished or failed) out of those its format
 * plans (`matches.planned`), or out of those written so far when the plan is unknown.
 */
export function tournamentProgress(t) {
  const m = t.matches || {};
  const done = (m.finished || 0) + (m.failed || 0);
  const planned = typeof m.planned === 'number' ? m.planned : null;
  const outOf = planned ?? m.total ?? 0;
  return { done, outOf: Math.max(outOf, done), planned: planned !== null };
}

/** Whether a match has a stored replay to show (finished, with a replay recorded). */
export function hasReplay(match) {
  return match.status === 'finished' && match.replay_ref !== null;
}

/** The link of a match in a list: its replay, its live view, or its page. */
export function matchAction(match) {
  if (match.status === 'running') return matchLink(match, 'Watch live');
  if (hasReplay(match)) return matchLink(match, 'Replay');
  return h('a', { href: `#/matches/${match.id}`, 'aria-label': `Match ${match.id} (${match.status})` }, 'Details');
}

/**
 * Why a failed match or tournament failed, as an alert-styled block (null unless `failed`).
 * `error` is the API's reason; an older server sends none, and the block says so.
 */
export function failureBlock(item, what) {
  if (!item || item.status !== 'failed') return null;
  const reason = typeof item.error === 'string' && item.error.trim() ? item.error : null;
  return h('div', { class: 'failure', role: 'note', 'aria-label': `Why this ${what} failed` },
    h('strong', {}, `This ${what} failed`),
    reason ? h('pre', { class: 'failure-reason' }, reason) : h('p', {}, 'The server recorded no reason.'));
}

/** The telling line of an error: a traceback's last line (the exception), else the first. */
export function errorLine(error, max = 48) {
  const lines = String(error).trim().split('\n').map((l) => l.trim()).filter(Boolean);
  const line = (lines.some((l) => l.startsWith('Traceback')) ? lines[lines.length - 1] : lines[0]) || '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** A status badge; a failed item's reason in its tooltip and a short text beside it. */
export function statusWithReason(item) {
  const shown = badge(item.status);
  if (item.status !== 'failed' || typeof item.error !== 'string' || !item.error.trim()) return shown;
  const first = item.error.trim().split('\n')[0];
  shown.setAttribute('title', item.error);
  return h('span', { class: 'status-reason' }, shown, ' ',
    h('span', { class: 'failure-short', title: item.error }, first.length > 80 ? `${first.slice(0, 79)}…` : first));
}

// ---------------------------------------------------------------- tables

/** Wrap a table so it scrolls sideways on a phone; the region is focusable by keyboard. */
export function tableWrap(table, label) {
  return h('div', { class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: '0' }, table);
}

/**
 * A table whose headers sort it. columns: [{key, label, value(row), render(row), num,
 * sortable (default true), className}]. Returns the wrapper element.
 */
export function sortableTable({ columns, rows, caption, sortKey = null, descending = false, empty = 'Nothing yet.' }) {
  const tbody = h('tbody');
  const headers = new Map();
  let state = { key: sortKey, descending };

  const valueOf = (col, row) => (col.value ? col.value(row) : row[col.key]);

  function draw() {
    clear(tbody);
    const col = columns.find((c) => c.key === state.key);
    const sorted = [...rows];
    if (col) {
      sorted.sort((a, b) => {
        const x = valueOf(col, a);
        const y = valueOf(col, b);
        if (x === y) return 0;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        const cmp = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
        return state.descending ? -cmp : cmp;
      });
    }
    if (!sorted.length) {
      tbody.append(h('tr', {}, h('td', { colspan: String(columns.length), class: 'muted' }, empty)));
    }
    for (const row of sorted) {
      tbody.append(h('tr', {}, columns.map((c) => h('td', { class: [c.num ? 'num' : '', c.className || ''] },
        c.render ? c.render(row) : valueOf(c, row)))));
    }
    for (const [key, th] of headers) {
      if (key === state.key) th.setAttribute('aria-sort', state.descending ? 'descending' : 'ascending');
      else th.removeAttribute('aria-sort');
    }
  }

  const head = h('tr', {}, columns.map((col) => {
    const th = h('th', { scope: 'col', class: [col.num ? 'num' : '', col.className || ''] });
    if (col.sortable === false) {
      th.append(col.label);
    } else {
      th.append(h('button', {
        type: 'button',
        class: 'sort',
        onclick: () => {
          state = { key: col.key, descending: state.key === col.key ? !state.descending : !!col.num };
          draw();
        },
      }, col.label));
      headers.set(col.key, th);
    }
    return th;
  }));
  const table = h('table', {}, caption ? h('caption', {}, caption) : null, h('thead', {}, head), tbody);
  draw();
  return tableWrap(table, caption || 'Table');
}

/** A plain table from columns [{label, render(row), num}]. */
export function simpleTable({ columns, rows, caption, empty = 'Nothing yet.' }) {
  return sortableTable({ columns: columns.map((c, i) => ({ ...c, key: c.key || `c${i}`, sortable: false })), rows, caption, empty });
}

/** A labelled form field. control gets an id if it has none. */
let fieldCounter = 0;
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++fieldCounter}`;
  const hintEl = hint ? h('span', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}
