// e2e.test.ts: the client against a real `switchyard serve`, nats-server
// -js and Postgres (switchyard testenv): events published by the client
// start workflows, the client's worker runs their tasks (retries, a
// non-retryable error, a heartbeat timeout, cancellation, tasks of closed
// workflows never started, a claim nobody answers asked three times then
// handed back, a graceful stop, kill -9), signed events are accepted and tampered ones dead-lettered, and
// the outcome consumer receives workflow.completed.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import {
  createPublisher,
  loadSigningKey,
  startOutcomeConsumer,
  startWorker,
  TaskError,
  TaskAbortedError,
  isOutcome,
  type OutcomeEvent,
  type Publisher,
  type Worker,
} from "../src/index.js";
import { cli, natsUrl, sql, historyCount, runResult, runStatus, sleep, startService, waitClosed, waitFor, type Service } from "./helpers.js";

const RULES = `version: 1
routes:
  - name: order
    match: { type: order.created }
    start:
      workflow: order
      id: "order-{{ payload.order_id }}"
      input: { order_id: "{{ payload.order_id }}", mode: "{{ payload.mode }}" }
  - name: kill
    match: { type: order.kill }
    start:
      workflow: killable
      id: "kill-{{ payload.order_id }}"
      input: { order_id: "{{ payload.order_id }}" }
  - name: later
    match: { type: order.later }
    start:
      workflow: later
      id: "later-{{ payload.order_id }}"
      input: { order_id: "{{ payload.order_id }}" }
workflows:
  later:
    task_queue: later
    steps:
      - task: ship
        input: { order_id: "{{ input.order_id }}" }
  order:
    task_queue: orders
    steps:
      - task: charge
        input: { order_id: "{{ input.order_id }}", mode: "{{ input.mode }}" }
        retry: { initial_interval: 100ms, backoff: 1.0, maximum_interval: 100ms, maximum_attempts: 3, non_retryable: [bad_input] }
        timeouts: { start_to_close: 1m, heartbeat: 2s }
  killable:
    task_queue: kill
    steps:
      - task: charge
        input: { order_id: "{{ input.order_id }}", mode: hold }
        retry: { initial_interval: 100ms, backoff: 1.0, maximum_interval: 100ms, maximum_attempts: 3 }
        timeouts: { start_to_close: 1m, heartbeat: 1500ms }
`;

let svc: Service;
let pub: Publisher;
let worker: Worker;
let keyPrefix: string;
const aborted = new Map<string, TaskAbortedError>();
const handlerStarted = new Set<string>();

async function handler(t: import("../src/index.js").Task<{ order_id: string; mode: string }>) {
  const { order_id, mode } = t.input;
  handlerStarted.add(order_id);
  switch (mode) {
    case "flaky":
      if (t.attempt < 2) throw new Error("the payment service is down");
      break;
    case "bad":
      throw new TaskError("bad_input", `order ${order_id} has no items`, { retryable: false });
    case "block":
      if (t.attempt === 1) {
        // a stuck worker: no heartbeat can leave while the loop is blocked
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4500);
      }
      break;
    case "wait":
      await new Promise<void>((resolve) =>
        t.signal.addEventListener("abort", () => {
          aborted.set(order_id, t.signal.reason as TaskAbortedError);
          resolve();
        }),
      );
      return "ignored: canceled";
    case "progress":
      await t.heartbeat({ done: 1, of: 2 });
      break;
  }
  return { charged: order_id, attempt: t.attempt };
}

before(async () => {
  keyPrefix = join(mkdtempSync(join(tmpdir(), "sy-cts-key-")), "ts-key");
  await cli(["keygen", "--id", "ts-client", "--out", keyPrefix]);
  const keyring = readFileSync(`${keyPrefix}.pub`, "utf8") + "require-signature signed-*\n";
  svc = await startService("cts", RULES, { keyring });
  pub = await createPublisher(svc.nc, { source: "shop" });
  worker = await startWorker(svc.nc, { queue: "orders", prefix: svc.prefix, concurrency: 8, handler, signals: [] });
});

after(async () => {
  await worker?.stop();
  await svc?.stop();
});

const order = (order_id: string, mode = "ok", extra: object = {}) =>
  pub.publish(svc.eventsSubject, { type: "order.created", subject: `order-${order_id}`, payload: { order_id, mode }, ...extra });

