// examples/ts-publisher/publish.ts: publish a domain event from a
// TypeScript service with @switchyard/client (clients/typescript). The
// event below is the one of examples/gap-ready.json: with
// examples/rules.yaml it starts workflow gap-drain-42, whose drain task
// examples/ts-worker runs.
//
//   NATS_URL=nats://127.0.0.1:4222 node dist/examples/ts-publisher/publish.js
//
// In your own project: import from "@switchyard/client".
import { connect, createPublisher } from "../../src/index.js";

const nc = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" });
try {
  // keyFile: a key of `switchyard keygen` signs every event (PREFIX.pub in
  // the router's keyring)
  const pub = await createPublisher(nc, { source: "monolith", keyFile: process.env.SY_KEY_FILE });
  const r = await pub.publish("events.kg", {
    type: "kg.gap.ready",
    subject: "gap-42",
    payload: { gap_id: 42, priority: 3, kind: "kg", title: "Hello" },
  });
  // resolved after the PubAck: the event is stored; duplicate: it was already
  console.log(JSON.stringify({ event_id: r.eventId, trace_id: r.traceId, seq: r.seq, duplicate: r.duplicate }));
} finally {
  await nc.close();
}
