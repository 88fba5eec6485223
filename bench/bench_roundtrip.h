/* bench_roundtrip.h: the native no-op worker of `switchyard bench roundtrip`
 * (bench_roundtrip_worker.c), internal to the benchmark. */
#ifndef SY_BENCH_ROUNDTRIP_H
#define SY_BENCH_ROUNDTRIP_H

#include "status.h"

#include <stdbool.h>

typedef struct rt_worker rt_worker;

/* Starts `lanes` threads, each with its own connection, that pull task.created from
 * sy.task.created.<queue> (durable "sy-worker-<queue>") in batches, publishes one task.completed
 * per task to sy.report.<queue> asynchronously, waits for all PubAcks of the batch, then acks the
 * batch (naks it if any report failed). started: task.started for the whole batch first (PubAcks
 * awaited), as the client libraries' workers send it (the protocol lets a worker skip it). nats_url
 * and queue are copied. SY_OK: *out owned (rt_worker_stop). */
sy_status rt_worker_start(const char *nats_url, const char *queue, int batch, int lanes,
                          bool started, rt_worker **out, sy_error *err) SY_MUST_USE;

/* Reports published so far (their PubAcks arrived); any thread. */
long rt_worker_reported(const rt_worker *w);

/* Stops the threads and frees. NULL is a no-op. */
void rt_worker_stop(rt_worker *w);

/* Creates the queue's durable consumer "sy-worker-<queue>" on stream SY as
 * the native worker uses it (explicit acks, max_ack_pending 50000), unless
 * it exists: every worker measured binds the same consumer. */
sy_status rt_worker_consumer(const char *nats_url, const char *queue, sy_error *err) SY_MUST_USE;

/* Runs cmd (/bin/sh -c, its own process group) as the worker instead, with
 * SY_NATS_URL, SY_QUEUE and SY_PREFIX=sy in its environment, and waits up
 * to a minute until it has a pull open on the queue's consumer. SY_OK:
 * *pid set (rt_worker_cmd_stop). */
sy_status rt_worker_cmd_start(const char *cmd, const char *nats_url, const char *queue, int *pid,
                              sy_error *err) SY_MUST_USE;

/* SIGTERM to the command's group, SIGKILL after 5 s; pid <= 0 is a no-op. */
void rt_worker_cmd_stop(int pid);

#endif
