// worker.ts: a worker for one switchyard task queue, following
// docs/worker-protocol.md as the reference worker (worker/worker*.c) does:
// a durable pull consumer "sy-worker-<queue>" shared by every worker of the
// queue, pulled only for free slots; per task: task.started (PubAck) asking
// the engine whether to run it (the claim check: a task of a closed
// workflow is acked, never run), the handler, heartbeats (+WPI) while it runs, task.completed or task.failed
// (PubAck), and only then the ack. A cancel event for the task's workflow or
// task aborts the handler's signal and acks without a report; stop()
// (SIGTERM) takes no new tasks, gives running ones a grace period, then
// aborts and hands back (naks) the rest.
import { hostname } from "node:os";
import { jetstreamManager } from "@nats-io/jetstream";
import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { awaitStream, defaultLogger, deliveryCount, ensureConsumer, PubAcks, sleep, type Logger } from "./jsutil.js";
import { formatTraceparent } from "./ids.js";

/** The task's timeouts from task.created (0: none). */
export interface TaskTimeouts {
  schedule_to_start_ms: number;
  start_to_close_ms: number;
  schedule_to_close_ms: number;
  heartbeat_ms: number;
}

/** One attempt of a task, as the handler sees it. */
export interface Task<I = unknown> {
  taskId: string;
  attempt: number;
  workflowId: string;
  runId: string;
  workflowType: string;
  /** The task's name in the workflow definition (`task: drain`). */
  name: string;
  queue: string;
  input: I;
  timeouts: TaskTimeouts;
  traceId: string;
  /** A W3C traceparent continuing the workflow's trace, for your own spans. */
  traceparent: string;
  /** How many times JetStream delivered this message (1 the first time). */
  deliveries: number;
  /** The task.created envelope as received. */
  event: Record<string, unknown>;
  /** Aborted when the run or task is canceled, the attempt times out or the
   * worker hands the task back; signal.reason is a TaskAbortedError. */
  signal: AbortSignal;
  /** Sends a heartbeat now (with optional progress details) and waits for
   * its PubAck; heartbeats are also sent automatically while the handler runs. */
  heartbeat(details?: unknown): Promise<void>;
}

export type TaskHandler<I = unknown, R = unknown> = (task: Task<I>) => R | Promise<R>;

/** Throw this from a handler to choose the reported error type and whether
 * the engine may retry (error.type is matched against the step's
 * retry.non_retryable). Any other error is reported with its name as the
 * type, retryable. */
export class TaskError extends Error {
  readonly type: string;
  readonly retryable: boolean;
  readonly details?: unknown;
  constructor(type: string, message: string, opts: { retryable?: boolean; details?: unknown } = {}) {
    super(message);
    this.name = "TaskError";
    this.type = type;
    this.retryable = opts.retryable ?? true;
    this.details = opts.details;
  }
}

/** The reason of an aborted task signal. */
export class TaskAbortedError extends Error {
  constructor(
    readonly kind: "canceled" | "timeout" | "shutdown",
    message: string,
  ) {
    super(message);
    this.name = "TaskAbortedError";
  }
}

export interface WorkerOptions {
  queue: string;
  handler: TaskHandler<any, any>;
  /** Tasks run at once (default 1). */
  concurrency?: number;
  /** Subject prefix (default "sy", engine.subject_prefix). */
  prefix?: string;
  /** The stream holding the queue's subject (default: found by subject). */
  stream?: string;
  /** The durable consumer (default "sy-worker-<queue>"). */
  durable?: string;
  /** Heartbeat period (default 10 s, or a third of the task's heartbeat_ms when smaller). */
  heartbeatMs?: number;
  /** AckWait of a consumer this worker creates (default 60 s). */
  ackWaitMs?: number;
  /** After stop: how long running tasks may take before they are handed back (default 30 s). */
  graceMs?: number;
  /** Per attempt; default the task's start_to_close_ms, else none. */
  timeoutMs?: number;
  /** Stop on these signals (default SIGTERM and SIGINT; [] for none). */
  signals?: NodeJS.Signals[];
  /** Stop when this is aborted. */
  signal?: AbortSignal;
  /** How long each task.started of the claim check waits for the engine's
   * verdict (default 10 s, at most half the consumer's ack wait); without
   * an answer it asks again, and after three unanswered asks the task is
   * handed back. */
  claimWaitMs?: number;
  /** Run tasks without asking the engine first (setups without a switchyard
   * engine; tasks of closed workflows may then run). */
  noClaim?: boolean;
  /** Reported as "worker" (default host:pid). */
  workerId?: string;
  logger?: Logger;
}

