// pg-boss jobs/s: enqueue N no-op jobs (bulk: insert of 1,000 a statement;
// single: one send each, 16 in flight) while 4 workers fetch batches of 100
// (work() with batchSize; the polling floor is 0.5 s) run them; the clock
// runs from the first enqueue to the last completion.
// usage: node pgboss.mjs CONNSTRING N bulk|single   -> one JSON line
import PgBoss from "pg-boss";

const [conn, nArg, mode] = process.argv.slice(2);
const n = Number(nArg);
const boss = new PgBoss({ connectionString: conn, max: 10 });
boss.on("error", (e) => console.error(e));
await boss.start();
const name = `bench-${mode}-${Date.now()}`;
await boss.createQueue(name);
let done = 0, resolveAll;
const all = new Promise((r) => (resolveAll = r));
const handler = async (jobs) => { done += jobs.length; if (done >= n) resolveAll(); };
for (let i = 0; i < 4; i++) await boss.work(name, { batchSize: 100, pollingIntervalSeconds: 0.5 }, handler);
const t0 = performance.now();
if (mode === "bulk") {
  for (let i = 0; i < n; i += 1000) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) jobs.push({ name, data: { n: j } });
    await boss.insert(jobs);
  }
} else {
  let next = 0;
  const lane = async () => { while (next < n) await boss.send(name, { n: next++ }); };
  await Promise.all(Array.from({ length: 16 }, lane));
}
await all;
const s = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ peer: "pg-boss", version: "10.4.2", mode, jobs: n, seconds: +s.toFixed(3), jobs_per_s: Math.round(n / s) }));
await boss.stop({ graceful: false, wait: false });
