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
} rules_action;

typedef struct rules_actions {
    rules_action *items;
    size_t len, cap;
    bool unmatched;   /* no route matched (router acks or dead-letters per set) */
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

/* A schedule's firings are workflows "<schedule_id>:<scheduled_for>", where
 * scheduled_for is RFC 3339 UTC to the second (20 characters): the ID must
 * leave room for them within the 255 of a workflow ID. */
#define RULES_SCHEDULE_ID_MAX 234

/* Whether id matches ^[A-Za-z0-9._:/-]{1,255}$. */
bool rules_workflow_id_valid(const char *id);

/* Whether s is a NATS subject one may publish to: non-empty tokens
 * separated by '.', no whitespace or control characters, no wildcard ('*'
 * or '>'). false: *why (may be NULL) is a static text saying what is wrong. */
bool rules_subject_valid(const char *s, const char **why);

/* ---- embedded tests ------------------------------------------------------ */

/* Runs the set's `tests:`; each failure appends "file:line:col: message" to
 * *failures. Returns the number of tests run. */
size_t rules_run_tests(const rules_set *set, rules_diags *failures);

#endif
