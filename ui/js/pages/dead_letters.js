// pages/dead_letters.js: dead letters by code, source, type and time, each
// with the route whose action failed (none: the whole event) and how often
// it failed; one opened shows its original bytes and headers and what its
// replay did;
// replay one, or all that match the filter (in pages of 50, each result
// listed as it comes back).
import {get, post, qs} from '../api.js';
import {badge, clear, h, json, table, time, toast} from '../dom.js';
import {subscribe, throttle} from '../live.js';

const FILTERS = ['code', 'source', 'type', 'since', 'until'];

// A JSON body indented for reading; anything else as it is.
function pretty(body) {
  try { return JSON.stringify(JSON.parse(body), null, 2); } catch { return body ?? ''; }
}

// How often it failed: the first time, and each replay that failed again
// (the last one's time).
function failures(d) {
  const n = d.failures || 1;
  return n > 1 ? `${n} (last ${new Date(d.updated_at).toLocaleString()})` : '1';
}

export function render(main, params) {
  const f = {};
  for (const k of FILTERS) f[k] = params[k] || '';
  const all = params.include_replayed === '1';
  const before = [];
  let beforeId = '';
  const listBox = h('div'), detail = h('div'), results = h('div'), pager = h('div.pager'), banner = h('div');
  let fresh = 0;

  const toLocal = (iso) => (iso ? new Date(new Date(iso).getTime() - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16) : '');
  const form = h('form.panel', {onsubmit: (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const p = {};
    for (const k of FILTERS) p[k] = (d.get(k) || '').toString().trim();
    for (const k of ['since', 'until']) if (p[k]) p[k] = new Date(p[k]).toISOString();
    if (d.get('include_replayed')) p.include_replayed = '1';
    location.hash = `#/dead-letters${qs(p)}`;
  }}, h('div.filters',
    h('label', 'Reason code', h('input', {name: 'code', value: f.code, placeholder: 'workflow_not_found'})),
    h('label', 'Source', h('input', {name: 'source', value: f.source})),
    h('label', 'Event type', h('input', {name: 'type', value: f.type, placeholder: 'order.paid'})),
    h('label', 'Since', h('input', {name: 'since', type: 'datetime-local', value: toLocal(f.since)})),
    h('label', 'Until', h('input', {name: 'until', type: 'datetime-local', value: toLocal(f.until)})),
    h('div.wide.row', h('label.row', h('input', {type: 'checkbox', name: 'include_replayed', checked: all}), 'include replayed'),
      h('span.spacer'),
      h('button.primary', {type: 'submit'}, 'Apply'),
      h('button', {type: 'button', onclick: replayAll}, 'Replay all matching'))));

  main.append(h('div.page-head', h('div.grow', h('h1', 'Dead letters'),
    h('div.muted.small', 'Events that were invalid or refused, with their original bytes. A replay re-publishes them once.'))),
  form, results, detail, banner, listBox, pager);

  async function replayAll() {
    const body = {};
    for (const k of FILTERS) if (f[k]) body[k] = f[k];
    if (!Object.keys(body).length) { toast('give a code, source, type or time first (refusing to replay everything)', true); return; }
    const list = h('ul.results');
    clear(results).append(h('div.panel', h('h2', 'Replaying…'), list));
    let after = 0, n = 0, bad = 0;
    try {
      for (;;) {
        const r = await post('dead-letters/replay', {...body, after_id: after, limit: 50});
        for (const x of r.results) {
          n++;
          if (!x.replayed) bad++;
          list.append(h('li', x.replayed ? `#${x.id} replayed → stream seq ${x.stream_seq}` : h('span.error-text', `#${x.id} failed: ${x.error}`)));
        }
        if (!r.next_after_id) break;
        after = r.next_after_id;
      }
    } catch { /* toasted */ }
    results.querySelector('h2').textContent = `Replayed ${n - bad} of ${n}${bad ? `, ${bad} failed` : ''}`;
    load();
  }

  async function open(id) {
    let d;
    try { d = await get(`dead-letters/${id}`); } catch (e) { toast(e.message, true); return; }
    const out = h('div.small');
    const replay = d.replay ? h('div.row.gap-bottom', h('span', 'Replay:'), badge(d.replay.status),
      d.replay.code ? h('span', `${d.replay.code}: ${d.replay.message}`) : null,
      d.replay.dead_letter_id ? h('a', {href: '#', onclick: (e) => { e.preventDefault(); open(d.replay.dead_letter_id); }}, `dead letter #${d.replay.dead_letter_id}`) : null) : null;
    clear(detail).append(h('div.panel',
      h('div.row', h('h2', `Dead letter #${d.id}`), badge(d.code), d.replayed ? badge('replayed') : null, h('span.spacer'),
        h('button.primary', {disabled: d.replayed, title: d.replayed ? 'replayed already: a replay takes effect once' : null, onclick: async () => {
          try {
            const r = await post(`dead-letters/${d.id}/replay`);
            clear(out).append(`replayed to ${r.subject} (stream seq ${r.stream_seq})`);
            toast(`dead letter #${d.id} replayed`);
            setTimeout(() => open(d.id), 800);
            load();
          } catch { /* toasted */ }
        }}, 'Replay'),
        h('button.ghost', {onclick: () => clear(detail)}, 'Close')),
      h('p', d.message), replay, out,
      h('dl.facts', h('dt', 'Event id'), h('dd.mono', d.event_id || '-'), h('dt', 'Subject'), h('dd.mono', d.subject || '-'),
        h('dt', 'Stream seq'), h('dd', d.stream_seq), h('dt', 'Received'), h('dd', time(d.created_at)),
        h('dt', 'Type / source'), h('dd', `${d.type || '-'} / ${d.source || '-'}`),
        h('dt', 'Route'), h('dd', d.route ? h('span.mono', d.route) : h('span.muted', 'none: the whole event replays')),
        h('dt', 'Failures'), h('dd', failures(d))),
      h('div.grid2.gap-top', h('div', h('h3', 'Headers'), json(d.headers)),
        h('div', h('h3', `Body (${d.body_bytes} bytes${d.body_base64 ? ', base64' : pretty(d.body) !== d.body ? ', formatted' : ''})`),
          h('pre', d.body_base64 ?? pretty(d.body))))));
    detail.scrollIntoView({block: 'nearest'});
  }

  async function load() {
    let r;
    const p = {...f, limit: 50, before_id: beforeId, include_replayed: all ? 1 : ''};
    try { r = await get(`dead-letters${qs(p)}`); } catch (e) { clear(listBox).append(h('div.panel.error-text', e.field ? `${e.field}: ${e.message}` : e.message)); return; }
    clear(listBox).append(table(['#', 'Received', 'Code', 'Type', {text: 'Source', cls: 'hide-narrow'}, {text: 'Subject', cls: 'hide-narrow'},
      {text: 'Route', cls: 'hide-narrow'}, 'Failures', 'Message', ''],
      r.dead_letters.map((d) => h('tr.clickable', {onclick: () => open(d.id)},
        h('td', d.id), h('td', time(d.created_at)), h('td', badge(d.code)), h('td', d.type || '-'),
        h('td.hide-narrow', d.source || '-'), h('td.hide-narrow.mono', d.subject),
        h('td.hide-narrow.mono', d.route || '-'), h('td', d.failures || 1), h('td', d.message),
        h('td', d.replayed ? badge('replayed') : null))), 'No dead letters match.'));
    clear(pager).append(
      h('button', {disabled: !before.length, onclick: () => { beforeId = before.pop() || ''; load(); }}, '‹ Newer'),
      h('button', {disabled: !r.next_before_id, onclick: () => { before.push(beforeId); beforeId = r.next_before_id; load(); }}, 'Older ›'));
  }

  const showFresh = throttle(() => {
    clear(banner);
    if (fresh) banner.append(h('div.banner', `${fresh} new dead letter${fresh > 1 ? 's' : ''}`, h('span.spacer'),
      h('button', {onclick: () => { fresh = 0; beforeId = ''; before.length = 0; clear(banner); load(); }}, 'Show')));
  }, 500);
  const unsub = subscribe((ev, msg) => {
    if (ev === 'changes' && msg.dead_letters) { fresh += msg.dead_letters; showFresh(); }
  });
  load();
  if (params.id) open(params.id);
  return unsub;
}
