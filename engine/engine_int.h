/* engine_int.h: the engine's internal header, shared by the engine's files and by
 * the teammates' code that lives in engine/ (schedule*.c) or next to it (the
 * worker side). Stable once published: additions only.
 *
 * What a teammate may use:
 *   engine__conn              the session's libpq connection (borrowed)
 *   engine__outcome_body      build the JSON envelope of an outcome event
 *   engine_start (engine.h)   start a workflow inside the caller's transaction
 * Everything else here is for the engine's own files only. */
#ifndef SY_ENGINE_INT_H
#define SY_ENGINE_INT_H

#include "buf.h"
#include "clock.h"
#include "engine.h"

#include <libpq-fe.h>
#include <string.h>

/* ---- for teammates -------------------------------------------------------- */

/* The session's connection (borrowed, valid until engine_session_close).
 * Its search_path is the engine's schema, so unqualified table names work. */
PGconn *engine__conn(engine_session *s);

/* Builds an outcome envelope into b (appended): {"event_id","type","source":
 * "switchyard","occurred_at","subject","trace_id","schema_version":1,
 * "payload"}. payload is borrowed; subject (envelope subject) may be NULL. */
void engine__outcome_body(sy_buf *b, const char *event_id, const char *type, int64_t now_ms,
                          const char *subject, const char *trace_id, const cJSON *payload);

/* ---- engine-private ------------------------------------------------------- */

/* Member k of object o (NULL when o is NULL or has none): what
 * cJSON_GetObjectItemCaseSensitive does, with the first byte compared
 * inline. Lookups in interpreter states are most of the client's strcmp
 * calls (13% of its time before). */
static inline cJSON *engine__jget(const cJSON *o, const char *k)
{
    for (cJSON *c = o ? o->child : NULL; c; c = c->next)
        if (c->string && c->string[0] == k[0] && strcmp(c->string, k) == 0)
            return c;
    return NULL;
}
#define JGET(o, k) engine__jget((o), (k))

/* Adds v as member k of o and returns v. k must be a string literal ("" k
 * "" compiles for nothing else): it is kept as the member's name, not
 * copied, a third fewer allocations for the states and event data every
 * start builds and frees (cJSON_AddItemToObjectCS). */
static inline cJSON *engine__jadd(cJSON *o, const char *k, cJSON *v)
{
    cJSON_AddItemToObjectCS(o, k, v);
    return v;
}
#define JADD(o, k, v) engine__jadd((o), "" k "", (v))

