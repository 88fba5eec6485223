// dom.js: building the page. Every text that comes from the server goes
// through text nodes (h's children, textContent), never through HTML, so a
// workflow ID or a payload holding <script> is shown as the characters it
// is. Nothing here (or anywhere in the UI) assigns innerHTML.

// h('a.link', {href: '#/x', onclick: fn}, 'text', child, [more]): an element.
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs !== null && attrs !== undefined && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function badge(status) {
  return h('span.badge', {class: String(status || '').replace(/[^a-z_]/g, '')}, status || '-');
}

// Times: relative for the eye, the exact time in the tooltip.
export function ago(ts) {
  if (!ts) return '-';
  const t = new Date(ts).getTime();
  if (Number.isNaN(t)) return String(ts);
  const s = Math.round((Date.now() - t) / 1000);
  const a = Math.abs(s), fut = s < 0;
  const v = a < 60 ? `${a}s` : a < 3600 ? `${Math.floor(a / 60)}m` : a < 86400 ? `${Math.floor(a / 3600)}h` : `${Math.floor(a / 86400)}d`;
  return fut ? `in ${v}` : `${v} ago`;
}

export function time(ts) {
  return h('span.nowrap', {title: ts ? new Date(ts).toISOString() : ''}, ago(ts));
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '-';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function json(v) {
  return h('pre', v === undefined ? 'null' : JSON.stringify(v, null, 2));
}

export function toast(text, bad = false) {
  const t = h('div.toast', {class: bad ? 'bad' : null, role: 'status'}, text);
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), bad ? 8000 : 4000);
}

export function table(headers, rows, empty = 'Nothing here.') {
  const body = h('tbody', rows);
  if (!rows.length) body.append(h('tr', h('td.empty', {colspan: headers.length}, empty)));
  return h('div.table-wrap', h('table', h('thead', h('tr', headers.map((x) =>
    typeof x === 'string' ? h('th', x) : h('th', {class: x.cls}, x.text)))), body));
}

// The path segment of a workflow ID (IDs may hold "/").
export const enc = (s) => encodeURIComponent(s);