export interface WorkerStats {
  completed: number;
  failed: number;
  canceled: number;
  handedBack: number;
  terminated: number;
  /** Acked without running: the engine said the task's run is closed, the
   * attempt is not current or the task is unknown (the claim check). */
  notRun: number;
}

/** The engine's answer to a task.started that asked (docs/worker-protocol.md). */
type Verdict = "run" | "closed" | "stale" | "unknown" | "duplicate";
const VERDICTS: readonly string[] = ["run", "closed", "stale", "unknown", "duplicate"];
/** The claim check's header: the engine answers on this inbox from a read of its committed state. */
const CLAIM_HEADER = "Sy-Reply-To";
/** A final report's header: when the handler began, so that the history gets
 * the task.started another engine consumer may hold (docs/worker-protocol.md). */
const STARTED_HEADER = "Sy-Started-At";
/** How many times the claim check asks before the task is handed back
 * (worker_task.c's CLAIM_TRIES). */
const CLAIM_TRIES = 3;

/** The message id kind of task.started for ask `ask` (0 the first) of
 * delivery `deliveries`, as worker_task.c's claim_id: "started",
 * "started.1", "started.2"; on a redelivery "started:<n>", "started:<n>.1",
 * …. Each ask needs an id of its own, or the stream drops it as a
 * duplicate of the one before and the engine never answers it. */
function claimKind(deliveries: number, ask: number): string {
  const kind = deliveries > 1 ? `started:${deliveries}` : "started";
  return ask > 0 ? `${kind}.${ask}` : kind;
}

const QUEUE_RE = /^[A-Za-z0-9_-]{1,64}$/;
const PULL_EXPIRES_MS = 10000;
const CANCEL_SUBJECTS = ["workflow.canceled.>", "workflow.terminated.>", "task.canceled.>"];

interface Running {
  msg: Msg;
  taskId: string;
  workflowId: string;
  runId: string;
  ctrl: AbortController;
  settled: boolean; // ack, nak or term sent: later outcomes are ignored
  // resolves at settle(): the slot is freed even if the handler ignores its
  // signal (nothing can kill a promise; its late outcome is dropped)
  abandoned: Promise<"abandoned">;
  abandon: () => void;
  // when the handler started (RFC 3339), sent with the final report: the
  // engine may hold task.started a moment (docs/worker-protocol.md)
  startedAt?: string;
}

/** Cuts an error type to what the engine accepts: 1-64 of [A-Za-z0-9_.:-]. */
export function errorType(t: unknown): string {
  const s = String(t ?? "").replace(/[^A-Za-z0-9_.:-]/g, "_").slice(0, 64);
  return s || "error";
}

/** The report's error object for whatever a handler threw. */
export function errorReport(e: unknown): Record<string, unknown> {
  const o = (typeof e === "object" && e !== null ? e : {}) as { type?: unknown; name?: unknown; message?: unknown; retryable?: unknown; details?: unknown };
  const err: Record<string, unknown> = {
    type: errorType(typeof o.type === "string" ? o.type : (o.name ?? "error")),
    message: String(e instanceof Error ? e.message : typeof o.message === "string" ? o.message : e).slice(0, 65536),
    retryable: o.retryable !== false,
  };
  if (o.details !== undefined) err.details = o.details;
  return err;
}

