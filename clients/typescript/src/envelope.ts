// envelope.ts: the canonical envelope's validation, ported rule for rule
// from envelope/envelope.c, common/json.c and common/timefmt.c, so that
// validate() answers exactly what `switchyard validate` answers (same code,
// same path, same message) for the same bytes. Payload schemas and
// signature verification stay on the server: they need its schema
// directory and keyring.

/** Stable error codes (envelope/envelope.h). */
export type EnvelopeErrorCode =
  | "missing_field"
  | "bad_field"
  | "bad_type"
  | "bad_timestamp"
  | "bad_trace_id"
  | "unknown_field"
  | "duplicate_key"
  | "bad_json"
  | "bad_utf8"
  | "too_deep"
  | "too_large";

/** What `switchyard validate` prints in "error" for an invalid event. */
export interface EnvelopeProblem {
  code: EnvelopeErrorCode;
  path: string;
  message: string;
}

/** Thrown by the publisher when an event fails local validation. */
export class EnvelopeError extends Error {
  readonly code: EnvelopeErrorCode;
  readonly path: string;
  constructor(p: EnvelopeProblem) {
    super(p.message);
    this.name = "EnvelopeError";
    this.code = p.code;
    this.path = p.path;
  }
}

export const DEFAULT_MAX_BYTES = 1024 * 1024;
const MAX_DEPTH = 32;

/** The envelope's members in canonical order (envelope_to_json). */
export interface Envelope {
  event_id: string;
  type: string;
  source: string;
  occurred_at: string;
  subject?: string;
  trace_id: string;
  schema_version: number;
  payload: Record<string, unknown>;
}

// ---- strict JSON (common/json.c) ------------------------------------------

class Fail extends Error {
  constructor(readonly problem: EnvelopeProblem) {
    super(problem.message);
  }
}

interface Frame {
  key: string | null;
  index: number;
  isArray: boolean;
}

function plainKey(k: string): boolean {
  return /^[A-Za-z0-9_$-]+$/.test(k);
}

/** A JSON path segment as common/json.c writes it. */
export function pathKey(prefix: string, key: string): string {
  if (plainKey(key)) return prefix ? `${prefix}.${key}` : key;
  return `${prefix}[${JSON.stringify(key)}]`;
}

type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** Members in document order: duplicates are refused while parsing. */
type Members = Array<[string, JsonValue]>;

class Parser {
  p = 0;
  depth = 0;
  frames: Frame[] = [];
  private readonly dec = new TextDecoder("utf-8", { fatal: true });
  constructor(readonly b: Uint8Array) {}

  fail(at: number, code: EnvelopeErrorCode, what: string): never {
    let line = 1;
    let col = 1;
    for (let q = 0; q < at && q < this.b.length; q++) {
      if (this.b[q] === 0x0a) {
        line++;
        col = 1;
      } else {
        col++;
      }
    }
    let path = "";
    for (let i = 0; i < this.depth; i++) {
      const f = this.frames[i];
      if (f.isArray) path += `[${f.index}]`;
      else if (f.key !== null) path = pathKey(path, f.key);
    }
    throw new Fail({ code, path, message: `${what} at byte ${at} (line ${line}, column ${col})` });
  }

  skipWs(): void {
    const b = this.b;
    while (this.p < b.length && (b[this.p] === 0x20 || b[this.p] === 0x0a || b[this.p] === 0x0d || b[this.p] === 0x09))
      this.p++;
  }

  // Length of the valid UTF-8 sequence at s (< end), or 0 (json.c utf8_seq_len).
  seqLen(s: number, end: number): number {
    const b = this.b;
    const c = b[s];
    const n = end - s;
    const cont = (i: number) => (b[s + i] & 0xc0) === 0x80;
    if (c >= 0xc2 && c <= 0xdf) return n >= 2 && cont(1) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
      if (n < 3 || !cont(1) || !cont(2)) return 0;
      if ((c === 0xe0 && b[s + 1] < 0xa0) || (c === 0xed && b[s + 1] >= 0xa0)) return 0;
      return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
      if (n < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
      if ((c === 0xf0 && b[s + 1] < 0x90) || (c === 0xf4 && b[s + 1] >= 0x90)) return 0;
      return 4;
    }
    return 0;
  }

