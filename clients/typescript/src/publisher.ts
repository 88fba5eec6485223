// publisher.ts: publishing domain events in the canonical envelope. Fills
// event_id (UUIDv7), occurred_at and trace_id, validates the body locally
// with the router's rules, optionally signs it, publishes it to JetStream
// with Nats-Msg-Id = event_id and returns only after the PubAck. A publish
// that times out is re-sent with the same bytes and the same Nats-Msg-Id:
// the stream's duplicate window and the router's inbox (keyed by event_id)
// make the retry a no-op if the first try did land.
import { jetstream, type JetStreamClient, type PubAck } from "@nats-io/jetstream";
import { headers, NoRespondersError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import { checkJsonValue, encodeEnvelope, parseEnvelope, EnvelopeError, type Envelope } from "./envelope.js";
import { newTraceId, parseTraceparent, uuidv7 } from "./ids.js";
import { loadSigningKey, type SigningKey } from "./sign.js";

/** An event to publish; what is left out is filled in. */
export interface EventInput {
  type: string;
  /** Defaults to the publisher's `source`. */
  source?: string;
  /** The entity the event is about (not the NATS subject). */
  subject?: string;
  payload: Record<string, unknown>;
  /** The payload schema's version; defaults to 1. */
  schema_version?: number;
  /** Defaults to a new UUIDv7. Give your own to make a re-publish a duplicate. */
  event_id?: string;
  /** Defaults to now. */
  occurred_at?: string | Date;
  /** Defaults to the traceparent's trace id, else a new one. */
  trace_id?: string;
  /** A W3C traceparent (e.g. the incoming request's): its trace id becomes trace_id. */
  traceparent?: string;
}

export interface PublisherOptions {
  /** The envelope's source when an event names none. */
  source?: string;
  /** Sign every event with this key (see loadSigningKey). */
  signingKey?: SigningKey;
  /** Or: the path of a key file made by `switchyard keygen`. */
  keyFile?: string;
  /** How long to wait for a PubAck before re-sending (default 5000 ms). */
  timeoutMs?: number;
  /** Sends in all, the first included (default 3). */
  attempts?: number;
  /** Local size limit, as the router's limits.max_event_bytes (default 1 MiB). */
  maxBytes?: number;
}

export interface PublishResult {
  eventId: string;
  traceId: string;
  stream: string;
  seq: number;
  /** The stream already had this event_id (an earlier try landed). */
  duplicate: boolean;
}

/** Why a publish failed for good after its retries. */
export class PublishError extends Error {
  constructor(
    message: string,
    readonly eventId: string,
    readonly cause?: unknown,
  ) {
    super(message);
    this.name = "PublishError";
  }
}

const isRetryable = (e: unknown) =>
  e instanceof TimeoutError || e instanceof NoRespondersError || (e as Error)?.name === "TimeoutError";

export class Publisher {
  private js: JetStreamClient | null = null;
  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: PublisherOptions & { signingKey?: SigningKey } = {},
  ) {}

  /** Builds the envelope that publish() would send, filled and validated
   * (throws EnvelopeError). */
  envelope(ev: EventInput): Envelope {
    checkJsonValue(ev.payload, "payload");
    let trace = ev.trace_id;
    if (ev.traceparent !== undefined) {
      const tp = parseTraceparent(ev.traceparent);
      if (trace !== undefined && trace !== tp.traceId)
        throw new EnvelopeError({ code: "bad_trace_id", path: "trace_id", message: '"trace_id" differs from the traceparent\'s trace id' });
      trace = tp.traceId;
    }
    const at = ev.occurred_at ?? new Date();
    const env: Envelope = {
      event_id: ev.event_id ?? uuidv7(),
      type: ev.type,
      source: ev.source ?? this.opts.source ?? "",
      occurred_at: at instanceof Date ? at.toISOString() : at,
      trace_id: trace ?? newTraceId(),
      schema_version: ev.schema_version ?? 1,
      payload: ev.payload,
    };
    if (ev.subject !== undefined) env.subject = ev.subject;
    return env;
  }

  /** Publishes one event to the NATS subject and waits for its PubAck. */
  async publish(natsSubject: string, ev: EventInput): Promise<PublishResult> {
    const env = this.envelope(ev);
    const body = encodeEnvelope(env);
    parseEnvelope(body, { maxBytes: this.opts.maxBytes }); // the router's rules, on the exact bytes
    const h = headers();
    h.set("Content-Type", "application/json");
    if (this.opts.signingKey) {
      h.set("Sy-Key-Id", this.opts.signingKey.keyId);
      h.set("Sy-Signature", this.opts.signingKey.sign(body));
    }
    const pa = await this.send(natsSubject, body, h, env.event_id);
    return { eventId: env.event_id, traceId: env.trace_id, stream: pa.stream, seq: pa.seq, duplicate: pa.duplicate };
  }

  private async send(subject: string, body: Uint8Array, h: ReturnType<typeof headers>, eventId: string): Promise<PubAck> {
    const attempts = Math.max(1, this.opts.attempts ?? 3);
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      try {
        this.js ??= jetstream(this.nc);
        return await this.js.publish(subject, body, { msgID: eventId, headers: h, timeout: this.opts.timeoutMs ?? 5000 });
      } catch (e) {
        if (!isRetryable(e)) throw new PublishError(`could not publish to "${subject}": ${(e as Error).message}`, eventId, e);
        last = e;
        if (i + 1 < attempts) await new Promise((r) => setTimeout(r, 250 * (i + 1)));
      }
    }
    throw new PublishError(`could not publish to "${subject}": no PubAck after ${attempts} tries (${(last as Error)?.message})`, eventId, last);
  }
}

/** A publisher on a connection; loads opts.keyFile when given. */
export async function createPublisher(nc: NatsConnection, opts: PublisherOptions = {}): Promise<Publisher> {
  const signingKey = opts.signingKey ?? (opts.keyFile ? await loadSigningKey(opts.keyFile) : undefined);
  return new Publisher(nc, { ...opts, signingKey });
}
