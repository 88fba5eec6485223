// @switchyard/client: publish events to switchyard, run workers for its task
// queues and consume its outcome events (docs/worker-protocol.md,
// docs/outcome-events.md), on the official NATS JetStream client.
export { connect } from "@nats-io/transport-node";
export type { NatsConnection } from "@nats-io/transport-node";
export {
  validate,
  parseEnvelope,
  encodeEnvelope,
  parseRfc3339,
  EnvelopeError,
  DEFAULT_MAX_BYTES,
  type Envelope,
  type EnvelopeErrorCode,
  type EnvelopeProblem,
  type ValidateOptions,
} from "./envelope.js";
export { uuidv7, newTraceId, newSpanId, parseTraceparent, formatTraceparent, type TraceParent } from "./ids.js";
export { loadSigningKey, signingKeyFromSecret, KeyFileError, type SigningKey } from "./sign.js";
export { Publisher, createPublisher, PublishError, type EventInput, type PublisherOptions, type PublishResult } from "./publisher.js";
export {
  Worker,
  startWorker,
  TaskError,
  TaskAbortedError,
  type Task,
  type TaskHandler,
  type TaskTimeouts,
  type WorkerOptions,
  type WorkerStats,
} from "./worker.js";
export * from "./outcomes.js";
export type { Logger } from "./jsutil.js";
