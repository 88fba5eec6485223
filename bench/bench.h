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

#include <stdbool.h>

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

/* Runs measure(opts, conninfo) against db when given, else against a fresh
 * durable throwaway Postgres (devstack) that is stopped afterwards. name is
 * for messages. Returns measure's exit code, or 69 when no server starts. */
int bench_with_db(const char *name, const char *db,
                  int (*measure)(const void *opts, const char *conninfo), const void *opts);

/* Resident set size of this process in MiB (from /proc/self/status). */
double bench_rss_mib(void);

/* ... of process pid (0: this one); 0 when it is gone. */
double bench_rss_mib_of(int pid);

#endif
