/* bench_roundtrip.h: the native no-op worker of `switchyard bench roundtrip`
 * (bench_roundtrip_worker.c), internal to the benchmark. */
#ifndef SY_BENCH_ROUNDTRIP_H
#define SY_BENCH_ROUNDTRIP_H

#include "status.h"

typedef struct rt_worker rt_worker;

/* Starts a thread that pulls task.created from sy.task.created.<queue>
 * (durable "sy-worker-<queue>") in batches, publishes one task.completed per
 * task to sy.report.<queue> asynchronously, waits for all PubAcks of the
 * batch, then acks the batch (naks it if any report failed). nats_url and
 * queue are copied. SY_OK: *out owned (rt_worker_stop). */
sy_status rt_worker_start(const char *nats_url, const char *queue, int batch, rt_worker **out,
                          sy_error *err) SY_MUST_USE;

/* Reports published so far (their PubAcks arrived); any thread. */
long rt_worker_reported(const rt_worker *w);

/* Stops the thread and frees. NULL is a no-op. */
void rt_worker_stop(rt_worker *w);

#endif
