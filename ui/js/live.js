// live.js: the server's live stream (GET /api/v1/live, Server-Sent Events)
// read with fetch so that the read token can go in a header (EventSource
// cannot send one). One stream per tab; pages subscribe to its messages.
import {headers} from './api.js';

const subs = new Set();
let state = 'connecting';
const stateSubs = new Set();

export function subscribe(fn) { subs.add(fn); return () => subs.delete(fn); }
export function onState(fn) { stateSubs.add(fn); fn(state); }
function setState(s) { state = s; for (const f of stateSubs) f(s); }

function dispatch(block) {
  let event = 'message', data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data += line.slice(5).trim();
  }
  if (!data) return;
  let msg;
  try { msg = JSON.parse(data); } catch { return; }
  if (event === 'hello') setState('on');
  for (const f of subs) f(event, msg);
}

export async function start() {
  for (let delay = 1000; ; delay = Math.min(delay * 2, 15000)) {
    try {
      const r = await fetch('/api/v1/live', {headers: headers(), cache: 'no-store'});
      if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
      delay = 1000;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          dispatch(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    } catch { /* reconnect below */ }
    setState('off');
    for (const f of subs) f('resync', {});
    await new Promise((res) => setTimeout(res, delay));
  }
}

// Calls fn at most once per ms while messages keep coming (a burst of
// commits is one re-read).
export function throttle(fn, ms) {
  let timer = null, again = false;
  return () => {
    if (timer) { again = true; return; }
    fn();
    timer = setTimeout(function tick() {
      if (again) { again = false; fn(); timer = setTimeout(tick, ms); } else timer = null;
    }, ms);
  };
}