export class Worker {
  readonly stats: WorkerStats = { completed: 0, failed: 0, canceled: 0, handedBack: 0, terminated: 0, notRun: 0 };
  /** Resolves once the worker stopped and every task was reported or handed back. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private readonly log: Logger;
  private readonly prefix: string;
  private readonly concurrency: number;
  private readonly reportSubject: string;
  private readonly workerId: string;
  private stream = "";
  private durable: string;
  private ackWaitMs: number;
  private inbox = "";
  private claimInbox = "";
  private claimSeq = 0;
  private acks: PubAcks | null = null; // the reports' PubAcks
  private claims = new Map<string, { taskId: string; attempt: number; resolve: (v: Verdict) => void }>();
  private subs: Subscription[] = [];
  private readonly running = new Set<Running>();
  private requests = new Map<string, { n: number; at: number }>(); // open pull requests
  private outstanding = 0;
  private reqSeq = 0;
  private stopping = false;
  private pumpTimer: NodeJS.Timeout | null = null;
  private pumpQueued = false;
  private idle: Array<() => void> = [];
  private readonly onSignal = () => void this.stop();

  constructor(
    private readonly nc: NatsConnection,
    private readonly o: WorkerOptions,
  ) {
    if (!QUEUE_RE.test(o.queue)) throw new Error("queue name must be 1-64 characters of [A-Za-z0-9_-]");
    this.log = o.logger ?? defaultLogger;
    this.prefix = o.prefix ?? "sy";
    this.concurrency = Math.max(1, o.concurrency ?? 1);
    this.durable = o.durable ?? `sy-worker-${o.queue}`;
    this.ackWaitMs = o.ackWaitMs ?? 60000;
    this.reportSubject = `${this.prefix}.report.${o.queue}`;
    this.workerId = o.workerId ?? `${hostname()}:${process.pid}`;
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }

  /** Finds the stream (waiting for it), sets up the consumer and starts pulling. */
  async start(): Promise<void> {
    for (const s of this.o.signals ?? ["SIGTERM", "SIGINT"]) process.on(s, this.onSignal);
    this.o.signal?.addEventListener("abort", this.onSignal, { once: true });
    const subject = `${this.prefix}.task.created.${this.o.queue}`;
    const jsm = await jetstreamManager(this.nc);
    const stream =
      this.o.stream ??
      (await awaitStream(jsm, subject, () => this.stopping, () => this.log.warn("waiting for the stream", { subject })));
    if (!stream) return; // stopped before any stream appeared
    this.stream = stream;
    const ci = await ensureConsumer(jsm, stream, this.durable, {
      filter_subject: subject,
      ack_wait: this.ackWaitMs * 1e6,
      max_ack_pending: Math.max(1000, this.concurrency),
    });
    this.ackWaitMs = ci.config.ack_wait ? ci.config.ack_wait / 1e6 : this.ackWaitMs;
    if (!this.o.noClaim) {
      this.claimInbox = createInbox();
      this.subs.push(this.nc.subscribe(`${this.claimInbox}.*`, { callback: (err, m) => void (err || this.onVerdict(m)) }));
    }
    for (const s of CANCEL_SUBJECTS)
      this.subs.push(this.nc.subscribe(`${this.prefix}.${s}`, { callback: (err, m) => void (err || this.onCancel(m)) }));
    this.acks = new PubAcks(this.nc);
    this.inbox = createInbox();
    this.subs.push(this.nc.subscribe(`${this.inbox}.*`, { callback: (err, m) => void (err || this.onPulled(m)) }));
    void this.watchStatus();
    await this.nc.flush();
    this.log.info("worker started", { queue: this.o.queue, worker: this.workerId });
    this.pump();
  }

  /** Takes no new tasks, waits up to graceMs for running ones, then aborts
   * and hands back the rest; resolves when done (same promise as closed). */
  stop(): Promise<void> {
    if (this.stopping) return this.closed;
    this.stopping = true;
    for (const s of this.o.signals ?? ["SIGTERM", "SIGINT"]) process.off(s, this.onSignal);
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    void this.drain();
    return this.closed;
  }

  private async drain(): Promise<void> {
    const grace = this.o.graceMs ?? 30000;
    if (this.running.size > 0) {
      this.log.info("stopping: waiting for running tasks", { running: this.running.size });
      await Promise.race([new Promise<void>((r) => this.idle.push(r)), sleep(grace)]);
    }
    for (const t of [...this.running]) {
      t.ctrl.abort(new TaskAbortedError("shutdown", "the worker is stopping: the task is handed back"));
      this.settle(t, "-NAK");
      this.stats.handedBack++;
      this.log.info("task handed back", { task_id: t.taskId });
    }
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.acks?.close();
    try {
      await this.nc.flush();
    } catch {
      // the connection is gone: the server forgot our pulls and acks alike
    }
    this.log.info("worker stopped", { queue: this.o.queue });
    this.resolveClosed();
  }