/* The string member key of o (borrowed), "" when absent or not a string. */
static inline const char *engine__str(const cJSON *o, const char *key)
{
    const cJSON *v = JGET(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The number member key of o as an integer, 0 when absent or not a number. */
static inline int64_t engine__num(const cJSON *o, const char *key)
{
    const cJSON *v = JGET(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

typedef struct engine__migration {
    int version;
    const char *name;
    const char *sql;
} engine__migration;
extern const engine__migration engine__migrations[]; /* ends with {0, NULL, NULL} */

typedef struct engine__def {
    char *type;
    char hash[65];
    cJSON *body; /* owned: normalised definition */
    char *text;  /* owned: compact JSON (hashed) */
    bool dispatch; /* some task step has max_in_flight (dispatch.c) */
} engine__def;

/* What the cache keeps of a running workflow: its live state, or, for a
 * run its batch started, the history that batch wrote (log: "type\0data\0"
 * per event from seq log_first), replayed on use. Keeping every new state
 * alive cost 8-15 us of client CPU per start (thousands of long-lived
 * trees fragment glibc's heap: states.c); a log is copied into the cache's
 * ring of bytes, and what a run's first report mostly paid for was reading
 * the history back from Postgres. */
typedef struct engine__cached {
    cJSON *state;    /* owned, or NULL */
    const char *log; /* borrowed, or NULL */
    size_t log_len;
    int64_t log_first;
} engine__cached;

/* The cache of running workflows' states (states.c), shared by the
 * sessions of an engine; thread-safe. NULL: no cache (every call a miss). */
typedef struct engine__states engine__states;
engine__states *engine__states_new(size_t cap); /* 0: NULL */
void engine__states_free(engine__states *c);
/* What is kept of run_id after next_seq - 1 events, taken out into *out
 * (its state owned, its log copied into *log); false: nothing, or only a
 * stale entry (dropped). */
bool engine__states_take(engine__states *c, const char *run_id, int64_t next_seq,
                         engine__cached *out, sy_buf *log);
/* Keeps v's state (taken) or a copy of its log. */
void engine__states_put(engine__states *c, const char *run_id, int64_t next_seq,
                        const engine__cached *v);

/* A state a batch left behind, held by its session until the transaction
 * ends: published to the cache by engine_commit, dropped otherwise. */
typedef struct engine__stashed {
    char run_id[37];
    int64_t next_seq;
    cJSON *state;            /* owned, or NULL: a log */
    size_t log_off, log_len; /* the log's bytes in the session's stash_log */
    int64_t log_first;
} engine__stashed;

struct engine {
    char schema[64];
    char ns[128];
    char prefix[64]; /* outcome subjects: <prefix>.<noun>.<verb>.<queue|type> */
    size_t max_input;
    int64_t inbox_retention_ms, history_retention_ms;
    const sy_log *log;
    sy_clock clock;
    const rules_set *rules; /* borrowed (engine_new), may be NULL: join routes (join.c) */
    engine__def *defs; /* the loaded rules' definitions */
    size_t ndefs;
    engine__states *states;   /* running workflows' states (states.c), may be NULL */
    _Atomic uint64_t *totals; /* engine_opts.totals, may be NULL */
};

struct engine_session {
    const engine *eng;
    PGconn *conn;
    bool in_tx;
    bool prepared;
    unsigned prepared_mask;      /* batch.c's statements prepared on this connection */
    struct engine__ws *ws_spare; /* the last batch's write set, emptied (owned) */
    engine__def **cache;         /* definitions loaded from the database by hash (owned) */
    size_t ncache, capcache;
    uint64_t stats[ENGINE_STAT_COUNT]; /* see ENGINE_STAT_* in engine.h */
    engine__stashed *stash;            /* states of this transaction's batches (owned) */
    size_t nstash, capstash;
    sy_buf stash_log;   /* the stashed logs' bytes */
    char *conninfo;     /* owned secret: reconnect after an oversized statement */
    unsigned listening; /* ENGINE_NOTIFY_* channels LISTENed to (again after one) */
    double stmt_avg;    /* moving average of the write statements' bytes */
    size_t stmt_max;    /* the largest since connect: libpq's output buffer */
    double ws_avg;      /* moving average of its write sets' capacity */
};

/* Memory after bad input: libpq's output buffer grows to the largest
 * statement a connection sent and never shrinks, and a write set keeps
 * its buffers for the next batch. Both are kept only up to what the
 * session usually needs: engine__keep_bytes is max(ENGINE__KEEP_MIN, 4 x
 * the moving average of its write statements, weight 1/8). A connection
 * whose largest statement is above it (a batch of oversized dead letters,
 * or the average back down after a run of them) is replaced by a new one
 * when its transaction ends. A write set is measured against its own
 * kind: it holds several copies of a batch (columns, parameters, bodies),
 * 4-6 times its statement, so against the statements' bound an ordinary
 * batch of 256 was freed and malloc_trim'med after every transaction, and
 * the next one faulted its pages in again (a seventh of the report
 * consumer's CPU in bench roundtrip). engine__ws_keep_bytes is
 * max(ENGINE__KEEP_MIN, 4 x the moving average of the session's write set
 * capacities, weight 1/8): one far above it is freed, not kept. A session
 * whose batches are usually large keeps what they need. */
#define ENGINE__KEEP_MIN (1u << 20)
size_t engine__keep_bytes(const engine_session *s);
/* The bound of a write set kept for the session's next batch (above);
 * engine__note_ws records one's capacity after the bound was applied. */
size_t engine__ws_keep_bytes(const engine_session *s);
void engine__note_ws(engine_session *s, size_t capacity);
/* Records a write statement of 'bytes' (flush.c). */
void engine__note_statement(engine_session *s, size_t bytes);

/* Keeps what v holds of run_id after next_seq - 1 events (its state
 * taken, its log copied) until the session's transaction ends (engine.c:
 * the stash). */
void engine__stash(engine_session *s, const char *run_id, int64_t next_seq,
                   const engine__cached *v);

/* A macro's value as a string literal, for constants spliced into SQL. */
#define ENGINE__STR_(x) #x
#define ENGINE__STR(x) ENGINE__STR_(x)

/* SQL for the smallest UUIDv7 of the millisecond ms (an SQL bigint
 * expression): run ids are UUIDv7 of their start time, so a time bound on
 * runs is a range of their primary key. */
#define ENGINE__UUID_AT(ms)                                                                        \
    "(overlay(overlay(lpad(to_hex(" ms "), 12, '0') || '00000000000000000000' placing '-' from 9"  \
    " for 0) placing '-' from 14 for 0)::uuid)"

/* The retention statement for runs ($1: the cutoff in ms), exposed so a
 * test can check that its plan reads runs by key only (timers.c). */
extern const char engine__purge_runs_sql[];

/* Counts one ENGINE_STAT_* event: in the session, and in the engine's
 * totals when the caller asked for them (metrics). */
static inline void engine__count(engine_session *s, int which)
{
    s->stats[which]++;
    if (s->eng->totals)
        atomic_fetch_add_explicit(&s->eng->totals[which], 1, memory_order_relaxed);
}

/* Runs one statement with text parameters (may be NULL), expecting
 * PGRES_COMMAND_OK or PGRES_TUPLES_OK. SY_OK: *out (may be NULL to discard)
 * is owned (PQclear). Maps connection loss to SY_DB_DOWN. */
sy_status engine__exec(engine_session *s, const char *sql, int nparams, const char *const *params,
                       PGresult **out, sy_error *err) SY_MUST_USE;
sy_status engine__exec_prepared(engine_session *s, const char *name, int nparams,
                                const char *const *params, PGresult **out,
                                sy_error *err) SY_MUST_USE;
sy_status engine__result_status(PGconn *c, PGresult *r, const char *what, sy_error *err);
/* A statement returning one JSON value (Postgres builds the shapes):
 * *out owned. SY_NOT_FOUND (code not_found) when it returns no row or
 * NULL. query.c. */
sy_status engine__json_query(engine_session *s, const char *sql, int n, const char *const *p,
                             cJSON **out, sy_error *err) SY_MUST_USE;

/* Definitions: by type from the loaded rules, by hash from rules or the
 * database (cached in the session). Borrowed. */
const engine__def *engine__def_by_type(const engine *eng, const char *type);
sy_status engine__def_by_hash(engine_session *s, const char *hash, const engine__def **out,
                              sy_error *err) SY_MUST_USE;

/* A Postgres text[] literal built item by item: {"a","b"} ("{}" when empty). */
void engine__array_item(sy_buf *b, const char *s);
const char *engine__array_end(sy_buf *b); /* closes it; returns b->data */

/* The claim check's read (claims.c): for each task.started c[i] (task_id,
 * attempt), code is what applying it would say now ("" for a current,
 * scheduled attempt: recordable; "already_started", "workflow_closed",
 * "task_closed", "stale_attempt", "unknown_task") and start_by_ms when its
 * schedule_to_start timer fires (0: none). One statement, no transaction. */
typedef struct engine__claim {
    const char *task_id; /* borrowed */
    int64_t attempt;
    const char *code; /* static */
    int64_t start_by_ms;
} engine__claim;
sy_status engine__claims_read(engine_session *s, engine__claim *c, size_t n,
                              sy_error *err) SY_MUST_USE;
/* claims.c's statement, prepared once per session with batch.c's own. */
sy_status engine__exec_claims(engine_session *s, const char *sql, int n, const char *const *p,
                              PGresult **out, sy_error *err) SY_MUST_USE;

/* FNV-1a of a NUL-terminated string, for the small hash tables of a batch. */
uint64_t engine__hash(const char *s);

void engine__hex(const unsigned char *in, size_t n, char *out); /* 2n chars + NUL */
void engine__random(unsigned char *out, size_t n);              /* getrandom */
/* A UUIDv7 of 16 random bytes and a time; engine__uuid draws both itself. */
void engine__uuid7(const unsigned char rnd[16], int64_t ms, char out[37]);
void engine__uuid(char out[37]);
void engine__trace_id(char out[33]);
void engine__sha256_hex(const char *data, size_t len, char out[65]);
void engine__rfc3339(int64_t ms, char out[32]);
int64_t engine__now(const engine *eng);

/* Template helpers over rules_render/rules_eval. */
sy_status engine__render(const cJSON *tmpl, const cJSON *ctx, cJSON **out, sy_error *err);
/* A step field used as text (assignee, emit subject): rules_render_text, or
 * a copy when it holds no template. *out owned, NULL when tmpl is absent or
 * null or renders to null. */
sy_status engine__render_text(const cJSON *tmpl, const cJSON *ctx, char **out, sy_error *err);
sy_status engine__eval(const char *expr, const cJSON *ctx, bool *out, sy_error *err);

/* Fires what flow control holds and is due at now (flow_due.c), in the
 * session's open transaction; *keys: how many keys were due (max: room
 * for more), *fired: the actions applied. */
sy_status engine__flow_due(engine_session *s, int64_t now, size_t max, size_t *keys,
                           size_t *fired, sy_error *err) SY_MUST_USE;
/* Adds what flow control holds for workflow_id to a describe (flow.c):
 * {"flow": [...]} on *out, or a whole {"status": "pending"} object when st
 * is SY_NOT_FOUND. Returns the describe's status. */
sy_status engine__flow_describe(engine_session *s, const char *workflow_id, sy_status st,
                                cJSON **out, sy_error *err);
/* Adds what a running run waits for to its describe (corr.c):
 * "waiting_for": [{kind: cancel_on|wait_event, type, step, where, since,
 * until}] when there is anything. */
sy_status engine__corr_describe(engine_session *s, cJSON *out, sy_error *err) SY_MUST_USE;
/* Adds "dispatch" to each task of tasks (an array of {task_id, ...}) that a
 * queue's max_in_flight holds or released: {"outcome": "queued", "priority",
 * "position" (1: next), "queued_at", "limit", "in_flight"} or {"outcome":
 * "dispatched", "priority", "released_at", "limit"} (dispatch.c). */
sy_status engine__dispatch_describe(engine_session *s, cJSON *tasks, sy_error *err) SY_MUST_USE;
/* Adds a workflow ID's concurrency to a describe (concurrency.c), as
 * engine__flow_describe does: {"concurrency": {"key", "limit", "strategy",
 * "priority", "outcome": "queued"|"running", "queued_at", "position",
 * "running"}}. */
sy_status engine__conc_describe(engine_session *s, const char *workflow_id, sy_status st,
                                cJSON **out, sy_error *err);
/* Adds the partial joins that would start workflow_id (join.c):
 * "join": [{route, key, events, since, until}], or a whole {"status":
 * "pending"} object when st is SY_NOT_FOUND. Returns the describe's status. */
sy_status engine__join_describe(engine_session *s, const char *workflow_id, sy_status st,
                                cJSON **out, sy_error *err);
/* The statement writing flow keys and items (flow.c, flow_due.c). */
extern const char engine__flow_write_sql[];

/* ---- the interpreter (interp.c) ------------------------------------------ */

/* A run in memory while a batch works on it. */
typedef struct engine__run {
    char workflow_id[256];
    char run_id[37];
    char type[256];
    char def_hash[65];
    char status[16]; /* running, completed, failed, canceled, terminated; "" = no row */
    char trace_id[33];
    char task_queue[256];
    char *causation_id; /* owned, may be NULL */
    const engine__def *def;
    int64_t next_seq;
    int64_t started_at, closed_at;
    bool exists_id; /* a workflow_ids row exists */
    bool new_run;   /* inserted by this batch */
    bool dirty;
    bool loaded;  /* history loaded into state */
    bool current; /* the latest run of its workflow ID in this batch */
    bool cancel_requested;
    cJSON *state; /* reducer state (owned), NULL until loaded */
    sy_buf log;   /* a new run's events as written: see engine__cached */
    sy_buf first_types, first_data; /* a new run's first history page (array literals),
                                       written in its runs row (014); empty: none */
    int64_t log_first;
    cJSON *input, *result, *error; /* owned */
    const char *cur_event_id;      /* causation of the events being appended */
    const char *cur_trace_id;
    const char *cur_tracestate; /* the W3C tracestate that came with cur_trace_id, or NULL */
} engine__run;

typedef struct engine__ws engine__ws;             /* the write set of a batch (batch.c) */
void engine__ws_destroy(engine__ws *ws);          /* NULL: no-op */
size_t engine__ws_capacity(const engine__ws *ws); /* bytes its buffers hold; NULL: 0 */

/* Reducer: applies history event number seq to the state (pure: the state
 * of a run is a function of its history). */
void engine__reduce(cJSON *state, int64_t seq, const char *type, const cJSON *data);
/* The step of a definition's body at a step key ("0", "2/t/1"; "3#4": the
 * foreach's task), borrowed; NULL when there is none. */
const cJSON *engine__step_at(const cJSON *body, const char *key);
/* Where a task.scheduled event comes from: its run and step. */
typedef struct engine__task_origin {
    const cJSON *body;      /* the run's pinned definition (borrowed) */
    const char *run_id;     /* its run */
    const char *task_queue; /* the run's task queue */
    const char *key;        /* the step key (the event's "step") */
    const cJSON *step;      /* the step at key when the caller has it (NULL: looked up) */
} engine__task_origin;
/* The members of a task.scheduled that its origin determines (NULL-ended):
 * name, task_id, task, queue, human, and the step's retry, timeouts and
 * deadline_ms. The history leaves each out when it has that value
 * (ws.c, since 013) and the readers put it back. */
extern const char *const engine__task_derived_members[];
/* The value member would have from its origin (owned), NULL when the
 * step has none (or the key names no step). */
cJSON *engine__task_derived(const engine__task_origin *o, const char *member);
/* Whether member m (named) of a task.scheduled from o has the value its
 * origin determines (so the history may leave it out). No allocation. */
bool engine__task_member_derived(const engine__task_origin *o, const cJSON *m);
/* Puts back into a task.scheduled's data (changed in place; o->key is
 * ignored, the event's step is used) the members the history leaves out;
 * members present stay as they are. Other types: nothing to do (the
 * reducer needs nothing workflow.started leaves out). The
 * history_events view (013) does the same for every reader. */
void engine__history_expand(const engine__task_origin *o, const char *type, cJSON *data);
/* A fresh state for a run. */
cJSON *engine__state_new(const char *workflow_id, const char *run_id, const char *type);

/* Records a new event: reduces it into the run's state, queues the history
 * row, its outbox row and its side effects (task, timer rows). data taken. */
void engine__emit(engine__ws *ws, engine__run *run, const char *type, cJSON *data);

/* Advances the run until it blocks or closes, emitting events. */
sy_status engine__advance(engine__ws *ws, engine__run *run, sy_error *err);

/* Cancels every unfinished task of the run (task.canceled events). */
void engine__cancel_pending(engine__ws *ws, engine__run *run);
/* Records a failure or timeout (type "task.failed" / "task.timed_out") of
 * the task (a member of state.tasks): final per the retry policy, else a
 * retry timer. error taken. */
void engine__task_failure(engine__ws *ws, engine__run *run, const cJSON *task, const char *type,
                          cJSON *error, bool retryable, bool force_final);
/* Schedules the next attempt of the task (task.scheduled, attempt + 1). */
void engine__task_retry(engine__ws *ws, engine__run *run, const cJSON *task);

/* Write-set accessors used by the interpreter. */
int64_t engine__ws_now(const engine__ws *ws);
const engine *engine__ws_engine(const engine__ws *ws);
void engine__ws_timer(engine__ws *ws, engine__run *run, const char *timer_id, int64_t fire_at,
                      const char *kind, cJSON *data); /* data taken */
void engine__ws_task(engine__ws *ws, engine__run *run, const cJSON *task, const char *status,
                     int64_t started_at, int64_t heartbeat_at);

#endif
