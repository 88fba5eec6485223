// jsutil.ts: JetStream setup shared by the worker and the outcome consumer:
// find the stream that holds a subject (waiting for it, since a worker may
// start before the engine's stream exists) and get or create a durable
// consumer.
import { AckPolicy, DeliverPolicy, type ConsumerConfig, type ConsumerInfo, type JetStreamManager } from "@nats-io/jetstream";
import { createInbox, headers, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The stream holding subject, or null when none does. */
export async function findStream(jsm: JetStreamManager, subject: string): Promise<string | null> {
  try {
    return await jsm.streams.find(subject);
  } catch (e) {
    if (/no stream matches/i.test((e as Error).message)) return null;
    throw e;
  }
}

/** Waits until a stream holds subject (or stopped() says to give up). */
export async function awaitStream(
  jsm: JetStreamManager,
  subject: string,
  stopped: () => boolean,
  onWait: (first: boolean) => void,
): Promise<string | null> {
  for (let waited = 0; ; waited += 500) {
    const s = await findStream(jsm, subject);
    if (s || stopped()) return s;
    if (waited % 30000 === 0) onWait(waited === 0);
    await sleep(500);
  }
}

/** The durable consumer's info, created with cfg when it does not exist
 * (an existing one is used as it is: other workers share it). */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  cfg: Partial<ConsumerConfig>,
): Promise<ConsumerInfo> {
  try {
    return await jsm.consumers.info(stream, durable);
  } catch (e) {
    if ((e as { code?: number }).code !== 10014 && !/consumer not found/i.test((e as Error).message)) throw e;
  }
  return jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_deliver: -1,
    ...cfg,
  });
}

/** How many times JetStream delivered the message, from its $JS.ACK reply
 * subject ($JS.ACK.<stream>.<consumer>.<delivered>.… or, with a domain,
 * $JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.…). */
export function deliveryCount(reply: string | undefined): number {
  const t = (reply ?? "").split(".");
  if (t[0] !== "$JS" || t[1] !== "ACK") return 0;
  return Number(t.length === 9 ? t[4] : t[6]) || 0;
}

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** JSON lines on stderr, warnings only (as `switchyard worker --log-level warn`). */
export const defaultLogger: Logger = {
  info() {},
  warn(msg, fields) {
    process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: "warn", msg, ...fields }) + "\n");
  },
};

/** JetStream publishes that wait for their PubAck over one inbox of the
 * connection: `js.publish` makes a request each (a reply subscription entry,
 * a timer, and two error objects with stack traces made up front, 5% of a
 * busy worker's CPU); here a PubAck finds its waiter in a map and one
 * sweep a quarter second times out the late ones. Every publish is still
 * done only when its own PubAck came (or fails: an error PubAck, no stream
 * (503), no answer in time). */
export class PubAcks {
  private readonly inbox = createInbox();
  private readonly sub: Subscription;
  private readonly waiting = new Map<string, { resolve: () => void; reject: (e: Error) => void; until: number }>();
  private readonly sweep: NodeJS.Timeout;
  private seq = 0;

  constructor(private readonly nc: NatsConnection) {
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, m) => void (err || this.onAck(m)) });
    this.sweep = setInterval(() => this.expire(Date.now()), 250);
    this.sweep.unref();
  }

  /** Publishes with Nats-Msg-Id = msgID (and h's headers); resolves on its PubAck. */
  publish(subject: string, body: string, msgID: string, timeoutMs: number, h?: MsgHdrs): Promise<void> {
    const key = String(++this.seq);
    const hdrs = h ?? headers();
    hdrs.set("Nats-Msg-Id", msgID);
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(key, { resolve, reject, until: Date.now() + timeoutMs });
      try {
        this.nc.publish(subject, body, { reply: `${this.inbox}.${key}`, headers: hdrs });
      } catch (e) {
        this.waiting.delete(key);
        reject(e as Error);
      }
    });
  }

  /** Fails every waiting publish and stops listening. */
  close(): void {
    clearInterval(this.sweep);
    this.sub.unsubscribe();
    this.expire(Infinity);
  }

  private onAck(m: Msg): void {
    const key = m.subject.slice(this.inbox.length + 1);
    const w = this.waiting.get(key);
    if (!w) return; // late, after its timeout
    this.waiting.delete(key);
    const code = m.headers?.code ?? 0;
    if (m.data.length === 0) return w.reject(new Error(code === 503 ? "no stream holds the subject (503)" : `publish failed: status ${code}`));
    let a: { stream?: unknown; error?: { description?: string; code?: number } };
    try {
      a = m.json();
    } catch {
      return w.reject(new Error("the PubAck is not JSON"));
    }
    if (a.error || typeof a.stream !== "string") return w.reject(new Error(`publish refused: ${a.error?.description ?? "no stream in the PubAck"}`));
    w.resolve();
  }

  private expire(now: number): void {
    for (const [key, w] of this.waiting) {
      if (w.until > now) continue;
      this.waiting.delete(key);
      w.reject(new Error("no PubAck in time"));
    }
  }
}
