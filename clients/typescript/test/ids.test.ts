// ids.test.ts: UUIDv7 layout and order, trace ids, traceparent parsing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { uuidv7, newTraceId, parseTraceparent, formatTraceparent } from "../src/index.js";

test("uuidv7 carries the time, version 7, variant 10, and sorts in creation order", () => {
  const ids = Array.from({ length: 5000 }, () => uuidv7());
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
  const ms = parseInt(uuidv7(1767225600000).replace(/-/g, "").slice(0, 12), 16);
  assert.ok(ms >= 1767225600000);
});

test("trace ids and traceparent", () => {
  assert.match(newTraceId(), /^[0-9a-f]{32}$/);
  const tp = parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  assert.equal(tp.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.match(formatTraceparent(tp.traceId), /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  for (const bad of [
    "",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
  ])
    assert.throws(() => parseTraceparent(bad), { code: "bad_trace_id" }, bad);
  // a later version may add fields
  assert.equal(parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x").version, "01");
});