  hex4(s: number): number {
    if (this.b.length - s < 4) return -1;
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.b[s + i];
      v <<= 4;
      if (c >= 0x30 && c <= 0x39) v |= c - 0x30;
      else if (c >= 0x61 && c <= 0x66) v |= c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) v |= c - 0x41 + 10;
      else return -1;
    }
    return v;
  }

  uEscape(out: number[]): void {
    let cp = this.hex4(this.p);
    if (cp < 0) this.fail(this.p, "bad_json", "bad \\u escape in string");
    this.p += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff) this.fail(this.p, "bad_utf8", "lone low surrogate \\u escape in string");
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const b = this.b;
      const lo = b.length - this.p < 6 || b[this.p] !== 0x5c || b[this.p + 1] !== 0x75 ? -1 : this.hex4(this.p + 2);
      if (lo < 0xdc00 || lo > 0xdfff) this.fail(this.p, "bad_utf8", "lone high surrogate \\u escape in string");
      this.p += 6;
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp === 0) this.fail(this.p, "bad_json", "\\u0000 is not allowed in strings");
    out.push(...Buffer.from(String.fromCodePoint(cp), "utf8"));
  }

  escape(out: number[]): void {
    const c = this.b[this.p++];
    const simple: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 8, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9 };
    if (c === 0x75) return this.uEscape(out);
    if (c in simple) {
      out.push(simple[c]);
      return;
    }
    this.p--;
    this.fail(this.p, "bad_json", "bad escape in string");
  }

  string(): string {
    const b = this.b;
    this.p++;
    let q = this.p;
    while (q < b.length && b[q] !== 0x22) q += b[q] === 0x5c && q + 1 < b.length ? 2 : 1;
    if (q >= b.length) this.fail(this.p, "bad_json", "unterminated string");
    const out: number[] = [];
    while (this.p < q) {
      const c = b[this.p];
      if (c >= 0x20 && c < 0x80 && c !== 0x5c) {
        out.push(c);
        this.p++;
      } else if (c === 0x5c) {
        this.p++;
        this.escape(out);
      } else if (c < 0x20) {
        this.fail(this.p, "bad_json", "control character in string");
      } else {
        const n = this.seqLen(this.p, q);
        if (n === 0) this.fail(this.p, "bad_utf8", "invalid UTF-8 in string");
        for (let i = 0; i < n; i++) out.push(b[this.p + i]);
        this.p += n;
      }
    }
    this.p = q + 1;
    return this.dec.decode(Uint8Array.from(out));
  }

  digits(): number {
    const s = this.p;
    while (this.p < this.b.length && this.b[this.p] >= 0x30 && this.b[this.p] <= 0x39) this.p++;
    return this.p - s;
  }

  number(): number {
    const b = this.b;
    const s = this.p;
    if (b[this.p] === 0x2d) this.p++;
    if (this.p >= b.length || b[this.p] < 0x30 || b[this.p] > 0x39) this.fail(this.p, "bad_json", "bad number");
    const nint = this.digits();
    if (nint > 1 && b[s + (b[s] === 0x2d ? 1 : 0)] === 0x30) this.fail(s, "bad_json", "leading zero in number");
    if (this.p < b.length && b[this.p] === 0x2e) {
      this.p++;
      if (this.digits() === 0) this.fail(this.p, "bad_json", "bad number: digits expected after '.'");
    }
    if (this.p < b.length && (b[this.p] === 0x65 || b[this.p] === 0x45)) {
      this.p++;
      if (this.p < b.length && (b[this.p] === 0x2b || b[this.p] === 0x2d)) this.p++;
      if (this.digits() === 0) this.fail(this.p, "bad_json", "bad number: digits expected in exponent");
    }
    const d = Number(Buffer.from(b.subarray(s, this.p)).toString("latin1"));
    if (!Number.isFinite(d)) this.fail(s, "bad_json", "number out of range");
    return d;
  }

  literal(): JsonValue {
    const lits: Array<[string, JsonValue]> = [["true", true], ["false", false], ["null", null]];
    for (const [w, v] of lits) {
      if (this.b.length - this.p >= w.length && Buffer.from(this.b.subarray(this.p, this.p + w.length)).toString("latin1") === w) {
        this.p += w.length;
        return v;
      }
    }
    this.fail(this.p, "bad_json", "unexpected character");
  }

  enter(isArray: boolean): Frame {
    if (this.depth >= MAX_DEPTH) this.fail(this.p, "too_deep", "nesting is deeper than the limit");
    const f: Frame = { key: null, index: 0, isArray };
    this.frames[this.depth++] = f;
    return f;
  }

  object(): Members {
    const f = this.enter(false);
    const b = this.b;
    const members: Members = [];
    const seen = new Set<string>();
    this.p++;
    this.skipWs();
    if (this.p < b.length && b[this.p] === 0x7d) {
      this.p++;
      this.depth--;
      return members;
    }
    for (;;) {
      f.key = null;
      if (this.p >= b.length || b[this.p] !== 0x22) this.fail(this.p, "bad_json", "expected a string key");
      const keyAt = this.p;
      const key = this.string();
      f.key = key;
      this.skipWs();
      if (this.p >= b.length || b[this.p] !== 0x3a) this.fail(this.p, "bad_json", "expected ':'");
      this.p++;
      this.skipWs();
      const v = this.value();
      if (seen.has(key)) this.fail(keyAt, "duplicate_key", "duplicate key");
      seen.add(key);
      members.push([key, v]);
      this.skipWs();
      if (this.p < b.length && b[this.p] === 0x2c) {
        this.p++;
        this.skipWs();
        continue;
      }
      if (this.p < b.length && b[this.p] === 0x7d) {
        this.p++;
        break;
      }
      this.fail(this.p, "bad_json", "expected ',' or '}'");
    }
    this.depth--;
    return members;
  }

  array(): JsonValue[] {
    const f = this.enter(true);
    const b = this.b;
    const out: JsonValue[] = [];
    this.p++;
    this.skipWs();
    if (this.p < b.length && b[this.p] === 0x5d) {
      this.p++;
      this.depth--;
      return out;
    }
    for (;; f.index++) {
      out.push(this.value());
      this.skipWs();
      if (this.p < b.length && b[this.p] === 0x2c) {
        this.p++;
        this.skipWs();
        continue;
      }
      if (this.p < b.length && b[this.p] === 0x5d) {
        this.p++;
        break;
      }
      this.fail(this.p, "bad_json", "expected ',' or ']'");
    }
    this.depth--;
    return out;
  }

  value(): JsonValue {
    const b = this.b;
    if (this.p >= b.length) this.fail(this.p, "bad_json", "unexpected end of input");
    const c = b[this.p];
    if (c === 0x7b) return Object.fromEntries(this.object()) as JsonValue;
    if (c === 0x5b) return this.array();
    if (c === 0x22) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (c >= 0x80 && this.seqLen(this.p, b.length) === 0) this.fail(this.p, "bad_utf8", "invalid UTF-8");
    return this.literal();
  }

  // The top-level object keeps its members in order (checkMembers walks
  // them); null when the document is valid JSON but not an object.
  top(): Members | null {
    this.skipWs();
    if (this.p >= this.b.length) this.fail(this.p, "bad_json", "empty input");
    const members = this.b[this.p] === 0x7b ? this.object() : null;
    if (members === null) this.value();
    this.skipWs();
    if (this.p < this.b.length) this.fail(this.p, "bad_json", "trailing characters after the JSON value");
    return members;
  }
}

