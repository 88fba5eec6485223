/* rules.h: the rules file (rules/README.md).
 *
 * Loads a YAML (or JSON) rules file or a directory of them into an immutable
 * rules_set: routes (match + action), workflow definitions, schedules and
 * embedded tests. Every load error is "file:line:col: message"; a set that
 * does not load is never partly built. A loaded set is read-only and may be
 * shared by threads; the router swaps sets atomically on SIGHUP.
 *
 * The same template and expression code serves routes and the engine's
 * workflow steps (rules_render, rules_eval): there is one copy of it.
 * Knows nothing of NATS or Postgres. */
#ifndef SY_RULES_H
#define SY_RULES_H

#include "envelope.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct rules_set rules_set;

/* Load diagnostics: every error found, not just the first. */
typedef struct rules_diags {
    char **lines; /* "file:line:col: message", owned */
    size_t len, cap;
} rules_diags;

void rules_diags_cleanup(rules_diags *d);

typedef struct rules_load_opts {
    bool unmatched_dead_letter; /* default for `defaults.unmatched` when absent */
} rules_load_opts;

/* Loads 'path' (a file, or a directory of *.yaml|*.yml|*.json merged in name
 * order). SY_OK: *out owned (rules_set_free). SY_CONFIG: *out NULL and every
 * error in *diags (and the first in *err). Any thread; touches no live set. */
sy_status rules_load(const char *path, const rules_load_opts *opts, rules_set **out,
                     rules_diags *diags, sy_error *err) SY_MUST_USE;
void rules_set_free(rules_set *set);

/* Content hash of the whole set (hex sha256), for logs and /readyz. Borrowed. */
const char *rules_set_hash(const rules_set *set);

/* ---- routing ---------------------------------------------------------- */

typedef enum {
    RULES_START,       /* start a workflow */
    RULES_SIGNAL,      /* signal a workflow (optionally signal-with-start) */
    RULES_DROP,        /* matched, deliberately no effect */
    RULES_DEAD_LETTER, /* matched a dead_letter route, or an action failed */
} rules_action_kind;

typedef enum { RULES_IF_RUNNING_USE_EXISTING, RULES_IF_RUNNING_FAIL, RULES_IF_RUNNING_TERMINATE } rules_if_running;
typedef enum { RULES_IF_CLOSED_ALLOW, RULES_IF_CLOSED_ALLOW_FAILED_ONLY, RULES_IF_CLOSED_REJECT } rules_if_closed;
typedef enum { RULES_IF_MISSING_DEAD_LETTER, RULES_IF_MISSING_DROP, RULES_IF_MISSING_START } rules_if_missing;

/* ---- flow control on routes (docs/flow-control.md) ---------------------
 * A route may carry up to three stages, applied in this order: `dedupe`,
 * `rate_limit` (filters: the excess is dropped, acked and counted), then
 * at most one of `debounce`, `throttle`, `batch` (delays: the start or
 * signal is held durably and fired later). Each stage has its own key, a
 * template rendered against the event; its state is per (route, stage,
 * key). The decisions are pure functions of a key's state (rules/flow.c),
 * shared by the engine (state in Postgres) and the dry runs (in memory). */

typedef enum {
    RULES_FLOW_DEDUPE,
    RULES_FLOW_RATE_LIMIT,
    RULES_FLOW_DEBOUNCE,
    RULES_FLOW_THROTTLE,
    RULES_FLOW_BATCH,
    RULES_FLOW_KINDS
} rules_flow_kind;

/* What flow control did with one action (or did when it fired). */
typedef enum {
    RULES_FLOW_OUT_NONE,         /* no flow control, or not decided yet */
    RULES_FLOW_OUT_PASSED,       /* went through every stage: applied now */
    RULES_FLOW_OUT_DEDUPED,      /* dropped: the dedupe key was seen within its ttl */
    RULES_FLOW_OUT_RATE_LIMITED, /* dropped: limit reached within period */
    RULES_FLOW_OUT_DEBOUNCED,    /* held: fires when the key is quiet for period */
    RULES_FLOW_OUT_THROTTLED,    /* held: queued behind the key's rate */
    RULES_FLOW_OUT_BATCHED,      /* held: added to the key's open batch */
    RULES_FLOW_OUT_FIRED,        /* a held action (or batch) applied by the timer loop */
    RULES_FLOW_OUT_COUNT
} rules_flow_outcome;

