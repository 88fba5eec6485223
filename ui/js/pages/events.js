// pages/events.js: the events this process routed lately and what each
// did: which route, start or signal, which workflow, or why nothing
// happened (unmatched, duplicate, dead-lettered, invalid).
import {get} from '../api.js';
import {badge, clear, enc, h, table, time} from '../dom.js';
import {subscribe, throttle} from '../live.js';

const WHY = {
  unmatched: 'no route matched: acked without effect',
  duplicate: 'its event_id was applied before: no effect',
  invalid: 'not a valid envelope: dead-lettered',
  dead_lettered: 'refused: dead-lettered',
};

export function render(main, params) {
  let filter = params.q || '';
  const box = h('div');
  const input = h('input', {value: filter, placeholder: 'event id, type, source, workflow id…', 'aria-label': 'Filter', spellcheck: 'false',
    oninput: () => { filter = input.value.trim(); draw(); }});
  main.append(h('div.page-head', h('div.grow', h('h1', 'Events'),
    h('div.muted.small', 'The last 512 events routed by this process (in memory), newest first.')),
  h('div.query', input)), box);
  let events = [];

  const actions = (e) => e.actions.length ? e.actions.map((a) => h('div',
    h('span.muted', `${a.route}: `), h('b', a.action), a.workflow_id ? [' ', h('a.mono', {href: `#/workflow/${enc(a.workflow_id)}`}, a.workflow_id)] : null,
    a.signal ? h('span.muted', ` (${a.signal})`) : null)) : h('span.muted', '-');

  function draw() {
    const f = filter.toLowerCase();
    const shown = !f ? events : events.filter((e) => [e.event_id, e.type, e.source, e.subject, ...e.actions.map((a) => a.workflow_id)]
      .some((x) => x && x.toLowerCase().includes(f)));
    clear(box).append(table(['Routed', 'Event', 'Type', {text: 'Source', cls: 'hide-narrow'}, 'Outcome', 'What it did'],
      shown.map((e) => h('tr',
        h('td', time(e.at)),
        h('td.id', e.event_id || h('span.muted', '(unparsed)'), h('div.muted.small', `${e.subject} #${e.stream_seq}`)),
        h('td', e.type || '-'),
        h('td.hide-narrow', e.source || '-'),
        h('td', badge(e.outcome), e.replay ? h('div.muted.small', 'replay') : null, e.started ? h('div.muted.small', 'started a run') : null),
        h('td', actions(e), e.code ? h('div.error-text.small', `${e.code}: ${e.message || ''}`) : null,
          WHY[e.outcome] && !e.code ? h('div.muted.small', WHY[e.outcome]) : null))), 'No events routed yet.'));
  }
  async function load() {
    try { events = (await get('events?limit=512')).events; draw(); } catch (e) { clear(box).append(h('div.panel.error-text', e.message)); }
  }
  const again = throttle(load, 1000);
  const unsub = subscribe((ev) => { if (ev === 'events' || ev === 'resync') again(); });
  load();
  return unsub;
}