// ---- RFC 3339 (common/timefmt.c) --------------------------------------------

class TimeCursor {
  pos = 0;
  constructor(readonly s: string, readonly path: string) {}
  bad(msg: string): never {
    throw new Fail({
      code: "bad_timestamp",
      path: this.path,
      message: `could not parse "${this.path}" as an RFC 3339 timestamp: ${msg}`,
    });
  }
  digits(n: number, what: string): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const c = this.s.charCodeAt(this.pos);
      if (this.pos >= this.s.length || c < 0x30 || c > 0x39) this.bad(`${what}: expected ${n} digits`);
      v = v * 10 + (c - 0x30);
      this.pos++;
    }
    return v;
  }
  expect(ch: string, alt: string, what: string): void {
    const c = this.s[this.pos];
    if (this.pos < this.s.length && (c === ch || (alt && c === alt))) {
      this.pos++;
      return;
    }
    this.bad(`expected ${what} at character ${this.pos + 1}`);
  }
}

const pad2 = (v: number) => String(v).padStart(2, "0");

function daysInMonth(y: number, m: number): number {
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return m === 2 && leap ? 29 : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
}

/** Parses an RFC 3339 timestamp as switchyard does; returns epoch ms.
 * The string is matched byte for byte (UTF-8), as the C parser sees it. */