#define RULES_FLOW_MAX 3       /* stages per route */
#define RULES_FLOW_KEY_MAX 512 /* bytes of a rendered key; longer: a dead letter */
#define RULES_FLOW_RATE_MAX 1000 /* rate_limit's limit (its window holds one time each) */
#define RULES_BATCH_MAX 10000  /* batch's max_size */
#define RULES_FLOW_CATCH_UP_MS 100 /* throttle: a queued start this late keeps its slot */

/* One stage as configured (times in ms). Borrowed from the set. */
typedef struct rules_flow_spec {
    rules_flow_kind kind;
    const char *key_tmpl;
    int64_t ttl_ms;     /* dedupe */
    int64_t limit;      /* rate_limit, throttle: per period */
    int64_t period_ms;  /* rate_limit, throttle; debounce: the quiet period */
    int64_t burst;      /* throttle: starts allowed at once (1: evenly spaced) */
    int64_t timeout_ms; /* debounce: longest delay (0: none); batch: oldest event's wait */
    int64_t max_size;   /* batch */
} rules_flow_spec;

/* One stage of an action: its spec and its rendered key (owned). */
typedef struct rules_flow_stage {
    const rules_flow_spec *spec;
    char *key;
} rules_flow_stage;

const char *rules_flow_kind_name(rules_flow_kind k);       /* "dedupe", ... */
const char *rules_flow_outcome_name(rules_flow_outcome o); /* "passed", "deduped", ... */

/* One action produced by routing one event. Strings marked borrowed live as
 * long as the rules_set; the rest are owned by the rules_actions list. */
typedef struct rules_action {
    rules_action_kind kind;
    const char *route;        /* borrowed: the route's name */
    /* start, and the start half of signal-with-start */
    const char *workflow;     /* borrowed: workflow type (a key of `workflows`) */
    char *workflow_id;        /* owned: rendered, checked against the ID pattern */
    cJSON *input;             /* owned: rendered start input (JSON object or NULL) */
    const char *task_queue;   /* borrowed: override, NULL when absent */
    rules_if_running if_running;
    rules_if_closed if_closed;
    /* signal */
    const char *signal;       /* borrowed: signal name */
    cJSON *signal_payload;    /* owned: rendered payload (any JSON) or NULL */
    rules_if_missing if_missing;
    /* dead letter: why (e.g. "bad_workflow_id", or the route's reason) */
    char *dl_code, *dl_message; /* owned */
    /* flow control: the route's stages with their keys; the outcome and
     * fire time are filled by whoever decides (the engine, or a dry run's
     * simulation: rules_flow_sim) */
    rules_flow_stage flow[RULES_FLOW_MAX];
    size_t nflow;
    rules_flow_outcome flow_outcome;
    int64_t flow_fire_at; /* held: when it is due (ms), 0 unknown */
    int64_t flow_events;  /* fired: how many events it stands for */
    /* the start's concurrency key and priority (rules_admission_json), when
     * its workflow has them: what the engine decides under (owned) */
    cJSON *admission;
} rules_action;

typedef struct rules_actions {
    rules_action *items;
    size_t len, cap;
    bool unmatched;   /* no route matched (router acks or dead-letters per set) */
    bool correlate;   /* a workflow correlates on the event's type (cancel_on,
                         wait_event): the engine matches it with running
                         workflows; never unmatched then */
} rules_actions;

/* Routes one validated envelope: every route whose match holds fires, in
 * file order. A template failure (e.g. a workflow ID that does not match
 * ^[A-Za-z0-9._:/-]{1,255}$) becomes a RULES_DEAD_LETTER action with the
 * reason, never a mangled ID. *out must be zeroed or cleaned; it is filled
 * (appended). SY_NOMEM only; bad data yields dead-letter actions. */
