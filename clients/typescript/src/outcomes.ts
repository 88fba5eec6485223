// outcomes.ts: typed outcome events (docs/outcome-events.md) and a durable
// consumer of them on the engine's stream (SY, covering "<prefix>.>"). At
// least once: a message is acked only after the handler resolved, naked
// (redelivered after a delay) when it throws; every event carries its
// deterministic event_id for the consumer's own dedupe.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { defaultLogger, ensureConsumer, findStream, type Logger } from "./jsutil.js";
import type { TaskTimeouts } from "./worker.js";

interface EnvelopeOf<T extends string, P> {
  /** `<run_id>:<history seq>`: the same on every re-publish; dedupe on it. */
  event_id: string;
  type: T;
  source: string;
  occurred_at: string;
  /** The workflow ID. */
  subject?: string;
  trace_id: string;
  schema_version: number;
  payload: P;
}

/** Every outcome payload carries these. */
export interface WorkflowFields {
  workflow_id: string;
  run_id: string;
  workflow_type: string;
  /** The event that caused this (start event, signal, report), or null. */
  causation_id: string | null;
}

/** Task events add these. */
export interface TaskFields extends WorkflowFields {
  task_id: string;
  task: string;
  queue: string;
  step: string;
  attempt: number;
}

export interface OutcomeError {
  type: string;
  message: string;
  [k: string]: unknown;
}

export type WorkflowStarted = EnvelopeOf<"switchyard.workflow.started", WorkflowFields & { input: unknown }>;
export type WorkflowSignaled = EnvelopeOf<"switchyard.workflow.signaled", WorkflowFields & { signal: string; payload: unknown }>;
export type WorkflowCancelRequested = EnvelopeOf<"switchyard.workflow.cancel_requested", WorkflowFields & { reason: string | null }>;
export type WorkflowCompleted = EnvelopeOf<"switchyard.workflow.completed", WorkflowFields & { result: unknown }>;
export type WorkflowFailed = EnvelopeOf<"switchyard.workflow.failed", WorkflowFields & { error: OutcomeError }>;
export type WorkflowCanceled = EnvelopeOf<"switchyard.workflow.canceled", WorkflowFields & { reason: string | null }>;
export type WorkflowTerminated = EnvelopeOf<"switchyard.workflow.terminated", WorkflowFields & { reason: string | null }>;
export type TaskCreated = EnvelopeOf<
  "switchyard.task.created",
  TaskFields & { input: unknown; timeouts: TaskTimeouts; human: boolean; assignee?: string | null }
>;
export type TaskStarted = EnvelopeOf<"switchyard.task.started", TaskFields>;
export type TaskCompleted = EnvelopeOf<"switchyard.task.completed", TaskFields & { result: unknown }>;
export type TaskFailed = EnvelopeOf<
  "switchyard.task.failed",
  TaskFields & { error: OutcomeError & { retryable: boolean }; final: boolean; retry_at?: number }
>;
export type TaskTimedOut = EnvelopeOf<
  "switchyard.task.timed_out",
  TaskFields & {
    error: OutcomeError & { type: "timeout"; kind: "schedule_to_start" | "start_to_close" | "heartbeat" | "schedule_to_close" | "deadline" };
    final: boolean;
    retry_at?: number;
  }
>;
export type TaskCanceled = EnvelopeOf<"switchyard.task.canceled", TaskFields>;
export type DeadletterCreated = EnvelopeOf<
  "switchyard.deadletter.created",
  { event_id: string | null; code: string; message: string; subject: string; stream_seq: number }
>;

/** Outcome events by their `type`. */
export interface OutcomeTypeMap {
  "switchyard.workflow.started": WorkflowStarted;
  "switchyard.workflow.signaled": WorkflowSignaled;
  "switchyard.workflow.cancel_requested": WorkflowCancelRequested;
  "switchyard.workflow.completed": WorkflowCompleted;
  "switchyard.workflow.failed": WorkflowFailed;
  "switchyard.workflow.canceled": WorkflowCanceled;
  "switchyard.workflow.terminated": WorkflowTerminated;
  "switchyard.task.created": TaskCreated;
  "switchyard.task.started": TaskStarted;
  "switchyard.task.completed": TaskCompleted;
  "switchyard.task.failed": TaskFailed;
  "switchyard.task.timed_out": TaskTimedOut;
  "switchyard.task.canceled": TaskCanceled;
  "switchyard.deadletter.created": DeadletterCreated;
}
export type OutcomeType = keyof OutcomeTypeMap;
export type KnownOutcome = OutcomeTypeMap[OutcomeType];
/** Anything else on the stream in the envelope: emit steps' domain events,
 * schedule events, types newer than this library. */
