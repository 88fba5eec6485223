/* bench_faults.h: `switchyard bench faults`, internal to its files.
 *
 * bench_faults.c       options, the scenarios in turn, the report
 * bench_faults_run.c   one scenario: servers, processes, traffic, faults, quiescence
 * bench_faults_proc.c  the `serve` and `worker` child processes, /readyz, RSS
 * bench_faults_load.c  the events: valid, signed, duplicated, bad (with their codes)
 * bench_faults_check.c what Postgres and the outcomes stream hold, against what was sent
 *
 * Nothing here asserts timing: the harness counts effects (bench/README.md). */
#ifndef SY_BENCH_FAULTS_H
#define SY_BENCH_FAULTS_H

#include "buf.h"
#include "status.h"

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

/* ---- scenarios -------------------------------------------------------------------- */

typedef enum fx_scenario {
    FX_SERVE_KILL,    /* kill -9 of a serve process every 5-15 s, each restarted */
    FX_POSTGRES,      /* immediate shutdown + start; pg_terminate_backend */
    FX_NATS,          /* nats-server killed (SIGKILL) and restarted on its store */
    FX_DUPLICATES,    /* re-publishes inside and outside the dedupe window, forged replays */
    FX_BAD_INPUT,     /* bad inputs mixed into the valid traffic */
    FX_FORGED_REPLAY, /* re-publishes carrying dlq replay's headers, no dead letter behind them */
    FX_SCENARIOS
} fx_scenario;

/* The scenarios' names, in fx_scenario order, NULL-terminated. */
extern const char *const fx_scenario_names[];

typedef struct fx_params {
    fx_scenario scen;
    long events;    /* workflows: one start and one signal each */
    long bad;       /* bad inputs (FX_BAD_INPUT only) */
    int faults;     /* faults to inject (kills, crashes, ...) at least */
    int gap_min_ms; /* a fault every gap_min_ms..gap_max_ms */
    int gap_max_ms;
    int settle_s; /* quiescence: give up after this long without progress */
    bool keep;    /* keep the scenario's directory (logs) even when all is well */
} fx_params;

/* What one scenario measured. Counts are of messages or workflows. */
typedef struct fx_result {
    long offered;          /* messages published: valid, duplicates and bad */
    long valid_acked;      /* valid starts + signals with a PubAck */
    long not_acked;        /* publishes that never got a PubAck (not counted as lost) */
    long duplicates;       /* duplicate publishes among offered */
    long stream_dropped;   /* publishes JetStream dropped as duplicates (its window) */
    long outcomes_read;    /* messages read back from the outcomes stream */
    long lost;             /* L: valid acked events with no effect */
    long doubled_starts;   /* D: workflows started twice */
    long doubled_signals;  /* D: a signal applied twice */
    long doubled_outcomes; /* D: one event_id, two different outcome bodies */
    long outcome_copies;   /* one event_id stored twice with the same body (not D) */
    long bad_offered;      /* bad inputs published (each must be one dead letter) */
    long dl_right;         /* exactly one dead letter, with the expected code */
    long dl_missing, dl_doubled, dl_wrong_code;
    long dl_unexpected;    /* dead letters of events that were valid */
    long outcomes_missing; /* expected outcome events (and dead-letter notices) absent */
    long incomplete;       /* workflows started but not completed */
    int faults;            /* faults injected */
    double reconnect_max_ms, reconnect_mean_ms; /* fault over -> every /readyz 200 */
    double rss_before_mib, rss_after_mib;       /* the largest serve process */
    int bad_exits; /* serve/worker processes that did not exit 0 on SIGTERM */
    double seconds;
    char example[1024]; /* the first problem found, for the report */
    long example_index; /* its workflow, or -1 */
} fx_result;

/* L = 0, D = 0, every bad input one dead letter with its code, nothing
 * missing, every process exited cleanly. */
bool fx_result_ok(const fx_result *r);