sy_status rules_route(const rules_set *set, const envelope *env, rules_actions *out) SY_MUST_USE;
void rules_actions_cleanup(rules_actions *a); /* frees owned parts; keeps *a reusable */

/* One action as JSON in the shape of `switchyard route` (docs/cli.md):
 * {"route","action","workflow","workflow_id","signal","input","payload",
 * "task_queue","code","message"}, members present when they apply. Owned. */
cJSON *rules_action_to_json(const rules_action *a);

/* ---- flow control decisions (rules/flow.c) -------------------------------
 * Pure functions of one key's state: the engine keeps the state in
 * Postgres (under a row lock), the dry runs and embedded tests in memory.
 * Times are Unix epoch ms, except the throttle's GCRA time in us. */

typedef struct rules_flow_state {
    int64_t until;  /* dedupe: repeats are dropped before this */
    int64_t tat_us; /* throttle: GCRA's theoretical arrival time */
    int64_t first;  /* debounce, batch: when the held events began */
    int64_t n;      /* held events: debounce coalesced, throttle queued, batch size */
    int64_t fire_at; /* something held is due then; 0: nothing held */
    int64_t seq;    /* throttle, batch: the next held item's number (items seq-n .. seq-1) */
    int64_t held_at; /* debounce: occurred_at of the held event */
    int64_t *times; /* rate_limit: admitted times inside the window, oldest first (owned) */
    size_t ntimes, captimes;
} rules_flow_state;

void rules_flow_state_cleanup(rules_flow_state *s); /* frees times; zeroes *s */

/* Decides one event arriving at now against stage sp: PASSED, a drop
 * (DEDUPED, RATE_LIMITED) or a hold (DEBOUNCED: it replaces the held event;
 * THROTTLED, BATCHED: it is held as item number s->seq - 1). Updates *s. */
rules_flow_outcome rules_flow_on_event(const rules_flow_spec *sp, rules_flow_state *s,
                                       int64_t now);

/* Debounce, after rules_flow_on_event: whether the event that occurred at
 * event_at (ms) becomes the held one. The last event by occurred_at wins
 * (arrival order among equals), so two processes that apply a key's
 * events out of stream order still hold the latest. */
bool rules_flow_debounce_takes(rules_flow_state *s, int64_t event_at);

/* What is due at now (the timer loop's part). */
typedef struct rules_flow_due {
    size_t fire;    /* actions to apply now: debounce 1 (the last event), throttle the
                       queue's head that conforms (at most max), batch 1 */
    size_t items;   /* held items used up, oldest first (throttle: fire; batch: its size) */
    int64_t events; /* events the fired actions stand for */
} rules_flow_due;

/* Updates *s (fire_at: when the next is due, 0 when nothing is held). */
rules_flow_due rules_flow_on_due(const rules_flow_spec *sp, rules_flow_state *s, int64_t now,
                                 size_t max);

/* When the action just held (the newest) is expected to fire: the key's
 * fire_at, and for a throttle's queue the slot of its last place. */
int64_t rules_flow_held_due(const rules_flow_spec *sp, const rules_flow_state *s);

/* When the key's state may be forgotten (nothing held, nothing remembered
 * after it); INT64_MAX while something is held. */
int64_t rules_flow_expires(const rules_flow_spec *sp, const rules_flow_state *s);

/* The state with the spec parameters it needs ({"kind", the spec's numbers,
 * the state's}), so that a held key fires as configured even after the
 * rules file changed. Owned. */
cJSON *rules_flow_state_json(const rules_flow_spec *sp, const rules_flow_state *s);
/* The reverse (sp->key_tmpl NULL). SY_INVALID on a malformed object. */
sy_status rules_flow_state_parse(const cJSON *j, rules_flow_spec *sp,
                                 rules_flow_state *s) SY_MUST_USE;

