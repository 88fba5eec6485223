// BullMQ jobs/s: enqueue N no-op jobs (bulk: addBulk of 1,000; single: one
// add each, 16 in flight) while a Worker with concurrency 100 (the
// documented way to raise throughput for I/O-light jobs) runs them, with
// removeOnComplete so Redis does not grow; the clock runs from the first
// enqueue to the last completion.
// usage: node bullmq.mjs REDIS_PORT N bulk|single   -> one JSON line
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";

const [port, nArg, mode] = process.argv.slice(2);
const n = Number(nArg);
// BullMQ 6 in ESM takes constructed clients; a Worker needs its own (it blocks)
const client = () => new IORedis({ host: "127.0.0.1", port: Number(port), maxRetriesPerRequest: null });
const qconn = client(), wconn = client();
const name = `bench-${mode}-${Date.now()}`;
const queue = new Queue(name, { connection: qconn });
let done = 0, resolveAll;
const all = new Promise((r) => (resolveAll = r));
const worker = new Worker(name, async () => {}, { connection: wconn, concurrency: 100, removeOnComplete: { count: 0 } });
worker.on("completed", () => { if (++done === n) resolveAll(); });
await worker.waitUntilReady();
const t0 = performance.now();
if (mode === "bulk") {
  for (let i = 0; i < n; i += 1000) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) jobs.push({ name: "noop", data: { n: j }, opts: { removeOnComplete: true } });
    await queue.addBulk(jobs);
  }
} else {
  let next = 0;
  const lane = async () => { while (next < n) await queue.add("noop", { n: next++ }, { removeOnComplete: true }); };
  await Promise.all(Array.from({ length: 16 }, lane));
}
await all;
const s = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ peer: "bullmq", version: "6.7.0", mode, jobs: n, seconds: +s.toFixed(3), jobs_per_s: Math.round(n / s) }));
await worker.close();
await queue.obliterate({ force: true });
await queue.close();
qconn.disconnect();
wconn.disconnect();