/* Runs one scenario on its own throwaway durable servers (devstack) and
 * fills *out. SY_OK when it ran (whatever it found); otherwise *err says
 * why it could not run. exe: this binary (the children run it). */
sy_status fx_run(const fx_params *p, const char *exe, fx_result *out, sy_error *err) SY_MUST_USE;

/* ---- child processes (bench_faults_proc.c) ---------------------------------------- */

typedef struct fx_proc {
    pid_t pid;       /* 0: not running */
    int admin_port;  /* serve: its /readyz; 0 for the worker */
    char log[600];   /* stdout and stderr, appended */
    int exit_status; /* the last exit (waitpid status); -1 none yet */
} fx_proc;

/* Starts `exe serve --config config` (admin on admin_port), or `exe worker
 * --queue queue --nats url --concurrency n -- cat`, as a child that dies with
 * us, SWITCHYARD_* removed from its environment, output appended to log. */
sy_status fx_proc_serve(fx_proc *p, const char *exe, const char *config, int admin_port,
                        const char *log, sy_error *err) SY_MUST_USE;
sy_status fx_proc_worker(fx_proc *p, const char *exe, const char *nats_url, const char *queue,
                         int concurrency, const char *log, sy_error *err) SY_MUST_USE;

/* Sends sig and reaps (SIGKILL: at once; SIGTERM: waits up to wait_ms, then
 * SIGKILL). Records exit_status; true when it exited 0. */
bool fx_proc_end(fx_proc *p, int sig, int wait_ms);

/* GET /readyz on 127.0.0.1:port answered 200 (timeout 1 s). */
bool fx_ready(int port);

/* ---- traffic (bench_faults_load.c) ----------------------------------------------- */

/* A JetStream publisher that reconnects for ever (ReconnectWait 100 ms) and
 * retries a publish until its PubAck or the deadline. */
typedef struct fx_pub fx_pub;

sy_status fx_pub_new(const char *nats_url, fx_pub **out, sy_error *err) SY_MUST_USE;
void fx_pub_free(fx_pub *p);

/* One message: subject, body, headers ("Name", "value" pairs, NULL-ended;
 * may be NULL), Nats-Msg-Id (may be NULL). */
typedef struct fx_msg {
    const char *subject;
    const char *body;
    size_t len;
    const char *const *headers;
    const char *msg_id;
} fx_msg;

/* Publishes m until PubAck (retrying across outages) or timeout_ms. true:
 * *seq (the stream sequence) and *dup (JetStream saw a duplicate) set. */
bool fx_pub_send(fx_pub *p, const fx_msg *m, int timeout_ms, uint64_t *seq, bool *dup);

/* The Ed25519 keys of a scenario: k1 may sign for sources signed-*, k2 only
 * for "other"; the keyring requires signatures from signed-*. */
typedef struct fx_keys {
    char k1[600], k2[600]; /* secret key files */
    char keyring[600];
} fx_keys;

/* Writes the key files and the keyring into dir. */
sy_status fx_keys_make(fx_keys *k, const char *dir, sy_error *err) SY_MUST_USE;

/* The valid events of workflow i. A start of every tenth workflow is signed
 * (source signed-fx, key k1): *sig (owned) and *key_id get its headers,
 * else NULL. */
sy_status fx_start_event(sy_buf *b, const fx_keys *k, const char *tag, long i, char **key_id,
                         char **sig, sy_error *err) SY_MUST_USE;
void fx_signal_event(sy_buf *b, const char *tag, long i);

/* Bad input number k (of the kinds in turn): its body in *b, headers in
 * hdr (up to 4 name/value pairs, NULL-ended, strings owned by *bad), and the
 * dead-letter code it must get. */
typedef struct fx_bad {
    const char *kind;   /* malformed_json, duplicate_key, ... */
    const char *code;   /* the expected dead-letter code */
    char *key_id, *sig; /* owned (may be NULL) */
    const char *headers[5];
} fx_bad;