/* ---- dry runs: flow control simulated in memory (rules/flow_sim.c) ----- */

typedef struct rules_flow_sim rules_flow_sim;

rules_flow_sim *rules_flow_sim_new(void); /* NULL: out of memory */
void rules_flow_sim_free(rules_flow_sim *sim);

/* Decides the flow stages of the actions that event ev (envelope JSON,
 * borrowed) produced at now: sets flow_outcome (flow_fire_at for holds) of
 * every action with stages; a held action is copied into the simulation.
 * SY_NOMEM only. */
sy_status rules_flow_sim_event(rules_flow_sim *sim, int64_t now, const cJSON *ev,
                               rules_actions *acts) SY_MUST_USE;

/* Moves the clock to now (INT64_MAX: until nothing is held): every held
 * action due by then is applied as the timer loop would, in due order,
 * appended to *fired with flow_outcome FIRED, flow_fire_at its due time and
 * flow_events; a batch fires as its first action with input.events the
 * batch's events. SY_NOMEM only. */
sy_status rules_flow_sim_advance(rules_flow_sim *sim, int64_t now,
                                 rules_actions *fired) SY_MUST_USE;

/* ---- correlation (rules/load_corr.c, docs/flow-control.md) ----------------
 * A workflow's `cancel_on` entries and `wait_event` steps match later
 * events of one exact type with a `where` over `event` and the run. */

/* Whether no two distinct events can name one workflow under this set, so
 * that stream order (router/README.md) has nothing to fence: every route
 * that starts or signals names its workflow P{{ event_id }}S with one P and
 * one S for the whole set (no filter), and no route has flow control or a
 * join, no workflow correlates (cancel_on, wait_event) or has concurrency.
 * Two messages of one event_id are one event (the inbox applies the first). */
bool rules_set_order_free(const rules_set *set);

/* Whether some workflow correlates on events of this type. */
bool rules_set_correlates(const rules_set *set, const char *type);
/* The correlated types as an object (type -> true), borrowed; may be empty. */
const cJSON *rules_set_correlated_types(const rules_set *set);

/* ---- joins (rules/load_join.c, docs/flow-control.md "Joins") ------------
 * A join route starts its workflow once the events it names have arrived
 * (all of them, or as its `when` says) for one key within its window. The
 * partial state is the caller's (the engine's join_keys, the dry run's
 * memory); these decide. A join's event types are correlated types. */
typedef struct rules_join_hit {
    size_t route;      /* its index, for the calls below */
    const char *name;  /* borrowed: the route's name */
    const char *part;  /* borrowed: which of its events this is */
    char *key;         /* owned: the rendered key (free()) */
} rules_join_hit;
/* The join parts event ev (envelope JSON) is, up to max, into out. An
 * event whose key renders empty or too long is no part. */
size_t rules_join_hits(const rules_set *set, const cJSON *ev, rules_join_hit *out, size_t max);
/* The join route named route (SIZE_MAX: none, e.g. after a reload). */
size_t rules_join_find(const rules_set *set, const char *route);
int64_t rules_join_window(const rules_set *set, size_t route); /* ms */
/* Whether the parts present (the members of events) satisfy `when`. */
bool rules_join_ready(const rules_set *set, size_t route, const cJSON *events);
/* Appends the route's start rendered against {key, events: {part: envelope}}
 * (a dead letter when a template fails). SY_NOMEM only. */
sy_status rules_join_start(const rules_set *set, size_t route, const char *key,
                           const cJSON *events, rules_actions *out) SY_MUST_USE;
/* The route's join as the engine records it beside a partial join, for
 * `switchyard join list`: {"events": {part: type} (in the rules' order),
 * "when": its source (the default spelled out), "window_ms"}. Owned; NULL
 * when route is no join. */
cJSON *rules_join_spec_json(const rules_set *set, size_t route);

/* Dry runs (rules/corr_sim.c): the runs a dry run's starts would begin,
 * and what later events of correlated types would do to them. */