test("a published event starts a workflow that the worker completes; the outcome consumer gets workflow.completed", async () => {
  const got: OutcomeEvent[] = [];
  const oc = await startOutcomeConsumer(svc.nc, {
    durable: "cts-test-outcomes",
    prefix: svc.prefix,
    subject: `${svc.prefix}.workflow.>`,
    types: ["switchyard.workflow.started", "switchyard.workflow.completed"],
    handler: (ev) => void got.push(ev),
  });
  try {
    const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const r = await order("1", "ok", { traceparent: tp });
    assert.equal(r.traceId, "0af7651916cd43dd8448eb211c80319c");
    assert.equal(r.duplicate, false);
    assert.equal(await waitClosed(svc, "order-1"), "completed");
    assert.deepEqual(await runResult(svc, "order-1"), { charged: "1", attempt: 1 });
    assert.equal(await historyCount(svc, "order-1", "task.completed"), 1);
    const ev = (await waitFor("workflow.completed", () => got.find((e) => e.subject === "order-1" && e.type === "switchyard.workflow.completed")))!;
    assert.ok(isOutcome(ev, "switchyard.workflow.completed"));
    assert.equal(ev.payload.workflow_id, "order-1");
    assert.deepEqual(ev.payload.result, { charged: "1", attempt: 1 });
    assert.equal(ev.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert.match(ev.event_id, /^[0-9a-f-]{36}:\d+$/);
    const started = got.find((e) => e.subject === "order-1" && e.type === "switchyard.workflow.started");
    assert.ok(started !== undefined && isOutcome(started, "switchyard.workflow.started"));
    assert.equal(started.payload.causation_id, r.eventId); // the event we published started it
    assert.deepEqual(started.payload.input, { order_id: "1", mode: "ok" });
  } finally {
    await oc.stop();
  }
});

test("a publish of the same event_id again is a duplicate, not a second workflow", async () => {
  const id = "0190a7b2-0000-7000-8000-000000000001";
  const a = await order("dup", "ok", { event_id: id });
  const b = await order("dup", "ok", { event_id: id });
  assert.equal(a.duplicate, false);
  assert.equal(b.duplicate, true);
  assert.equal(a.seq, b.seq);
  assert.equal(await waitClosed(svc, "order-dup"), "completed");
});

test("a failing handler is retried per the workflow's policy", async () => {
  await order("flaky", "flaky");
  assert.equal(await waitClosed(svc, "order-flaky"), "completed");
  assert.deepEqual(await runResult(svc, "order-flaky"), { charged: "flaky", attempt: 2 });
  assert.equal(await historyCount(svc, "order-flaky", "task.failed"), 1);
});

test("a non-retryable error fails the run after one attempt", async () => {
  await order("bad", "bad");
  assert.equal(await waitClosed(svc, "order-bad"), "failed");
  assert.equal(await historyCount(svc, "order-bad", "task.failed"), 1);
  assert.equal(await historyCount(svc, "order-bad", "task.completed"), 0);
});

test("heartbeat(details) is accepted and the task completes", async () => {
  await order("progress", "progress");
  assert.equal(await waitClosed(svc, "order-progress"), "completed");
});

test("a stuck handler misses its heartbeats: the attempt times out and the next one completes", async () => {
  await order("block", "block");
  assert.equal(await waitClosed(svc, "order-block", 40000), "completed");
  assert.equal(await historyCount(svc, "order-block", "task.timed_out"), 1);
  assert.deepEqual(await runResult(svc, "order-block"), { charged: "block", attempt: 2 });
});

test("canceling the workflow aborts the handler's signal and nothing is reported", async () => {
  await order("cancel", "wait");
  await waitFor("the handler to start", () => handlerStarted.has("cancel"));
  await cli(["workflow", "cancel", "order-cancel", "--reason", "test", "--db", svc.db, "--subject-prefix", svc.prefix]);
  const reason = await waitFor("the abort", () => aborted.get("cancel"));
  assert.equal(reason?.kind, "canceled");
  assert.equal(await waitClosed(svc, "order-cancel"), "canceled");
  await sleep(300);
  assert.equal(await historyCount(svc, "order-cancel", "task.completed"), 0);
  assert.equal(worker.stats.canceled, 1);
});

test("stop() takes no new work, finishes the running task, and a late task waits for the next worker", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started = 0;
  const w = await startWorker(svc.nc, {
    queue: "kill",
    prefix: svc.prefix,
    concurrency: 1,
    signals: [],
    handler: async (t) => {
      started++;
      await gate;
      return { by: "graceful", attempt: t.attempt };
    },
  });
  await pub.publish(svc.eventsSubject, { type: "order.kill", payload: { order_id: "g1" } });
  await waitFor("the task to start", () => started === 1);
  const stopped = w.stop();
  await sleep(200);
  release();
  await stopped;
  assert.equal(await waitClosed(svc, "kill-g1"), "completed");
  assert.deepEqual(await runResult(svc, "kill-g1"), { by: "graceful", attempt: 1 });
  assert.equal(w.stats.completed, 1);
});

