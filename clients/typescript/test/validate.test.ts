// validate.test.ts: the client's local validation answers what
// `switchyard validate` answers, for every body of the shared corpus (the
// expectations come from running the real binary, not from a copy).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { validate, encodeEnvelope, parseEnvelope, EnvelopeError, Publisher } from "../src/index.js";
import { corpus, switchyard } from "./helpers.js";

const run = promisify(execFile);

async function cValidate(bodies: Buffer[]): Promise<Array<{ valid: boolean; error?: { code: string; path: string; message: string } }>> {
  const dir = mkdtempSync(join(tmpdir(), "sy-validate-"));
  const files = bodies.map((b, i) => {
    const f = join(dir, `${i}.json`);
    writeFileSync(f, b);
    return f;
  });
  // exit 65 when some are invalid: that is expected here
  const r = await run(switchyard, ["validate", ...files], { maxBuffer: 1 << 24 }).catch((e) => e);
  return String(r.stdout)
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

test("validate matches switchyard validate on the whole corpus", async () => {
  const cases = corpus();
  const want = await cValidate(cases.map((c) => c.bytes));
  assert.equal(want.length, cases.length);
  let invalid = 0;
  cases.forEach((c, i) => {
    const got = validate(c.bytes);
    const w = want[i];
    if (w.valid) assert.equal(got, null, `${c.name}: switchyard says valid, client says ${JSON.stringify(got)}`);
    else {
      invalid++;
      assert.deepEqual(got, w.error, `${c.name}`);
    }
  });
  assert.ok(invalid > 80, "the corpus has invalid cases");
});

test("encodeEnvelope writes the members in the canonical order and round-trips", () => {
  const env = {
    payload: { a: [1, "ü"] },
    schema_version: 2,
    trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
    subject: "s",
    occurred_at: "2026-01-01T00:00:00Z",
    source: "shop",
    type: "a.b",
    event_id: "e1",
  };
  const body = Buffer.from(encodeEnvelope(env)).toString();
  assert.equal(
    body,
    '{"event_id":"e1","type":"a.b","source":"shop","occurred_at":"2026-01-01T00:00:00Z","subject":"s","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","schema_version":2,"payload":{"a":[1,"ü"]}}',
  );
  assert.deepEqual(parseEnvelope(body), { ...env });
});

test("the publisher refuses what JSON cannot carry and bad envelopes, with the field's path", () => {
  const p = new Publisher({} as never, { source: "shop" });
  const bad = (ev: object, code: string, path: string) =>
    assert.throws(
      () => {
        const env = p.envelope(ev as never);
        parseEnvelope(encodeEnvelope(env));
      },
      (e: unknown) => e instanceof EnvelopeError && e.code === code && e.path === path,
    );
  bad({ type: "a", payload: { x: NaN } }, "bad_json", "payload.x");
  bad({ type: "a", payload: { x: [1, () => 1] } }, "bad_json", "payload.x[1]");
  bad({ type: "a", payload: { x: 10n } }, "bad_json", "payload.x");
  bad({ type: "a b", payload: {} }, "bad_type", "type");
  bad({ type: "a", source: "", payload: {} }, "bad_field", "source");
  bad({ type: "a", payload: {}, traceparent: "00-zz-00f067aa0ba902b7-01" }, "bad_trace_id", "traceparent");
  bad({ type: "a", payload: { s: "\u0000" } }, "bad_json", "payload.s");
  bad({ type: "a", payload: { s: "\udc00" } }, "bad_utf8", "payload.s");
  const env = p.envelope({ type: "a", payload: {}, traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
  assert.equal(env.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.match(env.event_id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.match(env.occurred_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});