export function parseRfc3339(text: string, path = "occurred_at"): number {
  const c = new TimeCursor(Buffer.from(text, "utf8").toString("latin1"), path);
  const y = c.digits(4, "year");
  c.expect("-", "", "'-' after the year");
  const mo = c.digits(2, "month");
  c.expect("-", "", "'-' after the month");
  const d = c.digits(2, "day");
  c.expect("T", "t", "'T' between date and time");
  const h = c.digits(2, "hour");
  c.expect(":", "", "':' after the hour");
  const mi = c.digits(2, "minute");
  c.expect(":", "", "':' after the minute");
  const s = c.digits(2, "second");
  if (mo < 1 || mo > 12) c.bad(`month ${pad2(mo)} is out of range`);
  if (d < 1 || d > daysInMonth(y, mo)) c.bad(`day ${pad2(d)} is out of range for its month`);
  if (h > 23) c.bad(`hour ${pad2(h)} is out of range`);
  if (mi > 59) c.bad(`minute ${pad2(mi)} is out of range`);
  if (s > 59) c.bad(`second ${pad2(s)} is out of range (leap seconds are not accepted)`);
  let ms = 0;
  if (c.s[c.pos] === ".") {
    c.pos++;
    let n = 0;
    while (c.pos < c.s.length && c.s[c.pos] >= "0" && c.s[c.pos] <= "9") {
      if (n < 3) ms = ms * 10 + (c.s.charCodeAt(c.pos) - 0x30);
      n++;
      c.pos++;
    }
    if (n === 0) c.bad("fraction: expected digits after '.'");
    for (; n < 3; n++) ms *= 10;
  }
  let off = 0;
  if (c.pos >= c.s.length) c.bad("zone: missing (expected 'Z' or +hh:mm)");
  const z = c.s[c.pos];
  if (z === "Z" || z === "z") {
    c.pos++;
  } else {
    if (z !== "+" && z !== "-") c.bad(`zone: expected 'Z' or +hh:mm at character ${c.pos + 1}`);
    c.pos++;
    const hh = c.digits(2, "zone hour");
    c.expect(":", "", "':' in the zone offset");
    const mm = c.digits(2, "zone minute");
    if (hh > 23) c.bad(`zone hour ${pad2(hh)} is out of range`);
    if (mm > 59) c.bad(`zone minute ${pad2(mm)} is out of range`);
    off = (z === "-" ? -1 : 1) * (hh * 60 + mm);
  }
  if (c.pos !== c.s.length) c.bad(`unexpected characters after the zone at character ${c.pos + 1}`);
  return (daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off * 60) * 1000 + ms;
}

