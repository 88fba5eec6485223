// jsutil.ts: JetStream setup shared by the worker and the outcome consumer:
// find the stream that holds a subject (waiting for it, since a worker may
// start before the engine's stream exists) and get or create a durable
// consumer.
import { AckPolicy, DeliverPolicy, type ConsumerConfig, type ConsumerInfo, type JetStreamManager } from "@nats-io/jetstream";

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
