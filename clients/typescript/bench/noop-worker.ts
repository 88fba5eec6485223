// noop-worker.ts: the TypeScript worker that clients/bench.sh measures in
// `switchyard bench roundtrip --worker-cmd`: a no-op handler on the queue
// $SY_QUEUE at $SY_NATS_URL (set by the bench), concurrency
// $SY_CONCURRENCY (default 64), the whole protocol (task.started with the
// claim check, task.completed, each waiting for its PubAck; the ack after).
// Stops on SIGTERM, printing its stats and CPU per task to stderr.
import { connect } from "@nats-io/transport-node";
import { startWorker } from "../src/index.js";

const nc = await connect({ servers: process.env.SY_NATS_URL ?? "nats://127.0.0.1:4222" });
const w = await startWorker(nc, {
  queue: process.env.SY_QUEUE ?? "rtq",
  prefix: process.env.SY_PREFIX ?? "sy",
  concurrency: Number(process.env.SY_CONCURRENCY ?? 64),
  noClaim: process.env.SY_NO_CLAIM === "1",
  handler: () => ({ ok: true }),
});
await w.closed;
const cpu = process.cpuUsage(); // the client's CPU per task, for clients/bench.sh's log
const done = w.stats.completed || 1;
console.error("ts worker stats", JSON.stringify({ ...w.stats, cpu_us_per_task: Math.round((cpu.user + cpu.system) / done) }));
await nc.close();