typedef struct rules_corr_sim rules_corr_sim;
rules_corr_sim *rules_corr_sim_new(const rules_set *set); /* set borrowed; NULL: no memory */
void rules_corr_sim_free(rules_corr_sim *sim);
/* Records the runs that the starts among acts (routed for event_id at
 * now, flow control decided; or fired) begin. */
void rules_corr_sim_starts(rules_corr_sim *sim, int64_t now, const char *event_id,
                           const rules_actions *acts);
/* What event ev (envelope JSON) at now correlates with: [{kind: "cancel_on"
 * | "wait_event", workflow, workflow_id, step}] (owned); a canceled run is
 * closed, a resumed one moves to its next wait_event step. */
cJSON *rules_corr_sim_event(rules_corr_sim *sim, int64_t now, const cJSON *ev);
/* What the waits of the runs the last rules_corr_sim_starts began took by
 * looking back (wait_event `lookback`): [{kind: "wait_event", workflow,
 * workflow_id, step, event_id, lookback: true}] (owned), reported on the
 * line of the event that started them. A wait's timeout is applied by the
 * clock of each later rules_corr_sim_event. */
cJSON *rules_corr_sim_take_lookbacks(rules_corr_sim *sim);

/* Whether an unmatched event is dead-lettered (defaults.unmatched). */
bool rules_set_unmatched_dead_letter(const rules_set *set);

/* ---- definitions the engine and the scheduler consume ------------------- */

/* Every workflow definition, normalised: an object keyed by workflow type
 * whose values have the shape documented in docs/workflow-definition.md
 * (durations in milliseconds, templates left as strings). Borrowed. */
const cJSON *rules_set_workflows(const rules_set *set);

/* Every schedule, normalised: an array of objects (docs/workflow-definition.md).
 * Borrowed. */
const cJSON *rules_set_schedules(const rules_set *set);

/* ---- a workflow's concurrency and priority (rules/concurrency.c) ---------
 * `concurrency: { key, limit, strategy }` and `priority: "{{ expr }}"` on a
 * workflow (docs/flow-control.md): kept in the definition's JSON as
 * {"concurrency": {"key": TEMPLATE, "limit": N, "strategy": NAME},
 * "priority": TEMPLATE or N}, rendered per start over {input, workflow:
 * {id, type}}. */
typedef enum {
    RULES_CONC_QUEUE,              /* wait for a slot, by priority then arrival */
    RULES_CONC_CANCEL_IN_PROGRESS, /* cancel the oldest running to make room */
    RULES_CONC_CANCEL_NEWEST,      /* the start that finds no slot is dropped */
    RULES_CONC_ROUND_ROBIN,        /* limit shared by every key, handed out in turn */
    RULES_CONC_STRATEGIES
} rules_conc_strategy;
#define RULES_CONC_LIMIT_MAX 10000
#define RULES_PRIORITY_MAX 1000000

const char *rules_conc_strategy_name(rules_conc_strategy s);
rules_conc_strategy rules_conc_strategy_parse(const char *s); /* unknown: queue */

/* What one start of a workflow is admitted under. */
typedef struct rules_admission {
    bool has_concurrency;
    char *key; /* owned: the rendered concurrency key */
    int64_t limit;
    rules_conc_strategy strategy;
    int64_t priority; /* 0 when the workflow has none */
} rules_admission;

/* Renders def's (a normalised definition's JSON) concurrency key and
 * priority for a start of workflow wid with input. SY_OK: *out filled
 * (cleanup with rules_admission_cleanup; no concurrency: has_concurrency
 * false). SY_INVALID with code bad_concurrency_key or bad_priority and the
 * reason otherwise. */
sy_status rules_admission_render(const cJSON *def, const char *wid, const cJSON *input,
                                 rules_admission *out, sy_error *err) SY_MUST_USE;
void rules_admission_cleanup(rules_admission *a);
/* {"key","limit","strategy" (with concurrency), "priority"}. Owned. */
cJSON *rules_admission_json(const rules_admission *a);

/* ---- templates and expressions (shared with the engine) ----------------- */