// Howard Hinnant's days_from_civil, as common/timefmt.c (Date.UTC would
// read years 0-99 as 1900-1999).
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor((y >= 0 ? y : y - 399) / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

// ---- field rules (envelope/envelope.c) ----------------------------------------

const FIELDS = ["event_id", "type", "source", "occurred_at", "subject", "trace_id", "schema_version", "payload"] as const;
const REQUIRED = ["event_id", "type", "source", "occurred_at", "trace_id", "schema_version", "payload"] as const;

function bad(code: EnvelopeErrorCode, path: string, msg: string): never {
  throw new Fail({ code, path, message: `"${path}" ${msg}` });
}

const idChar = (c: number) =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x5f || c === 0x3a || c === 0x2d;

function checkEventId(b: Buffer, path: string): void {
  for (const c of b) if (!idChar(c)) bad("bad_field", path, "may contain only letters, digits and . _ : -");
  if (b.length === 0 || b.length > 128) bad("bad_field", path, "must be 1 to 128 characters long");
}

function checkType(b: Buffer, path: string): void {
  let seg = 0;
  for (const c of b) {
    if (c === 0x2e) {
      if (seg === 0) bad("bad_type", path, "has an empty segment");
      seg = 0;
    } else if (idChar(c) && c !== 0x3a) {
      seg++;
    } else {
      bad("bad_type", path, "segments may contain only letters, digits, _ and -");
    }
  }
  if (b.length === 0 || b.length > 255) bad("bad_type", path, "must be 1 to 255 characters long");
  if (seg === 0) bad("bad_type", path, "has an empty segment");
}

function checkText(b: Buffer, path: string, nonempty: boolean): void {
  let chars = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c < 0x20 || c === 0x7f || (c === 0xc2 && b[i + 1] >= 0x80 && b[i + 1] <= 0x9f))
      bad("bad_field", path, "must not contain control characters");
    if ((c & 0xc0) !== 0x80) chars++;
  }
  if (nonempty && chars === 0) bad("bad_field", path, "must not be empty");
  if (chars > 255) bad("bad_field", path, "must be at most 255 characters long");
}

function checkTraceId(s: string, path: string): void {
  let nonzero = false;
  for (const ch of Buffer.from(s, "utf8")) {
    if (!((ch >= 0x30 && ch <= 0x39) || (ch >= 0x61 && ch <= 0x66))) bad("bad_trace_id", path, "must be 32 lowercase hexadecimal digits");
    if (ch !== 0x30) nonzero = true;
  }
  if (Buffer.byteLength(s) !== 32) bad("bad_trace_id", path, "must be 32 lowercase hexadecimal digits");
  if (!nonzero) bad("bad_trace_id", path, "must not be all zeros");
}

function checkMembers(members: Members): Envelope {
  const f: Partial<Record<(typeof FIELDS)[number], JsonValue>> = {};
  for (const [k, v] of members) {
    if (!(FIELDS as readonly string[]).includes(k))
      throw new Fail({ code: "unknown_field", path: k, message: `unknown envelope member "${k}"` });
    f[k as (typeof FIELDS)[number]] = v;
  }
  for (const r of REQUIRED)
    if (!(r in f)) throw new Fail({ code: "missing_field", path: r, message: `required member "${r}" is missing` });
  for (const k of FIELDS)
    if (k !== "schema_version" && k !== "payload" && k in f && typeof f[k] !== "string") bad("bad_field", k, "must be a string");
  const p = f.payload;
  if (typeof p !== "object" || p === null || Array.isArray(p)) bad("bad_field", "payload", "must be a JSON object");
  const str = (k: (typeof FIELDS)[number]) => f[k] as string;
  checkEventId(Buffer.from(str("event_id")), "event_id");
  checkType(Buffer.from(str("type")), "type");
  checkText(Buffer.from(str("source")), "source", true);
  parseRfc3339(str("occurred_at"));
  if ("subject" in f) checkText(Buffer.from(str("subject")), "subject", false);
  checkTraceId(str("trace_id"), "trace_id");
  const v = f.schema_version;
  if (typeof v !== "number") bad("bad_field", "schema_version", "must be an integer");
  if (v !== Math.floor(v) || v < 1 || v > 2147483647) bad("bad_field", "schema_version", "must be an integer from 1 to 2147483647");
  const env: Envelope = {
    event_id: str("event_id"),
    type: str("type"),
    source: str("source"),
    occurred_at: str("occurred_at"),
    trace_id: str("trace_id"),
    schema_version: v,
    payload: p as Record<string, unknown>,
  };
  if ("subject" in f) env.subject = str("subject");
  return env;
}

