// pages/workflows.js: the list of workflow runs: counts per status, filters
// and the query box (parsed on the server), keyset pages (Older / Newer),
// and live: rows change status in place, new runs are announced.
import {get, qs} from '../api.js';
import {badge, clear, enc, h, table, time} from '../dom.js';
import {subscribe, throttle} from '../live.js';

const STATUSES = ['running', 'completed', 'failed', 'canceled', 'terminated'];
const FILTERS = ['status', 'type', 'id_prefix', 'queue', 'started_after', 'started_before', 'q'];

function toHash(params) {
  const p = {};
  for (const k of FILTERS) if (params[k]) p[k] = params[k];
  return `#/workflows${qs(p)}`;
}

// datetime-local (local time) <-> RFC 3339 (UTC)
const toLocal = (iso) => {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};
const fromLocal = (v) => (v ? new Date(v).toISOString() : '');

export function render(main, params) {
  const filters = {};
  for (const k of FILTERS) filters[k] = params[k] || '';
  const tokens = []; // page tokens of the pages before this one (Newer)
  let pageToken = params.page_token || '';
  let rows = new Map(); // run_id -> <tr>
  let newRuns = 0;

  const chips = h('div.chips');
  const banner = h('div');
  const listBox = h('div');
  const pager = h('div.pager');
  const errBox = h('div');

  const field = (name, label, attrs = {}) =>
    h('label', label, h('input', {name, value: filters[name], ...attrs}));
  const form = h('form.panel', {onsubmit: (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const p = {};
    for (const k of FILTERS) p[k] = (f.get(k) || '').toString().trim();
    p.started_after = fromLocal(p.started_after);
    p.started_before = fromLocal(p.started_before);
    p.status = filters.status;
    location.hash = toHash(p);
  }},
  h('div.filters',
    field('type', 'Workflow type', {placeholder: 'gap-drain'}),
    field('id_prefix', 'ID prefix', {placeholder: 'order-', spellcheck: 'false'}),
    field('queue', 'Task queue', {placeholder: 'gaps'}),
    h('label', 'Started after', h('input', {name: 'started_after', type: 'datetime-local', value: toLocal(filters.started_after)})),
    h('label', 'Started before', h('input', {name: 'started_before', type: 'datetime-local', value: toLocal(filters.started_before)})),
    h('div.wide', h('div.query',
      h('input', {name: 'q', value: filters.q, placeholder: 'status = running AND type = gap-drain AND started >= 2026-01-01',
        'aria-label': 'Query', spellcheck: 'false', title: 'Fields: status, type, queue, id (^= prefix), started (> >= < <=), joined by AND'}),
      h('button.primary', {type: 'submit'}, 'Apply'),
      h('a', {href: '#/workflows'}, h('button', {type: 'button', class: 'ghost'}, 'Clear'))))));

  main.append(
    h('div.page-head', h('div.grow', h('h1', 'Workflows'),
      h('div.muted.small', 'Runs newest first. Pages are keyed, so new runs never shift the page you are on.'))),
    chips, form, errBox, banner, listBox, pager);

  async function loadCounts() {
    const p = {...filters};
    delete p.status;
    try {
      const c = await get(`workflows/counts${qs(p)}`);
      clear(chips);
      const all = {...filters, status: ''};
      chips.append(h('a.chip', {href: toHash(all), class: filters.status ? null : 'active'}, 'All', h('b', c.bounded ? `${c.total}+` : c.total)));
      for (const s of STATUSES)
        chips.append(h('a.chip', {href: toHash({...filters, status: s}), class: filters.status === s ? 'active' : null},
          badge(s), h('b', c.counts[s] || 0)));
    } catch { /* the list shows the error */ }
  }

  function row(w) {
    const tr = h('tr.clickable', {onclick: (e) => { if (!e.target.closest('a')) location.hash = `#/workflow/${enc(w.workflow_id)}`; }},
      h('td.id', h('a', {href: `#/workflow/${enc(w.workflow_id)}`}, w.workflow_id)),
      h('td', w.workflow_type),
      h('td.status', badge(w.status)),
      h('td.hide-narrow', w.task_queue || ''),
      h('td', time(w.started_at)),
      h('td.hide-narrow', w.closed_at ? time(w.closed_at) : '-'));
    rows.set(w.run_id, tr);
    return tr;
  }

  async function loadList() {
    clear(errBox);
    const p = {...filters, limit: 50, page_token: pageToken};
    try {
      const r = await get(`workflows${qs(p)}`);
      rows = new Map();
      clear(listBox).append(table(['Workflow ID', 'Type', 'Status', {text: 'Queue', cls: 'hide-narrow'}, 'Started',
        {text: 'Closed', cls: 'hide-narrow'}], r.workflows.map(row), 'No workflow runs match.'));
      clear(pager);
      pager.append(
        h('span.muted.small', `${r.workflows.length} shown`),
        h('button', {disabled: !tokens.length, onclick: () => { pageToken = tokens.pop() || ''; loadList(); }}, '‹ Newer'),
        h('button', {disabled: !r.next_page_token, onclick: () => { tokens.push(pageToken); pageToken = r.next_page_token; loadList(); }}, 'Older ›'));
    } catch (e) {
      clear(listBox);
      errBox.append(h('div.panel.error-text', e.field ? `${e.field}: ${e.message}` : e.message));
    }
  }

  function showBanner() {
    clear(banner);
    if (!newRuns) return;
    banner.append(h('div.banner', `${newRuns} new run${newRuns > 1 ? 's' : ''} started`, h('span.spacer'),
      h('button', {onclick: () => { newRuns = 0; tokens.length = 0; pageToken = ''; showBanner(); loadList(); }}, 'Show')));
  }

  const recount = throttle(loadCounts, 1000);
  const unsub = subscribe((event, msg) => {
    if (event === 'resync') { recount(); return; }
    if (event !== 'changes') return;
    for (const r of msg.runs) {
      const tr = rows.get(r.run_id);
      if (tr) {
        const cell = tr.querySelector('td.status');
        if (cell && cell.textContent !== r.status) {
          clear(cell).append(badge(r.status));
          tr.classList.remove('flash');
          void tr.offsetWidth;
          tr.classList.add('flash');
        }
      } else if (r.history_length <= 3 && (!filters.status || filters.status === r.status) &&
                 (!filters.type || filters.type === r.workflow_type) &&
                 (!filters.id_prefix || r.workflow_id.startsWith(filters.id_prefix))) {
        newRuns++; // a start: said, not inserted, so the page under the reader stays put
      }
    }
    if (msg.runs.length || msg.more) recount();
    showBanner();
  });

  loadCounts();
  loadList();
  return unsub;
}