  // A reconnect loses the server's open pull requests: forget ours too.
  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === "reconnect") {
        this.requests.clear();
        this.outstanding = 0;
        this.pump();
      }
    }
  }

  // ---- pulling: only for free slots ------------------------------------------------

  /** Schedules a pull for the free slots (coalesced: many tasks ending at
   * once make one request, not one each). */
  private pump(): void {
    if (this.pumpQueued || this.stopping) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pull(false);
    });
  }

  private pull(late: boolean): void {
    if (this.stopping || !this.inbox) return;
    const now = Date.now();
    for (const [id, r] of this.requests) if (now - r.at > PULL_EXPIRES_MS + 5000) this.requests.delete(id);
    // every request we know of is over (filled, or its status was lost)
    if (this.requests.size === 0) this.outstanding = 0;
    const free = this.concurrency - this.running.size - this.outstanding;
    if (free <= 0) return;
    const threshold = Math.max(1, Math.floor(this.concurrency / 4));
    if (!late && free < threshold && this.outstanding + this.running.size > 0) {
      // a few slots free and work in hand: wait a little for more to free up
      if (!this.pumpTimer) this.pumpTimer = setTimeout(() => ((this.pumpTimer = null), this.pull(true)), 10);
      return;
    }
    const id = String(++this.reqSeq);
    this.requests.set(id, { n: free, at: now });
    this.outstanding += free;
    this.nc.publish(
      `$JS.API.CONSUMER.MSG.NEXT.${this.stream}.${this.durable}`,
      JSON.stringify({ batch: free, expires: PULL_EXPIRES_MS * 1e6 }),
      { reply: `${this.inbox}.${id}` },
    );
  }

  // Pulled messages keep their stream subject; only a request's status
  // (404/408/409, no body) comes on its own reply subject, with the number
  // of messages it did not deliver in Nats-Pending-Messages.
  private onPulled(m: Msg): void {
    const code = m.headers?.code ?? 0;
    if (code >= 100 && m.data.length === 0 && m.subject.startsWith(this.inbox)) {
      if (code !== 100) {
        const id = m.subject.slice(this.inbox.length + 1);
        const header = m.headers?.get("Nats-Pending-Messages");
        // without the header (a 409), assume nothing of the request came
        const left = header ? Number(header) || 0 : (this.requests.get(id)?.n ?? 0);
        this.outstanding -= Math.min(this.outstanding, left);
        this.requests.delete(id);
      }
      this.pump();
      return;
    }
    if (this.outstanding > 0) this.outstanding--;
    if (!m.reply) return;
    if (this.stopping) {
      m.respond("-NAK"); // pulled as we stopped: give it back at once
      return;
    }
    void this.runTask(m);
  }

  // ---- one task ------------------------------------------------------------------------

  private onCancel(m: Msg): void {
    let body: Record<string, unknown>;
    try {
      body = m.json();
    } catch {
      return;
    }
    const p = (typeof body.payload === "object" && body.payload ? body.payload : body) as Record<string, unknown>;
    const taskId = typeof p.task_id === "string" ? p.task_id : null;
    const wf = typeof p.workflow_id === "string" ? p.workflow_id : null;
    const run = typeof p.run_id === "string" ? p.run_id : null;
    for (const t of this.running) {
      const hit = taskId ? taskId === t.taskId : wf === t.workflowId && (!run || !t.runId || run === t.runId);
      if (!hit || t.settled) continue;
      this.log.info("task canceled by the engine", { task_id: t.taskId, workflow_id: t.workflowId });
      t.ctrl.abort(new TaskAbortedError("canceled", `the ${taskId ? "task" : "workflow"} was canceled`));
      this.settle(t, "+ACK"); // the engine closed the task: nothing to report
      this.stats.canceled++;
    }
  }

  private settle(t: Running, verb: string): void {
    if (t.settled) return;
    t.settled = true;
    t.msg.respond(verb);
    t.abandon();
  }

  private finish(t: Running): void {
    this.running.delete(t);
    if (this.running.size === 0) for (const r of this.idle.splice(0)) r();
    this.pump();
  }

  private async runTask(msg: Msg): Promise<void> {
    const parsed = parseTask(msg);
    if (typeof parsed === "string") {
      this.log.warn("task.created refused, terminated", { reason: parsed, subject: msg.subject });
      msg.respond("+TERM");
      this.stats.terminated++;
      return;
    }
    let abandon = () => {};
    const abandoned = new Promise<"abandoned">((r) => (abandon = () => r("abandoned")));
    const t: Running = {
      msg,
      taskId: parsed.task.taskId,
      workflowId: parsed.workflowId,
      runId: parsed.runId,
      ctrl: new AbortController(),
      settled: false,
      abandoned,
      abandon,
    };
    this.running.add(t);
    try {
      if (await this.claim(t, parsed)) await this.execute(t, parsed);
    } finally {
      this.finish(t);
    }
  }

  /** Publishes task.started and, unless noClaim, waits for the engine's
   * verdict: true runs the task. Otherwise the message is settled here:
   * acked when the engine says the task must not run, handed back with a
   * delay without an answer to any of CLAIM_TRIES asks (or "duplicate":
   * asked again on the next delivery). */
  private async claim(t: Running, p: ParsedTask): Promise<boolean> {
    if (!this.claimInbox) {
      if (await this.report(p, "task.started", claimKind(p.task.deliveries, 0), {}, 3)) return true;
      this.settle(t, `-NAK {"delay": ${1000 * 1e6}}`);
      return false;
    }
    const key = String(++this.claimSeq);
    // one inbox and one verdict for all the asks: a late answer to an
    // earlier ask is as good as one to the last
    const verdict = new Promise<Verdict>((resolve) => {
      this.claims.set(key, { taskId: p.task.taskId, attempt: p.task.attempt, resolve });
    });
    try {
      const v = await this.ask(t, p, `${this.claimInbox}.${key}`, verdict);
      if (t.settled || v === "abandoned") return false; // canceled meanwhile
      if (v === "run") return true;
      if (v && v !== "duplicate") {
        this.log.info("task not run: the engine says it is over", { task_id: p.task.taskId, workflow_id: p.workflowId, verdict: v });
        this.settle(t, "+ACK");
        this.stats.notRun++;
        return false;
      }
      this.log.warn("no answer from the engine to task.started, handed back", { task_id: p.task.taskId, workflow_id: p.workflowId });
      this.settle(t, `-NAK {"delay": ${5000 * 1e6}}`);
      return false;
    } finally {
      this.claims.delete(key);
    }
  }

  /** Asks the engine (task.started with CLAIM_HEADER replyTo) and waits up
   * to claimWaitMs for its verdict, up to CLAIM_TRIES times, as
   * worker_task.c's claim: without an answer (or without a PubAck) it asks
   * again itself, the message kept in progress, so that a verdict lost
   * while NATS restarted (core NATS, at most once) is asked for again at
   * once: a NAK's redelivery was seen never to come back from nats-server
   * 2.9 after its restart. null: no answer to any ask. */
  private async ask(t: Running, p: ParsedTask, replyTo: string, verdict: Promise<Verdict>): Promise<Verdict | null | "abandoned"> {
    const wait = Math.max(1, Math.min(this.o.claimWaitMs ?? 10000, this.ackWaitMs / 2));
    for (let ask = 0; ask < CLAIM_TRIES; ask++) {
      if (t.settled) return "abandoned";
      if (ask > 0) t.msg.respond("+WPI"); // the wait is at most half of ack_wait: restart its clock
      if (!(await this.report(p, "task.started", claimKind(p.task.deliveries, ask), {}, 3, replyTo))) continue;
      let timer: NodeJS.Timeout | undefined;
      try {
        const v = await Promise.race([verdict, new Promise<null>((r) => (timer = setTimeout(() => r(null), wait))), t.abandoned]);
        if (v) return v;
      } finally {
        clearTimeout(timer);
      }
    }
    return null;
  }

  private onVerdict(m: Msg): void {
    const c = this.claims.get(m.subject.slice(this.claimInbox.length + 1));
    let a: { task_id?: unknown; attempt?: unknown; verdict?: unknown };
    try {
      a = m.json();
    } catch {
      return;
    }
    if (c && a.task_id === c.taskId && a.attempt === c.attempt && VERDICTS.includes(a.verdict as string)) c.resolve(a.verdict as Verdict);
  }

  private async execute(t: Running, p: ParsedTask): Promise<void> {
    t.startedAt = new Date().toISOString();
    let beats = 0;
    const beat = async (details?: unknown) => {
      if (t.settled) return;
      const extra = details === undefined ? {} : { details };
      await this.report(p, "task.heartbeat", `heartbeat:${++beats}`, extra, 1);
      if (!t.settled) t.msg.respond("+WPI"); // keeps JetStream from redelivering meanwhile
    };
    let period = this.o.heartbeatMs ?? 10000;
    if (p.timeouts.heartbeat_ms > 0 && p.timeouts.heartbeat_ms / 3 < period) period = Math.max(100, p.timeouts.heartbeat_ms / 3);
    period = Math.min(period, this.ackWaitMs / 3);
    const hb = setInterval(() => void beat().catch(() => {}), period);
    const limit = this.o.timeoutMs ?? p.timeouts.start_to_close_ms;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((r) => {
      if (limit > 0) timer = setTimeout(() => r("timeout"), limit);
    });
    const task: Task = { ...p.task, signal: t.ctrl.signal, heartbeat: (d?: unknown) => beat(d ?? null) };
    let outcome: { ok: true; result: unknown } | { ok: false; error: unknown } | "timeout" | "abandoned";
    try {
      outcome = await Promise.race([
        Promise.resolve()
          .then(() => this.o.handler(task))
          .then(
            (result) => ({ ok: true as const, result }),
            (error) => ({ ok: false as const, error }),
          ),
        timedOut,
        t.abandoned,
      ]);
    } finally {
      clearInterval(hb);
      clearTimeout(timer);
    }
    if (t.settled || outcome === "abandoned") return; // canceled or handed back meanwhile
    if (outcome === "timeout") {
      t.ctrl.abort(new TaskAbortedError("timeout", `the attempt did not finish within ${limit} ms`));
      outcome = { ok: false, error: new TaskError("timeout", `handler did not finish within ${limit} ms`) };
    }
    await this.reportEnd(t, p, outcome);
  }

  private async reportEnd(t: Running, p: ParsedTask, outcome: { ok: true; result: unknown } | { ok: false; error: unknown }): Promise<void> {
    let kind = outcome.ok ? "completed" : "failed";
    let extra: Record<string, unknown> = outcome.ok ? { result: outcome.result ?? null } : { error: errorReport(outcome.error) };
    try {
      JSON.stringify(extra);
    } catch (e) {
      kind = "failed"; // a result JSON cannot carry (a cycle, a BigInt): no retry can fix it
      extra = { error: { type: "bad_result", message: `the result is not JSON: ${(e as Error).message}`, retryable: false } };
    }
    if (t.settled) return;
    const ok = await this.report(p, `task.${kind}`, kind, extra, 5, undefined, t.startedAt);
    if (t.settled) return;
    if (ok) {
      this.settle(t, "+ACK");
      if (kind === "completed") this.stats.completed++;
      else this.stats.failed++;
    } else {
      this.settle(t, `-NAK {"delay": ${1000 * 1e6}}`);
    }
  }

  /** Publishes a report and waits for its PubAck; tries `tries` times. */
  /** replyTo: the claim check's inbox (CLAIM_HEADER); startedAt: a final
   * report's STARTED_HEADER, when the handler began. */
  private async report(p: ParsedTask, type: string, kind: string, extra: Record<string, unknown>, tries: number, replyTo?: string, startedAt?: string): Promise<boolean> {
    const r: Record<string, unknown> = { type, task_id: p.task.taskId, attempt: p.task.attempt };
    if (p.workflowId) r.workflow_id = p.workflowId;
    if (p.runId) r.run_id = p.runId;
    r.queue = this.o.queue;
    r.worker = this.workerId;
    r.occurred_at = new Date().toISOString();
    Object.assign(r, extra);
    const body = JSON.stringify(r);
    const msgID = `${p.task.taskId}:${p.task.attempt}:${kind}`;
    // the attempt's span (task.traceparent) is the parent the engine records
    // for the report (docs/worker-protocol.md)
    let h;
    if (replyTo || startedAt || p.task.traceparent) {
      h = headers();
      if (replyTo) h.set(CLAIM_HEADER, replyTo);
      if (startedAt) h.set(STARTED_HEADER, startedAt);
      if (p.task.traceparent) h.set("traceparent", p.task.traceparent);
    }
    for (let i = 0; i < tries; i++) {
      try {
        if (!this.acks) throw new Error("the worker is not started");
        await this.acks.publish(this.reportSubject, body, msgID, 5000, h);
        return true;
      } catch (e) {
        if (i + 1 === tries) this.log.warn("report not published", { task_id: p.task.taskId, msg_id: msgID, error: (e as Error).message });
        else await sleep(500);
      }
    }
    return false;
  }
}

