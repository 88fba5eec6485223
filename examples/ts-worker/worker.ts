// examples/ts-worker/worker.ts: a worker for the gap-drain queue of
// examples/rules.yaml with @switchyard/client (clients/typescript), the
// TypeScript twin of `switchyard worker --queue gap-drain -- examples/drain.sh`.
//
//   NATS_URL=nats://127.0.0.1:4222 node dist/examples/ts-worker/worker.js
//
// SIGTERM or SIGINT: no new tasks, running ones finish (30 s), then exit.
// In your own project: import from "@switchyard/client".
import { connect, startWorker, TaskError, type Task } from "../../src/index.js";

interface DrainInput {
  gap_id?: string;
}

async function drain(task: Task<DrainInput>) {
  if (!task.input.gap_id) throw new TaskError("bad_input", "no gap_id", { retryable: false }); // the step's non_retryable
  for (let page = 1; page <= 3; page++) {
    if (task.signal.aborted) throw task.signal.reason; // canceled, timed out or handed back
    await new Promise((r) => setTimeout(r, 100)); // a page of real work
    await task.heartbeat({ page, of: 3 }); // progress, for the UI and the heartbeat timeout
  }
  return { drained: true, gap_id: task.input.gap_id, attempt: task.attempt };
}

const nc = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" });
const worker = await startWorker(nc, { queue: "gap-drain", concurrency: 8, handler: drain });
await worker.closed;
console.error("worker stopped", JSON.stringify(worker.stats));
await nc.close();