/* Renders a JSON value whose strings may hold {{ path | filter }} templates,
 * against ctx (any JSON object; e.g. the envelope's JSON, or the engine's
 * {input, steps, signals, workflow} object). One pass, never re-expanded. A
 * string that is exactly one template keeps the JSON type of its value
 * (a missing path gives JSON null); inside a longer string a missing or null
 * value is an error (code "template_missing"; use `| default(x)`).
 * Filters: lower, upper, default(x), json, slug, date(fmt), trunc(n), string.
 * SY_OK: *out owned (cJSON_Delete). SY_INVALID with a message otherwise. */
sy_status rules_render(const cJSON *tmpl, const cJSON *ctx, cJSON **out, sy_error *err) SY_MUST_USE;

/* Renders a template string to a string. *out owned (free()). */
sy_status rules_render_string(const char *tmpl, const cJSON *ctx, char **out, sy_error *err) SY_MUST_USE;

/* Renders a template string whose value is used as text (a human task's
 * assignee, an emitted event's subject): a string as is, a number or a
 * boolean as its JSON text (42 -> "42"), so a one-template string such as
 * "{{ input.gap_id }}" is never lost for being a number. SY_OK: *out owned
 * (free()), or NULL when the value is null or missing. An object or an array
 * is SY_INVALID (code "bad_template"). */
sy_status rules_render_text(const char *tmpl, const cJSON *ctx, char **out,
                            sy_error *err) SY_MUST_USE;

/* Evaluates a `where`-language expression against ctx (a missing path is
 * null, never an error). Compiles on each call: cache-free convenience for
 * the engine's `if` steps; routes compile once at load. */
sy_status rules_eval(const char *expr, const cJSON *ctx, bool *out, sy_error *err) SY_MUST_USE;

/* Correlation keys (engine/corr.c): a `where` that is, or has as an operand
 * of its top-level `&&` chain, an equality between a path into the event
 * and a value that does not read the event (`event.payload.order_id ==
 * input.order_id`) can be looked up by key: an event can satisfy it only
 * when its value at that path has the key of the other side's value.
 * rules_corr_key: *path (a JSON array of the members and indices after
 * `event`) and *key (the key text of the other side evaluated in ctx: its
 * kind and value, the same text for two values exactly when `==` holds
 * between them), owned (free()); both NULL when where has no such
 * equality, does not compile, or the value is an array, an object or NaN. */
void rules_corr_key(const char *where, const cJSON *ctx, char **path, char **key);
/* The key text of what event ev has at path (rules_corr_key's; missing is
 * null). NULL when it is an array, an object or NaN, or path is no path:
 * no keyed `where` can hold for ev. Owned (free()). */
char *rules_corr_event_key(const cJSON *ev, const char *path);

/* A schedule's firings are workflows "<schedule_id>:<scheduled_for>", where
 * scheduled_for is RFC 3339 UTC to the second, or to the millisecond (24
 * characters) for a trigger-now firing: the ID must leave room for them
 * within the 255 of a workflow ID. */
#define RULES_SCHEDULE_ID_MAX 230

/* Whether id matches ^[A-Za-z0-9._:/-]{1,255}$. */
bool rules_workflow_id_valid(const char *id);

/* The longest subject switchyard publishes to, in bytes: far below
 * nats-server's 4 KiB protocol line, which a longer one would break (the
 * server closes the connection). */
#define RULES_SUBJECT_MAX 1024

/* Whether s is a NATS subject one may publish to: non-empty tokens
 * separated by '.', no whitespace or control characters, no wildcard ('*'
 * or '>'), at most RULES_SUBJECT_MAX bytes. false: *why (may be NULL) is a
 * static text saying what is wrong. */
bool rules_subject_valid(const char *s, const char **why);

/* ---- embedded tests ------------------------------------------------------ */

/* Runs the set's `tests:`; each failure appends "file:line:col: message" to
 * *failures. Returns the number of tests run. */
size_t rules_run_tests(const rules_set *set, rules_diags *failures);

#endif
