// graphile-worker jobs/s: enqueue N no-op jobs (bulk: addJobs of 1,000 a
// transaction; single: one addJob each, 16 in flight) while a worker with the
// documented high-throughput preset (worker.graphile.org/docs/performance)
// runs them; the clock runs from the first enqueue to the last completion.
// usage: node graphile.mjs CONNSTRING N bulk|single   -> one JSON line
import { run, makeWorkerUtils } from "graphile-worker";

const [conn, nArg, mode] = process.argv.slice(2);
const n = Number(nArg);
let done = 0, resolveAll;
const all = new Promise((r) => (resolveAll = r));
const preset = {
  worker: {
    connectionString: conn, concurrentJobs: 24, maxPoolSize: 25,
    localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0,
  },
};
const utils = await makeWorkerUtils({ connectionString: conn });
await utils.migrate();
const runner = await run({
  preset, noHandleSignals: true,
  taskList: { noop: async () => { if (++done === n) resolveAll(); } },
});
const t0 = performance.now();
if (mode === "bulk") {
  for (let i = 0; i < n; i += 1000) {
    const specs = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) specs.push({ identifier: "noop", payload: { n: j } });
    await utils.addJobs(specs);
  }
} else {
  let next = 0;
  const lane = async () => { while (next < n) await utils.addJob("noop", { n: next++ }); };
  await Promise.all(Array.from({ length: 16 }, lane));
}
await all;
const s = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ peer: "graphile-worker", version: "0.17.3", mode, jobs: n, seconds: +s.toFixed(3), jobs_per_s: Math.round(n / s) }));
await runner.stop();
await utils.release();