export interface ValidateOptions {
  /** The largest valid body in bytes (default 1 MiB, as the router's limits.max_event_bytes). */
  maxBytes?: number;
}

/** Validates one JSON envelope body as `switchyard validate` does (without
 * payload schemas or signatures). Returns null when valid, else the problem
 * with the same code, path and message the C validator reports. A string is
 * taken as its UTF-8 bytes. */
export function validate(body: Uint8Array | string, opts: ValidateOptions = {}): EnvelopeProblem | null {
  try {
    parseEnvelope(body, opts);
    return null;
  } catch (e) {
    if (e instanceof EnvelopeError) return { code: e.code, path: e.path, message: e.message };
    throw e;
  }
}

/** Parses and validates one body; throws EnvelopeError when invalid. */
export function parseEnvelope(body: Uint8Array | string, opts: ValidateOptions = {}): Envelope {
  const b = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  const max = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  try {
    if (b.length > max)
      throw new Fail({ code: "too_large", path: "", message: `the event is ${b.length} bytes, over the limit of ${max}` });
    const top = new Parser(b).top();
    if (top === null) throw new Fail({ code: "bad_json", path: "", message: "the event must be a JSON object" });
    return checkMembers(top);
  } catch (e) {
    if (e instanceof Fail) throw new EnvelopeError(e.problem);
    throw e;
  }
}

// ---- encoding -------------------------------------------------------------------

/** JSON text of a payload value, refusing what JSON cannot carry (JSON.stringify
 * would silently turn NaN into null or drop undefined members). */
export function checkJsonValue(v: unknown, path: string, depth = 1): void {
  if (v === null || typeof v === "string" || typeof v === "boolean") return;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new EnvelopeError({ code: "bad_json", path, message: `"${path}" is not a finite number` });
    return;
  }
  if (typeof v !== "object") throw new EnvelopeError({ code: "bad_json", path, message: `"${path}" is a ${typeof v}, not JSON` });
  if (depth >= MAX_DEPTH) throw new EnvelopeError({ code: "too_deep", path, message: "nesting is deeper than the limit" });
  if (typeof (v as { toJSON?: unknown }).toJSON === "function") return; // Date and friends: their own JSON
  if (Array.isArray(v)) {
    v.forEach((x, i) => checkJsonValue(x, `${path}[${i}]`, depth + 1));
    return;
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined) continue; // JSON.stringify leaves it out, as it should
    checkJsonValue(x, pathKey(path, k), depth + 1);
  }
}

/** The canonical body: compact JSON, members in envelope order
 * (envelope_to_json). This exact text is what gets signed and sent. */
export function encodeEnvelope(env: Envelope): Uint8Array {
  const o: Record<string, unknown> = {
    event_id: env.event_id,
    type: env.type,
    source: env.source,
    occurred_at: env.occurred_at,
  };
  if (env.subject !== undefined) o.subject = env.subject;
  o.trace_id = env.trace_id;
  o.schema_version = env.schema_version;
  o.payload = env.payload;
  return Buffer.from(JSON.stringify(o), "utf8");
}
