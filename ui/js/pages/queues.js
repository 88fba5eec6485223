// pages/queues.js: each task queue's backlog (scheduled, started, in
// backoff), its oldest waiting task, the workers that reported on it and
// when they were last seen, and its failure rate.
import {get} from '../api.js';
import {ago, clear, duration, h, table, time} from '../dom.js';
import {subscribe, throttle} from '../live.js';

export function render(main) {
  const box = h('div');
  main.append(h('div.page-head', h('div.grow', h('h1', 'Task queues'),
    h('div.muted.small', 'Open tasks per queue and the workers seen on it (from their reports).'))), box);
  const stat = (n, l, cls) => h('div.stat', h('div.n', {class: cls}, n), h('div.l', l));
  async function load() {
    let r;
    try { r = await get('task-queues'); } catch (e) { clear(box).append(h('div.panel.error-text', e.message)); return; }
    if (!r.queues.length) { clear(box).append(h('div.panel.empty', 'No open tasks and no workers seen yet.')); return; }
    clear(box).append(h('div.cards', r.queues.map((q) => {
      const stale = (w) => Date.now() - new Date(w.last_seen_at).getTime() > 5 * 60000;
      const rate = q.failure_rate === null || q.failure_rate === undefined ? '-' : `${(q.failure_rate * 100).toFixed(1)}%`;
      return h('div.panel',
        h('div.row', h('h2', q.queue), h('span.spacer'), h('span.muted.small', q.last_seen_at ? `worker seen ${ago(q.last_seen_at)}` : 'no worker seen')),
        h('div.stats', stat(q.scheduled, 'waiting'), stat(q.started, 'running'), stat(q.backoff, 'in backoff'),
          stat(q.scheduled ? duration(q.oldest_age_ms) : '-', 'oldest waiting')),
        h('div.row.small', h('span.muted', 'Failure rate'), h('b', {class: q.failure_rate > 0.1 ? 'error-text' : null}, rate),
          h('span.muted', `(${q.failed} failed / ${q.completed} completed reports)`)),
        h('h3', `Workers (${q.workers.length})`),
        table(['Worker', 'Last seen', 'Reports', 'Failed'], q.workers.map((w) => h('tr',
          h('td.id', w.worker || '(unnamed)'), h('td', time(w.last_seen_at), stale(w) ? h('span.muted.small', ' stale') : null),
          h('td', w.reports), h('td', w.failed))), 'No worker has reported.'));
    })));
  }
  const again = throttle(load, 2000);
  const unsub = subscribe((ev) => { if (ev === 'changes' || ev === 'resync') again(); });
  load();
  return unsub;
}
