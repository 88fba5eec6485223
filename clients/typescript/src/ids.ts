// ids.ts: UUIDv7 event ids (RFC 9562), W3C trace ids and traceparent.
import { randomBytes } from "node:crypto";
import { EnvelopeError } from "./envelope.js";

let lastMs = 0;
let seq = 0;

/** A UUIDv7: 48 bits of Unix milliseconds, then random bits; ids made in
 * the same millisecond by this process still sort in creation order (a
 * 12-bit counter in rand_a, RFC 9562 section 6.2 method 1). */
export function uuidv7(now: number = Date.now()): string {
  if (now <= lastMs) {
    seq++;
    if (seq > 0xfff) {
      lastMs++; // counter exhausted: borrow the next millisecond
      seq = 0;
    }
    now = lastMs;
  } else {
    lastMs = now;
    seq = randomBytes(2).readUInt16BE(0) & 0x7ff; // random start, room to count
  }
  const b = randomBytes(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = 0x70 | (seq >> 8);
  b[7] = seq & 0xff;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function randomHex(bytes: number): string {
  for (;;) {
    const h = randomBytes(bytes).toString("hex");
    if (!/^0+$/.test(h)) return h; // W3C: never all zeros
  }
}

/** A new W3C trace id: 32 lowercase hex digits, not all zero. */
export const newTraceId = () => randomHex(16);
/** A new W3C span (parent) id: 16 lowercase hex digits, not all zero. */
export const newSpanId = () => randomHex(8);

export interface TraceParent {
  version: string;
  traceId: string;
  parentId: string;
  flags: string;
}

/** Parses a W3C traceparent header (version 00, or a later version's first
 * four fields); throws EnvelopeError (bad_trace_id, path "traceparent"). */
export function parseTraceparent(tp: string): TraceParent {
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/.exec(tp.trim());
  const bad = (why: string): never => {
    throw new EnvelopeError({ code: "bad_trace_id", path: "traceparent", message: `"traceparent" ${why}` });
  };
  if (!m) return bad("must be 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>");
  const [, version, traceId, parentId, flags, rest] = m;
  if (version === "ff") bad("has the invalid version ff");
  if (version === "00" && rest !== undefined) bad("of version 00 has extra fields");
  if (/^0+$/.test(traceId)) bad("has an all-zero trace id");
  if (/^0+$/.test(parentId)) bad("has an all-zero parent id");
  return { version, traceId, parentId, flags };
}

/** A traceparent for a child span of traceId (sampled). */
export function formatTraceparent(traceId: string, spanId: string = newSpanId()): string {
  return `00-${traceId}-${spanId}-01`;
}
