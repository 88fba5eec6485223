// app.js: the web UI's shell: the theme, the token dialog, the live
// indicator, and the router (the URL's fragment: #/workflows?status=running,
// #/workflow/<id>, ...). Each page module exports render(main, params) and
// may return a function that stops what it started.
import {onTokenNeeded, token} from './api.js';
import {clear, h} from './dom.js';
import * as live from './live.js';
import * as workflows from './pages/workflows.js';
import * as workflow from './pages/workflow.js';
import * as schedules from './pages/schedules.js';
import * as deadLetters from './pages/dead_letters.js';
import * as queues from './pages/queues.js';
import * as events from './pages/events.js';

const pages = {
  workflows, workflow, schedules, 'dead-letters': deadLetters, queues, events,
};

// ---- theme: system (default), light or dark, remembered in this browser
const themeSel = document.getElementById('theme');
function applyTheme(t) {
  if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
}
themeSel.value = localStorage.getItem('switchyard.theme') || 'system';
applyTheme(themeSel.value);
themeSel.addEventListener('change', () => {
  localStorage.setItem('switchyard.theme', themeSel.value);
  applyTheme(themeSel.value);
});

// ---- the token: asked once, kept in session storage
const dlg = document.getElementById('token-dialog');
const input = document.getElementById('token-input');
const why = document.getElementById('token-why');
const tokenButton = document.getElementById('token-button');
function showTokenState() {
  tokenButton.textContent = token.get() ? 'Token ✓' : 'Token';
}
let pending = null;
function ask(forChange) {
  if (pending) return pending;
  why.textContent = forChange
    ? 'This change needs the admin token. It is kept in this tab only (session storage) and sent as a header.'
    : 'Reading needs a token (ui.read_token_file): the read token or the admin token.';
  input.value = token.get();
  pending = new Promise((resolve) => {
    const done = (ok) => {
      dlg.close();
      pending = null;
      showTokenState();
      resolve(ok);
    };
    document.getElementById('token-form').onsubmit = (e) => {
      e.preventDefault();
      token.set(input.value.trim());
      done(!!input.value.trim());
    };
    document.getElementById('token-cancel').onclick = () => done(false);
    document.getElementById('token-forget').onclick = () => { token.set(''); done(false); };
    dlg.showModal();
    input.focus();
  });
  return pending;
}
onTokenNeeded(ask);
tokenButton.addEventListener('click', () => ask(true));
showTokenState();

// ---- the live indicator
const liveEl = document.getElementById('live');
live.onState((s) => {
  liveEl.className = `live ${s}`;
  liveEl.title = s === 'on' ? 'Live updates: connected' : s === 'off' ? 'Live updates: reconnecting' : 'Live updates: connecting';
});

// ---- routing
const main = document.getElementById('main');
let stop = null;
function route() {
  const hash = location.hash.replace(/^#\/?/, '') || 'workflows';
  const [path, query = ''] = hash.split('?');
  const [name, ...rest] = path.split('/');
  const page = pages[name] || workflows;
  const params = Object.fromEntries(new URLSearchParams(query));
  if (rest.length) params.id = decodeURIComponent(rest.join('/'));
  for (const a of document.querySelectorAll('#nav a'))
    a.classList.toggle('active', a.dataset.page === (name === 'workflow' ? 'workflows' : name));
  if (stop) stop();
  clear(main);
  document.title = `${name === 'workflow' && params.id ? params.id : (name || 'workflows')} · switchyard`;
  try {
    stop = page.render(main, params) || null;
  } catch (e) {
    main.append(h('p.error-text', String(e)));
  }
}
window.addEventListener('hashchange', route);
route();
live.start();
