/* bench.h: `switchyard bench <what>` (bench/README.md, docs/design.md).
 *
 * Each benchmark lives in bench/bench_<what>.c, parses its own options
 * with cliopt (argv[0] is <what>), starts throwaway servers through devstack.h unless
 * --nats URL / --db CONNINFO are given, prints a human summary and, as its
 * last line on stdout, one JSON object {"bench":"<what>", ...} with counts,
 * "seconds", rates named <unit>_per_s, "p50_ms"/"p99_ms" where it measures
 * latency, and "rss_mib" (bench_rss_mib). */
#ifndef SY_BENCH_H
#define SY_BENCH_H

#include "status.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* one declaration per benchmark, e.g. int bench_envelope(int argc, char **argv); */
int bench_envelope(int argc, char **argv);  /* bench_envelope.c */
int bench_rules(int argc, char **argv);     /* bench_rules.c */
int bench_engine(int argc, char **argv);    /* bench_engine.c */
int bench_schedules(int argc, char **argv); /* bench_schedules.c */
int bench_roundtrip(int argc, char **argv); /* bench_roundtrip.c */
int bench_ingest(int argc, char **argv);    /* bench_ingest.c */
int bench_relay(int argc, char **argv);     /* bench_relay.c */
int bench_ui(int argc, char **argv);        /* bench_ui.c */
int bench_faults(int argc, char **argv);    /* bench_faults.c */
int bench_flow(int argc, char **argv);      /* bench_flow.c */

/* The parse step of each benchmark (cli.h's cli_parse_fn: pure, the parsed
 * struct dropped), for tests and the fuzz target. */
sy_status bench_envelope_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status bench_rules_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status bench_engine_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status bench_schedules_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status bench_roundtrip_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status bench_ingest_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status bench_relay_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status bench_faults_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status bench_ui_parse(int argc, char **argv, bool *help, sy_error *err);
sy_status bench_flow_parse(int argc, char **argv, bool *help, sy_error *err);

/* Runs measure(opts, conninfo) against db when given, else against a fresh
 * durable throwaway Postgres (devstack) that is stopped afterwards. name is
 * for messages. Returns measure's exit code, or 69 when no server starts. */
int bench_with_db(const char *name, const char *db,
                  int (*measure)(const void *opts, const char *conninfo), const void *opts);

/* Resident set size of this process in MiB (from /proc/self/status). */
double bench_rss_mib(void);
/* --nats and --db name one set of servers: both or neither (SY_USAGE). */
sy_status bench_servers_given_together(const char *nats, const char *db, sy_error *err);

/* ... of process pid (0: this one); 0 when it is gone. */
double bench_rss_mib_of(int pid);

/* ---- benchmarks that run the service in this process (ingest, flow) ---- */

typedef struct __natsConnection natsConnection;
typedef struct __jsCtx jsCtx;
typedef struct router router;

/* The body of event i into buf (cap bytes); returns its length. */
typedef int (*bench_event_fn)(char *buf, size_t cap, long i, const void *arg);

/* A JetStream publisher with room for many async publishes in flight. */
sy_status bench_open_publisher(const char *url, natsConnection **nc, jsCtx **js,
                               sy_error *err) SY_MUST_USE;
/* Publishes events [from, to) of body() to subject asynchronously, paced at
 * rate per second (0: as fast as possible), then waits for every PubAck. */
sy_status bench_publish(jsCtx *js, const char *subject, bench_event_fn body, const void *arg,
                        long from, long to, long rate, sy_error *err) SY_MUST_USE;
/* Waits until the router is ready (up to 30 s). */
sy_status bench_wait_ready(router *r, sy_error *err) SY_MUST_USE;
/* Waits until *counter >= want, polling every ms; false on timeout. */
bool bench_wait_count(const _Atomic uint64_t *counter, uint64_t want, long long timeout_ms);

#endif