test("kill -9 of a worker mid-task loses nothing: the task runs again and completes once", async () => {
  const proc = spawn(process.execPath, [join(fileURLToPath(new URL(".", import.meta.url)), "fixtures/worker-proc.js"), natsUrl(), svc.prefix, "kill", "3000"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  try {
    await waitFor("the worker process", () => out.includes("ready"));
    await pub.publish(svc.eventsSubject, { type: "order.kill", payload: { order_id: "k1" } });
    await waitFor("the task to be held", () => out.includes("holding"));
    proc.kill("SIGKILL");
    await new Promise((r) => proc.once("exit", r));
    // a fresh worker picks up the next attempt (the heartbeat timeout fired)
    // and the redelivered first attempt, whose report is ignored
    const w2 = await startWorker(svc.nc, { queue: "kill", prefix: svc.prefix, signals: [], handler: (t) => ({ by: "w2", attempt: t.attempt }) });
    try {
      assert.equal(await waitClosed(svc, "kill-k1", 40000), "completed");
      assert.equal(await historyCount(svc, "kill-k1", "task.completed"), 1);
      assert.equal(await historyCount(svc, "kill-k1", "task.timed_out"), 1);
      assert.deepEqual(await runResult(svc, "kill-k1"), { by: "w2", attempt: 2 });
    } finally {
      await w2.stop();
    }
  } finally {
    proc.kill("SIGKILL");
  }
});

test("tasks of workflows closed while queued are never started (the claim check); an open one runs", async () => {
  const later = (order_id: string) => pub.publish(svc.eventsSubject, { type: "order.later", payload: { order_id } });
  await later("canceled");
  await later("terminated");
  await waitFor("both runs", async () => (await runStatus(svc, "later-canceled")) && (await runStatus(svc, "later-terminated")));
  // their task.created are in the stream before the runs close
  await waitFor("the outbox to drain", async () => (await sql(svc.db, "SELECT count(*) FROM switchyard.outbox")) === "0");
  const common = ["--reason", "test", "--db", svc.db, "--subject-prefix", svc.prefix];
  await cli(["workflow", "cancel", "later-canceled", ...common]);
  await cli(["workflow", "terminate", "later-terminated", ...common]);
  assert.equal(await waitClosed(svc, "later-canceled"), "canceled");
  assert.equal(await waitClosed(svc, "later-terminated"), "terminated");
  const ran: string[] = [];
  const w = await startWorker(svc.nc, { queue: "later", prefix: svc.prefix, concurrency: 4, signals: [], handler: (t) => void ran.push(t.workflowId) });
  try {
    await later("open");
    assert.equal(await waitClosed(svc, "later-open"), "completed");
    await waitFor("both closed tasks acked unrun", () => w.stats.notRun === 2);
    assert.deepEqual(ran, ["later-open"]);
    const jsm = await jetstreamManager(svc.nc);
    const ci = await jsm.consumers.info(`${svc.prefix.toUpperCase()}_SY`, "sy-worker-later");
    assert.equal(ci.num_ack_pending + ci.num_pending, 0);
  } finally {
    await w.stop();
  }
});

// A queue on a stream of its own that no switchyard serve reads, so nobody
// answers task.started. The worker asks three times (each ask with a
// message id of its own), never runs the task and hands it back; the
// redelivery asks again with the delivery count in its id.
test("TestWithoutAVerdictTheClaimIsAskedThreeTimesThenHandedBack", async () => {
  const prefix = "claimts";
  const queue = "unanswered";
  const jsm = await jetstreamManager(svc.nc);
  await jsm.streams.delete("CLAIMTS").catch(() => {});
  await jsm.streams.add({ name: "CLAIMTS", subjects: [`${prefix}.>`], storage: StorageType.Memory });
  const asks: Array<{ id: string; replyTo: string; at: number }> = [];
  const sub = svc.nc.subscribe(`${prefix}.report.${queue}`, {
    callback: (err, m) => {
      if (err || m.json<{ type?: string }>().type !== "task.started") return;
      asks.push({ id: m.headers?.get("Nats-Msg-Id") ?? "", replyTo: m.headers?.get("Sy-Reply-To") ?? "", at: Date.now() });
    },
  });
  const ran: string[] = [];
  const w = await startWorker(svc.nc, { queue, prefix, claimWaitMs: 300, signals: [], handler: (t) => void ran.push(t.taskId) });
  try {
    const taskId = `claim-${Date.now()}:0`;
    const payload = { task_id: taskId, attempt: 1, workflow_id: "claim-wf", run_id: "claim-run", queue, task: "ship", input: {} };
    await jetstream(svc.nc).publish(`${prefix}.task.created.${queue}`, JSON.stringify({ type: "task.created", payload }));
    const redelivered = `${taskId}:1:started:2`;
    await waitFor("the redelivery's task.started", () => asks.some((a) => a.id === redelivered), 30000);
    const want = [`${taskId}:1:started`, `${taskId}:1:started.1`, `${taskId}:1:started.2`, redelivered];
    assert.deepEqual(
      asks.slice(0, want.length).map((a) => a.id),
      want,
    );
    for (const [i, a] of asks.slice(0, want.length).entries()) {
      assert.match(a.replyTo, /^_INBOX\./, `ask ${a.id}: Sy-Reply-To`);
      if (i > 0 && i < 3) assert.ok(a.at - asks[i - 1].at >= 250, `ask ${a.id} came ${a.at - asks[i - 1].at} ms after the one before: it did not wait for the verdict`);
    }
    // handed back with its 5 s delay after the third ask, not before it
    assert.ok(asks[3].at - asks[2].at >= 4000, `redelivered ${asks[3].at - asks[2].at} ms after the third ask, want the hand-back's 5 s delay`);
    assert.deepEqual(ran, [], "the handler ran a task the engine never said to run");
  } finally {
    await w.stop();
    sub.unsubscribe();
    await jsm.streams.delete("CLAIMTS").catch(() => {});
  }
});

test("a signed event is accepted; a tampered one is dead-lettered as bad_signature", async () => {
  const signed = await createPublisher(svc.nc, { source: "signed-shop", keyFile: `${keyPrefix}.key` });
  await signed.publish(svc.eventsSubject, { type: "order.created", payload: { order_id: "signed", mode: "ok" } });
  assert.equal(await waitClosed(svc, "order-signed"), "completed");

  const key = await loadSigningKey(`${keyPrefix}.key`);
  const tampering = await createPublisher(svc.nc, {
    source: "signed-shop",
    signingKey: { keyId: key.keyId, sign: (b) => key.sign(Buffer.concat([Buffer.from(b), Buffer.from(" ")])) },
  });
  const r = await tampering.publish(svc.eventsSubject, { type: "order.created", payload: { order_id: "tampered", mode: "ok" } });
  const code = await waitFor("the dead letter", () => deadLetter(r.eventId));
  assert.equal(code, "bad_signature");
  assert.equal(await runStatus(svc, "order-tampered"), "");

  // unsigned from a source that must sign: dead-lettered too
  const u = await pub.publish(svc.eventsSubject, { type: "order.created", source: "signed-shop", payload: { order_id: "unsigned", mode: "ok" } });
  assert.equal(await waitFor("the dead letter", () => deadLetter(u.eventId)), "unsigned");
});

/** The code of the dead letter whose body holds this event_id ("" when none:
 * an event that fails validation has no trusted event_id column). */
function deadLetter(eventId: string): Promise<string> {
  return sql(svc.db, `SELECT code FROM switchyard.dead_letters WHERE convert_from(body, 'UTF8') LIKE '%${eventId}%'`);
}