sy_status fx_bad_input(sy_buf *b, const fx_keys *k, const char *tag, long n, fx_bad *bad,
                       sy_error *err) SY_MUST_USE;
void fx_bad_cleanup(fx_bad *bad);

/* How many kinds of bad input there are; their names (for the report). */
int fx_bad_kinds(void);
const char *fx_bad_kind_name(int kind);

/* ---- the check (bench_faults_check.c) --------------------------------------------- */

/* What was sent: for workflow i, whether its start and its signal got a
 * PubAck; for each bad input, its stream sequence and expected code. */
typedef struct fx_sent_bad {
    uint64_t seq;
    const char *code; /* static */
    const char *kind; /* static */
} fx_sent_bad;

typedef struct fx_sent {
    const char *tag;
    long n;
    const bool *start_acked, *signal_acked;
    const fx_sent_bad *bad;
    size_t nbad;
} fx_sent;

/* Reads runs, signal histories and dead letters from Postgres and every
 * message of the outcomes stream, and counts L, D, dead letters and missing
 * outcomes into *r. */
sy_status fx_check(const char *conninfo, const char *nats_url, const char *outcomes_stream,
                   const fx_sent *sent, fx_result *r, sy_error *err) SY_MUST_USE;

/* Workflow index of "ft-<tag>-<i>" / event "fg-<tag>-<i>", or -1. */
long fx_index_of(const char *id, const char *prefix, const char *tag);

/* ---- one scenario's state (bench_faults_run.c, _traffic.c, _inject.c) --------------- */

#define FX_SERVES 2

typedef struct fx_ctx {
    const fx_params *p;
    const char *exe;
    struct devstack *ds;
    char dir[512];
    char config[FX_SERVES][600];
    char tag[32];
    fx_proc serve[FX_SERVES]; /* the fault thread's while traffic runs */
    fx_proc worker;
    fx_keys keys;
    fx_pub *pub;
    struct pg_conn *pg; /* the harness's own connection (PGconn) */
    bool *start_acked, *signal_acked;
    long *pending; /* workflows whose start is acked and signal not yet sent */
    long npending;
    fx_sent_bad *bad;
    size_t nbad;
    _Atomic long starts_sent; /* progress, read by the fault thread */
    _Atomic bool traffic_done;
    _Atomic bool faults_done; /* the fault thread injected its last fault */
    _Atomic bool finished;    /* the scenario is torn down: the fault thread may end */
    bool thread_started;
    pthread_t thread;
    unsigned rng; /* rand_r state of the fault thread */
    double reconnect_sum;
    int reconnects;
    fx_result *r;
} fx_ctx;

/* The traffic of one scenario, on the main thread: starts, signals once
 * their workflow exists, duplicates, bad inputs (bench_faults_traffic.c). */
void fx_traffic(fx_ctx *c);

/* The duplicates scenario's last re-publishes, after its workflows have
 * completed: starts and signals of every twentieth workflow, fresh Msg-Ids. */
void fx_late_duplicates(fx_ctx *c);

/* The fault thread's body (bench_faults_inject.c): injects the scenario's
 * faults while the traffic runs, measures reconnect times and takes the
 * RSS before the first fault, sets faults_done, then lives on until
 * finished: the processes and servers it restarted carry
 * PR_SET_PDEATHSIG, which fires when the thread that forked them ends.
 * arg is the fx_ctx. */
void *fx_inject(void *arg);

/* Waits until every serve process answers /readyz 200 (true), or timeout_ms. */
bool fx_all_ready(fx_ctx *c, int timeout_ms);

/* The largest RSS among the serve processes, MiB. */
double fx_serve_rss(const fx_ctx *c);

/* Whether the durable consumer has nothing pending or unacked (false when
 * it cannot be asked). */
bool fx_pub_consumer_idle(fx_pub *p, const char *stream, const char *consumer);

#endif
