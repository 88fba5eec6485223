// api.js: the one way the UI talks to the server (docs/http-api.md). The
// token lives in this tab's session storage and travels as a header, never
// in a URL or a cookie.
import {toast} from './dom.js';

const KEY = 'switchyard.token';
export const token = {
  get: () => sessionStorage.getItem(KEY) || '',
  set: (t) => (t ? sessionStorage.setItem(KEY, t) : sessionStorage.removeItem(KEY)),
};

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code;
    this.field = e.field;
  }
}

let askToken = null; // set by app.js: () => Promise<boolean>
export function onTokenNeeded(fn) { askToken = fn; }

export function headers(extra = {}) {
  const t = token.get();
  return t ? {...extra, Authorization: `Bearer ${t}`} : extra;
}

async function call(method, path, body, retried = false) {
  const init = {method, headers: headers(body !== undefined ? {'Content-Type': 'application/json'} : {})};
  if (body !== undefined) init.body = JSON.stringify(body);
  const r = await fetch(`/api/v1/${path}`, init);
  const data = await r.json().catch(() => null);
  if (r.status === 401 && !retried && askToken && (await askToken(method !== 'GET')))
    return call(method, path, body, true);
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

export const get = (path) => call('GET', path);

// A change: asks for the token first when there is none; reports failures.
export async function post(path, body) {
  if (!token.get() && askToken && !(await askToken(true))) throw new ApiError(401, null);
  try {
    return await call('POST', path, body);
  } catch (e) {
    toast(e.field ? `${e.field}: ${e.message}` : e.message, true);
    throw e;
  }
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : '';
}
