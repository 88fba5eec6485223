// pages/workflow.js: one workflow run: what it was given and what it gave
// back, where it is, its tasks, timers and buffered signals, its history
// as a timeline (and as JSON to download), and the actions: signal,
// cancel, terminate, retry a task now. Live: re-read when a commit names it.
import {get, headers, post, qs} from '../api.js';
import {ago, badge, clear, enc, h, json, table, time, toast} from '../dom.js';
import {subscribe, throttle} from '../live.js';

let traceUrl; // from /api/v1/ui-config, once
async function traceLink(id) {
  if (traceUrl === undefined) {
    try { traceUrl = (await get('ui-config')).trace_url || null; } catch { traceUrl = null; }
  }
  if (!traceUrl || !id) return h('span.mono', id || '-');
  const url = traceUrl.replace('{trace_id}', encodeURIComponent(id));
  return /^https?:\/\//.test(url) ? h('a.mono', {href: url, target: '_blank', rel: 'noopener noreferrer'}, id) : h('span.mono', id);
}

const CLASS = (type) => (/failed|timed_out|terminated|canceled/.test(type) ? 'bad' : /completed/.test(type) ? 'ok' : '');

export function render(main, params) {
  const id = params.id;
  const runId = params.run_id || '';
  const root = h('div');
  main.append(root);
  let closed = false;
  let shown = null; // the detail on screen

  async function download() {
    try {
      const r = await fetch(`/api/v1/workflows/${enc(id)}/history${qs({run_id: runId, limit: 10000, download: 1})}`, {headers: headers()});
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const blob = new Blob([JSON.stringify(await r.json(), null, 2)], {type: 'application/json'});
      const a = h('a', {href: URL.createObjectURL(blob), download: `${id.replace(/[/:]/g, '_')}.history.json`});
      document.body.append(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    } catch (e) {
      toast(`download: ${e.message}`, true);
    }
  }

  function actionForm(title, fields, submit, danger) {
    const err = h('div.error-text.small');
    const form = h('form.form', {onsubmit: async (e) => {
      e.preventDefault();
      clear(err);
      try {
        await submit(new FormData(form));
        form.remove();
      } catch (x) {
        if (x.field || x.message) err.append(x.field ? `${x.field}: ${x.message}` : x.message);
      }
    }}, h('h2', title), fields, err,
    h('div.row.end', h('button.ghost', {type: 'button', onclick: () => form.remove()}, 'Cancel'),
      h('button', {type: 'submit', class: danger ? 'danger' : 'primary'}, title)));
    return form;
  }

  function actions(d, box) {
    const place = h('div');
    const open = (f) => { clear(place).append(f); const i = f.querySelector('input,textarea'); if (i) i.focus(); };
    const running = d.status === 'running';
    const signal = () => open(actionForm('Send signal', [
      h('label', 'Signal name', h('input', {name: 'signal', required: true, placeholder: 'approve', spellcheck: 'false'})),
      h('label', 'Payload (JSON)', h('textarea', {name: 'payload', spellcheck: 'false'}, '{}')),
    ], async (f) => {
      let payload;
      try { payload = JSON.parse(f.get('payload') || 'null'); } catch (e) { throw {field: 'payload', message: `not JSON: ${e.message}`}; }
      const r = await post(`workflows/${enc(id)}/signal`, {signal: f.get('signal'), payload, request_id: crypto.randomUUID()});
      toast(`signal ${f.get('signal')}: ${r.signal}`);
      load();
    }));
    const cancel = () => open(actionForm('Cancel workflow', [
      h('p.muted', 'Cooperative: pending tasks are canceled and the run ends canceled.'),
      h('label', 'Reason (optional)', h('input', {name: 'reason'})),
    ], async (f) => { await post(`workflows/${enc(id)}/cancel`, {reason: f.get('reason') || null}); toast('cancel requested'); load(); }, true));
    const terminate = () => open(actionForm('Terminate workflow', [
      h('p.muted', 'At once: the run ends terminated; its tasks are abandoned.'),
      h('label', 'Reason (required)', h('input', {name: 'reason', required: true})),
    ], async (f) => { await post(`workflows/${enc(id)}/terminate`, {reason: f.get('reason')}); toast('terminated'); load(); }, true));
    box.append(h('div.actions',
      h('button.primary', {onclick: signal, disabled: !running}, 'Signal'),
      h('button', {onclick: cancel, disabled: !running || d.cancel_requested}, 'Cancel'),
      h('button.danger', {onclick: terminate, disabled: !running}, 'Terminate'),
      h('span.spacer'),
      h('button.ghost', {onclick: download}, 'Download history JSON')), place);
  }

  function tasks(d) {
    const rows = (d.tasks || []).map((t) => h('tr',
      h('td', h('div', t.name), h('div.mono.muted.small', t.task_id)),
      h('td', badge(t.status), t.human ? h('span.muted.small', ' human') : null),
      h('td', t.attempt),
      h('td.hide-narrow', t.queue),
      h('td', time(t.scheduled_at)),
      h('td', t.started_at ? time(t.started_at) : '-'),
      h('td', t.heartbeat_at ? time(t.heartbeat_at) : '-'),
      h('td', t.status === 'backoff'
        ? h('button', {onclick: async () => { await post(`tasks/${enc(t.task_id)}/retry`); toast('retry due now'); load(); }}, 'Retry now')
        : t.error ? h('span.error-text.small', t.error.type || 'error') : null)));
    return table(['Task', 'Status', 'Attempt', {text: 'Queue', cls: 'hide-narrow'}, 'Scheduled', 'Started', 'Heartbeat', ''], rows, 'No tasks.');
  }

  function timeline(events) {
    return h('ol.timeline', events.map((e) => h('li', {class: CLASS(e.type)},
      h('div.ev-head', h('span.ev-type', e.type), h('span.muted.small', `#${e.seq}`), time(e.created_at),
        e.data && e.data.step ? h('span.small', `step ${e.data.step}`) : null,
        h('span.mono.muted.small', `event ${shown ? shown.run_id : ''}:${e.seq}`)),
      e.data && Object.keys(e.data).length ? h('details', h('summary', 'data'), json(e.data)) : null)));
  }

  async function load() {
    let d, hist;
    try {
      [d, hist] = await Promise.all([
        get(`workflows/${enc(id)}${qs({run_id: runId})}`),
        get(`workflows/${enc(id)}/history${qs({run_id: runId, limit: 1000})}`).catch(() => ({events: []})),
      ]);
    } catch (e) {
      clear(root).append(h('div.page-head', h('div.grow', h('a', {href: '#/workflows'}, '‹ Workflows'), h('h1', id))),
        h('div.panel.error-text', e.status === 404 ? 'No such workflow.' : e.message));
      return;
    }
    if (closed) return;
    shown = d;
    const head = h('div.page-head', h('div.grow',
      h('a.small', {href: '#/workflows'}, '‹ Workflows'),
      h('h1', d.workflow_id),
      h('div.row', badge(d.status), h('span', d.workflow_type || ''), h('span.muted.small', 'run'), h('span.mono.small', d.run_id),
        d.cancel_requested ? h('span.badge.canceled', 'cancel requested') : null)));
    const facts = h('dl.facts',
      h('dt', 'Task queue'), h('dd', d.task_queue || '-'),
      h('dt', 'Started'), h('dd', time(d.started_at)),
      h('dt', 'Closed'), h('dd', d.closed_at ? time(d.closed_at) : '-'),
      h('dt', 'Trace'), h('dd', await traceLink(d.trace_id)),
      h('dt', 'Caused by'), h('dd', d.causation_id ? h('a.mono', {href: `#/events?q=${enc(d.causation_id)}`}, d.causation_id) : h('span.muted', 'API, CLI or schedule')),
      h('dt', 'Current step'), h('dd', d.current_step ? h('span', h('b', `step ${d.current_step.step}`), h('span.muted', ` · ${d.current_step.event} (#${d.current_step.seq})`)) : '-'),
      h('dt', 'History'), h('dd', `${d.history_length ?? '-'} events`),
      h('dt', 'Definition'), h('dd.mono.small', (d.definition_hash || '').slice(0, 16)));
    const act = h('div.panel');
    actions(d, act);
    const outcome = d.error ? h('div.panel', h('h2.error-text', 'Failure'), json(d.error))
      : h('div.panel', h('h2', 'Result'), d.status === 'running' ? h('p.muted', 'Not finished yet.') : json(d.result));
    const sigs = d.buffered_signals || [];
    const timers = d.timers || [];
    clear(root).append(head, act,
      h('div.grid2', h('div.panel', h('h2', 'Run'), facts), h('div.panel', h('h2', 'Input'), json(d.input))),
      outcome,
      h('h3', 'Tasks'), tasks(d),
      h('div.grid2.gap-top',
        h('div.panel', h('h2', `Timers (${timers.length})`), timers.length ? table(['Kind', 'Fires', 'Id'], timers.map((t) =>
          h('tr', h('td', t.kind), h('td', h('span', {title: t.fire_at}, ago(t.fire_at))), h('td.id.small', t.timer_id)))) : h('p.muted', 'No pending timers.')),
        h('div.panel', h('h2', `Buffered signals (${sigs.length})`), sigs.length ? h('div', sigs.map((s) =>
          h('div', h('div.row', h('b', s.signal), h('span.muted.small', `#${s.seq}`), time(s.created_at)), json(s.payload)))) : h('p.muted', 'None waiting.'))),
      h('h3', `History (${(hist.events || []).length} events)`), h('div.panel', timeline(hist.events || [])));
  }

  const reload = throttle(load, 500);
  const unsub = subscribe((event, msg) => {
    if (event === 'resync' || (event === 'changes' && (msg.more > 0 || msg.runs.some((r) => r.workflow_id === id)))) reload();
  });
  load();
  return () => { closed = true; unsub(); };
}
