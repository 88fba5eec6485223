// pages/schedules.js: the schedules with their next and last firings; one
// opened shows its upcoming slots and recent firings, and pause, resume,
// trigger now and backfill a range.
import {get, post} from '../api.js';
import {badge, clear, enc, h, table, time, toast} from '../dom.js';
import {subscribe, throttle} from '../live.js';

export function render(main, params) {
  const listBox = h('div');
  const detail = h('div');
  main.append(h('div.page-head', h('div.grow', h('h1', 'Schedules'),
    h('div.muted.small', 'Cron schedules; each firing starts the workflow <id>:<time>, never twice.'))), detail, listBox);
  let open = params.id || '';

  async function showDetail() {
    clear(detail);
    if (!open) return;
    let s;
    try { s = await get(`schedules/${enc(open)}`); } catch (e) { detail.append(h('div.panel.error-text', e.message)); return; }
    const out = h('div.small');
    const act = async (verb, body) => {
      try {
        const r = await post(`schedules/${enc(open)}/${verb}`, body);
        clear(out).append(verb === 'trigger' ? (r.started ? `started ${r.workflow_id}` : `not started: ${r.reason}`)
          : verb === 'backfill' ? `${r.slots} slots: ${r.started} started, ${r.skipped} skipped, ${r.already_fired} already fired` : `${verb}d`);
        toast(`${open}: ${out.textContent}`);
        refresh();
      } catch { /* toasted */ }
    };
    const bf = h('form.row', {onsubmit: (e) => {
      e.preventDefault();
      const f = new FormData(bf);
      if (!f.get('start') || !f.get('end')) { toast('backfill: give start and end', true); return; }
      act('backfill', {start: new Date(f.get('start')).toISOString(), end: new Date(f.get('end')).toISOString(), overlap: 'allow_all'});
    }}, h('label', 'Backfill from', h('input', {type: 'datetime-local', name: 'start'})),
    h('label', 'to', h('input', {type: 'datetime-local', name: 'end'})), h('button', {type: 'submit'}, 'Backfill'));
    detail.append(h('div.panel',
      h('div.row', h('h2', s.id), s.paused ? badge('paused') : badge('active'), h('span.spacer'),
        h('button.ghost', {onclick: () => { location.hash = '#/schedules'; }}, 'Close')),
      h('dl.facts', h('dt', 'Cron'), h('dd.mono', `${s.cron} (${s.timezone})`), h('dt', 'Workflow'), h('dd', s.workflow),
        h('dt', 'Overlap'), h('dd', s.overlap), h('dt', 'Note'), h('dd', s.note || '-'),
        h('dt', 'Upcoming'), h('dd', (s.upcoming || []).length ? h('div.mono.small', s.upcoming.map((u) => h('div', u))) : '-')),
      h('div.actions.gap-top',
        s.paused ? h('button.primary', {onclick: () => act('resume', {})}, 'Resume') : h('button', {onclick: () => act('pause', {note: 'paused from the UI'})}, 'Pause'),
        h('button', {onclick: () => act('trigger', {})}, 'Trigger now')),
      h('div.gap-top', bf), out,
      h('h3', 'Recent firings'),
      table(['Workflow ID', 'Status', 'Started'], (s.recent_firings || []).map((w) => h('tr',
        h('td.id', h('a', {href: `#/workflow/${enc(w.workflow_id)}`}, w.workflow_id)), h('td', badge(w.status)), h('td', time(w.started_at)))), 'Never fired.')));
  }

  async function load() {
    let r;
    try { r = await get('schedules'); } catch (e) { clear(listBox).append(h('div.panel.error-text', e.message)); return; }
    clear(listBox).append(table(['ID', 'Cron', 'Workflow', 'State', 'Next fire', 'Last fire', {text: 'Fired / skipped / missed', cls: 'hide-narrow'}],
      r.schedules.map((s) => h('tr.clickable', {onclick: () => { location.hash = `#/schedules/${enc(s.id)}`; }},
        h('td.id', h('a', {href: `#/schedules/${enc(s.id)}`}, s.id)),
        h('td.mono', s.cron, h('div.muted.small', s.timezone)),
        h('td', s.workflow),
        h('td', s.paused ? badge('paused') : badge('active'), s.removed_from_rules ? h('div.muted.small', 'removed from rules') : null),
        h('td', s.paused ? '-' : time(s.next_fire_at)),
        h('td', s.last_fire_at ? time(s.last_fire_at) : '-', s.last_workflow_id ? h('div.mono.muted.small', s.last_workflow_id) : null),
        h('td.hide-narrow', `${s.fired} / ${s.skipped} / ${s.missed}`))), 'No schedules.'));
  }
  function refresh() { load(); showDetail(); }
  const again = throttle(refresh, 2000);
  const unsub = subscribe((ev, msg) => {
    if (ev === 'resync' || (ev === 'changes' && msg.runs.some((x) => x.workflow_id.includes(':')))) again();
  });
  refresh();
  return unsub;
}