export type OtherEvent = EnvelopeOf<string, Record<string, unknown>>;
export type OutcomeEvent = KnownOutcome | OtherEvent;

/** Narrows an event to one outcome type. */
export function isOutcome<T extends OutcomeType>(ev: { type: string }, type: T): ev is OutcomeTypeMap[T] {
  return ev.type === type;
}

export interface OutcomeConsumerOptions {
  /** The durable consumer's name: your service's, kept across restarts. */
  durable: string;
  handler: (ev: OutcomeEvent, info: { subject: string; deliveries: number; streamSeq: number }) => unknown | Promise<unknown>;
  /** Subject prefix (default "sy"). */
  prefix?: string;
  /** The NATS filter subject (default "<prefix>.workflow.>"; e.g. "sy.task.>", "sy.workflow.completed.order"). */
  subject?: string;
  /** Only these types reach the handler (others are acked and skipped). */
  types?: string[];
  /** The stream (default: the one holding the subject, "SY" by default). */
  stream?: string;
  /** A new durable starts at the stream's first message ("all", default) or at new ones only. */
  deliver?: "all" | "new";
  /** AckWait of a consumer created here (default 30 s). */
  ackWaitMs?: number;
  /** Redelivery delay after the handler threw (default 1 s). */
  retryDelayMs?: number;
  /** Messages buffered ahead of the handler (default 64). */
  maxMessages?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

export class OutcomeConsumer {
  /** Resolves when the consumer stopped. */
  readonly closed: Promise<void>;
  private messages: ConsumerMessages | null = null;
  private stopping = false;
  constructor(
    private readonly nc: NatsConnection,
    private readonly o: OutcomeConsumerOptions,
  ) {
    this.closed = this.run();
  }

  private ready!: () => void;
  private failed!: (e: unknown) => void;
  /** Resolves once consuming (rejects when setup failed). */
  readonly started = new Promise<void>((res, rej) => ((this.ready = res), (this.failed = rej)));

  private async run(): Promise<void> {
    await Promise.resolve(); // let the constructor finish
    const log = this.o.logger ?? defaultLogger;
    const prefix = this.o.prefix ?? "sy";
    const subject = this.o.subject ?? `${prefix}.workflow.>`;
    try {
      const jsm = await jetstreamManager(this.nc);
      const stream = this.o.stream ?? (await findStream(jsm, subject));
      if (!stream) throw new Error(`no JetStream stream holds ${subject}`);
      await ensureConsumer(jsm, stream, this.o.durable, {
        filter_subject: subject,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: this.o.deliver === "new" ? DeliverPolicy.New : DeliverPolicy.All,
        ack_wait: (this.o.ackWaitMs ?? 30000) * 1e6,
      });
      const c = await jetstream(this.nc).consumers.get(stream, this.o.durable);
      this.messages = await c.consume({ max_messages: this.o.maxMessages ?? 64 });
      this.o.signal?.addEventListener("abort", () => void this.stop(), { once: true });
      if (this.stopping) this.messages.stop();
    } catch (e) {
      this.failed(e);
      return;
    }
    this.ready();
    const types = this.o.types ? new Set(this.o.types) : null;
    for await (const m of this.messages) {
      let ev: OutcomeEvent;
      try {
        ev = m.json<OutcomeEvent>();
        if (typeof ev !== "object" || ev === null || typeof ev.type !== "string" || typeof ev.event_id !== "string") throw new Error("not an envelope");
      } catch {
        log.warn("not an outcome event, skipped", { subject: m.subject, stream_seq: m.seq });
        m.ack();
        continue;
      }
      if (types && !types.has(ev.type)) {
        m.ack();
        continue;
      }
      try {
        await this.o.handler(ev, { subject: m.subject, deliveries: m.info.deliveryCount, streamSeq: m.seq });
        m.ack();
      } catch (e) {
        log.warn("outcome handler failed, redelivering", { event_id: ev.event_id, error: (e as Error)?.message });
        m.nak(this.o.retryDelayMs ?? 1000);
      }
      if (this.stopping) break;
    }
  }

  /** Stops after the event in hand (its ack is sent first). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.messages?.stop();
    await this.closed;
  }
}

/** Starts a durable outcome consumer; resolves once it consumes. */
export async function startOutcomeConsumer(nc: NatsConnection, opts: OutcomeConsumerOptions): Promise<OutcomeConsumer> {
  const oc = new OutcomeConsumer(nc, opts);
  await oc.started;
  return oc;
}