interface ParsedTask {
  task: Omit<Task, "signal" | "heartbeat">;
  workflowId: string;
  runId: string;
  timeouts: TaskTimeouts;
}

const ms = (o: Record<string, unknown> | undefined, k: string) => (typeof o?.[k] === "number" && (o[k] as number) > 0 ? (o[k] as number) : 0);

/** Reads a task.created envelope (or a bare payload), as worker_task.c's
 * parse_task; a string says why it can never be run. */
export function parseTask(msg: Msg): ParsedTask | string {
  let body: unknown;
  try {
    body = msg.json();
  } catch {
    return "body is not a JSON object";
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) return "body is not a JSON object";
  const b = body as Record<string, unknown>;
  const p = (typeof b.payload === "object" && b.payload !== null && !Array.isArray(b.payload) ? b.payload : b) as Record<string, unknown>;
  const id = p.task_id;
  if (typeof id !== "string" || id === "" || Buffer.byteLength(id) >= 128) return "payload.task_id must be a non-empty string shorter than 128 bytes";
  const att = p.attempt;
  if (typeof att !== "number" || att < 1 || att > 1e9) return "payload.attempt must be an integer >= 1";
  const str = (v: unknown, cap: number) => v === undefined || (typeof v === "string" && Buffer.byteLength(v) < cap);
  if (!str(p.workflow_id, 256) || !str(p.run_id, 128)) return "payload.workflow_id / run_id / trace_id must be strings";
  if (p.human === true) return "a human task: completed by a person, never by a worker";
  const trace = typeof b.trace_id === "string" && b.trace_id.length === 32 ? b.trace_id : "";
  const to = (typeof p.timeouts === "object" && p.timeouts ? p.timeouts : p) as Record<string, unknown>;
  const timeouts: TaskTimeouts = {
    schedule_to_start_ms: ms(to, "schedule_to_start_ms"),
    start_to_close_ms: ms(to, "start_to_close_ms"),
    schedule_to_close_ms: ms(to, "schedule_to_close_ms"),
    heartbeat_ms: ms(to, "heartbeat_ms"),
  };
  const attempt = Math.trunc(att);
  const workflowId = (p.workflow_id as string) ?? "";
  const runId = (p.run_id as string) ?? "";
  return {
    workflowId,
    runId,
    timeouts,
    task: {
      taskId: id,
      attempt,
      workflowId,
      runId,
      workflowType: typeof p.workflow_type === "string" ? p.workflow_type : "",
      name: typeof p.task === "string" ? p.task : "",
      queue: typeof p.queue === "string" ? p.queue : "",
      input: p.input ?? {},
      timeouts,
      traceId: trace,
      traceparent: trace ? formatTraceparent(trace) : "",
      deliveries: deliveryCount(msg.reply),
      event: b,
    },
  };
}

/** Starts a worker: resolves once it pulls (it waits for the queue's stream
 * when none holds the subject yet). Await worker.closed for its end. */
export async function startWorker(nc: NatsConnection, opts: WorkerOptions): Promise<Worker> {
  const w = new Worker(nc, opts);
  try {
    await w.start();
  } catch (e) {
    await w.stop();
    throw e;
  }
  return w;
}
