// The dashboard's entry point: hash routing (#/...), navigation, page lifecycle.
//
// Each page is a module under pages/ exporting `render(ctx)`; ctx gives the <main>
// element, the route's params and query, and `cleanup(fn)` for what to stop (sockets,
// timers, players) when the user leaves the page.

import { setSessionLostHandler } from './api.js';
import { clear, clearMessages, h, showError } from './dom.js';
import { loadMe, logout, me } from './session.js';

const ROUTES = [
  [/^\/?$/, 'home'],
  [/^\/leaderboards$/, 'leaderboards'],
  [/^\/agents$/, 'agents'],
  [/^\/agents\/(.+)$/, 'agent'], // an id or a reference (agent:USER/NAME@VERSION)
  [/^\/matches\/([^/]+)$/, 'match'],
  [/^\/tournaments$/, 'tournaments'],
  [/^\/tournaments\/([^/]+)$/, 'tournament'],
  [/^\/scenarios$/, 'scenarios'],
  [/^\/workers$/, 'workers'],
  [/^\/instances$/, 'instances'],
  [/^\/tasks$/, 'tasks'],
  [/^\/tasks\/([^/]+)$/, 'task'],
  [/^\/login$/, 'login'],
  [/^\/register$/, 'register'],
  [/^\/keys$/, 'keys'],
];

const main = document.getElementById('main');
let cleanups = [];
let generation = 0;
let previousHash = null;
let focusHeading = false; // not on the first load: only after the user navigates

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, search = ''] = raw.split('?');
  return { path, query: new URLSearchParams(search) };
}

/** Go to a route ("#/agents/..."); re-renders even when it is the current one. */
export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function markCurrentNav(path) {
  const section = '#/' + (path.split('/')[1] || '');
  for (const a of document.querySelectorAll('.site-nav a')) {
    const target = a.getAttribute('href');
    if (target === section || (target === '#/' && section === '#/')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function renderAccountNav() {
  const list = clear(document.getElementById('nav-account'));
  const user = me();
  if (!user) {
    list.append(h('li', {}, h('a', { href: '#/login' }, 'Log in')), h('li', {}, h('a', { href: '#/register' }, 'Register')));
    return;
  }
  list.append(
    h('li', {}, h('a', { href: '#/keys' }, 'API keys')),
    h('li', { class: 'nav-user' }, `${user.username} (${user.role})`),
    h('li', {}, h('button', {
      type: 'button',
      class: 'linklike',
      onclick: async () => {
        try {
          await logout();
        } catch (error) {
          showError(error, 'Log out');
        }
        renderAccountNav();
        navigate('#/');
      },
    }, 'Log out')));
}

async function route() {
  const { path, query } = parseHash();
  const current = ++generation;
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch (error) {
      showError(error, 'Leaving the page');
    }
  }
  if (previousHash !== null) clearMessages();
  previousHash = location.hash;
  closeMenu();
  markCurrentNav(path);
  let name = 'notfound';
  let params = [];
  for (const [pattern, page] of ROUTES) {
    const found = path.match(pattern);
    if (found) {
      name = page;
      params = found.slice(1).map(decodeURIComponent);
      break;
    }
  }
  clear(main).append(h('p', { class: 'muted' }, 'Loading…'));
  main.setAttribute('aria-busy', 'true'); // until the page has drawn its data (tests wait on it)
  const ctx = {
    main,
    params,
    query,
    cleanup: (fn) => cleanups.push(fn),
    isCurrent: () => current === generation,
    refreshNav: renderAccountNav,
    navigate,
  };
  try {
    if (name === 'notfound') {
      clear(main).append(h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the home page')));
    } else {
      const page = await import(`./pages/${name}.js`);
      if (!ctx.isCurrent()) return;
      clear(main);
      await page.render(ctx);
    }
  } catch (error) {
    if (!ctx.isCurrent()) return;
    clear(main).append(h('h1', { tabindex: '-1' }, 'This page could not be shown'));
    showError(error);
  }
  if (!ctx.isCurrent()) return;
  main.setAttribute('aria-busy', 'false');
  const heading = main.querySelector('h1');
  document.title = heading ? `${heading.textContent} · DevSpark Playground` : 'DevSpark Playground';
  if (heading && focusHeading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
  focusHeading = true;
}

function closeMenu() {
  document.getElementById('site-nav').classList.remove('open');
  document.getElementById('nav-toggle').setAttribute('aria-expanded', 'false');
}

function wireChrome() {
  const toggle = document.getElementById('nav-toggle');
  toggle.addEventListener('click', () => {
    const nav = document.getElementById('site-nav');
    const open = nav.classList.toggle('open');
    toggle.setAttribute('aria-expanded', String(open));
  });
  // The skip link must not change the route: it moves focus to <main>.
  document.getElementById('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });
  window.addEventListener('hashchange', route);
  window.addEventListener('unhandledrejection', (event) => showError(event.reason || new Error('unknown error')));
  setSessionLostHandler(() => {
    renderAccountNav();
    const { path } = parseHash();
    if (path !== '/login') {
      const next = encodeURIComponent(location.hash || '#/');
      location.hash = `#/login?expired=1&next=${next}`;
    }
  });
}

async function start() {
  wireChrome();
  try {
    await loadMe();
  } catch (error) {
    showError(error, 'Loading your account');
  }
  renderAccountNav();
  await route();
}

start();
