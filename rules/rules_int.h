/* rules_int.h: what the files of rules/ share and nobody else sees.
 *
 *   arena.c     an allocation arena: a set (or one compiled expression) is
 *               freed whole, which is what makes "never partly applied" cheap
 *   yaml.c      libyaml -> a node tree with file:line:col on every node,
 *               YAML 1.2 core scalars, node -> cJSON
 *   expr.c      the `where` language: compile once to an AST, evaluate
 *   template.c  {{ path | filter }} strings and JSON templates
 *   load*.c     the rules file: sections, routes, workflows, schedules, tests
 *   match.c     the route index and rules_route
 *   tests.c     embedded rule tests
 * Helpers shared between these files are named rules__*. */
#ifndef SY_RULES_INT_H
#define SY_RULES_INT_H

#include "buf.h"
#include "rules.h"

#include <regex.h>
#include <stdarg.h>
#include <stdint.h>

/* ---- arena -------------------------------------------------------------- */

typedef struct rules_arena {
    struct rules_arena_block *blocks;
    struct rules_arena_cleanup *cleanups; /* regexes to regfree, etc. */
} rules_arena;

void *rules__alloc(rules_arena *a, size_t size);    /* zeroed; aborts on OOM */
char *rules__strdup(rules_arena *a, const char *s); /* NULL stays NULL */
char *rules__strndup(rules_arena *a, const char *s, size_t n);
regex_t *rules__regex(rules_arena *a);                   /* regfree'd by the arena once compiled */
void rules__regex_compiled(rules_arena *a, regex_t *re); /* registers it for regfree */
void rules__arena_free(rules_arena *a);

/* ---- YAML nodes --------------------------------------------------------- */

typedef enum { RN_SCALAR, RN_MAP, RN_SEQ } rnode_kind;

typedef struct rnode {
    rnode_kind kind;
    const char *file; /* borrowed from the arena */
    int line, col;    /* 1-based */
    char *str;        /* scalar text */
    bool plain;       /* unquoted scalar: resolved by the YAML 1.2 core schema */
    bool tag_str;     /* explicit !!str */
    size_t n;
    struct rnode **keys; /* maps: keys[i] (scalars) -> vals[i] */
    struct rnode **vals; /* maps: values; sequences: items */
} rnode;

/* Parses text (len bytes) as one YAML document into the arena. On a syntax
 * error returns NULL and appends a diagnostic. An empty document yields an
 * empty map. */
rnode *rules__yaml_parse(rules_arena *a, const char *file, const char *text, size_t len,
                         rules_diags *d);

/* Scalar resolution (core schema). */
typedef enum { RS_NULL, RS_BOOL, RS_INT, RS_FLOAT, RS_STR } rscalar_kind;
rscalar_kind rules__scalar_kind(const rnode *n, bool *b, double *num);

/* Converts a node to JSON (owned). Scalars by the core schema. */
cJSON *rules__node_json(const rnode *n);

const rnode *rules__map_get(const rnode *map, const char *key);

/* ---- diagnostics -------------------------------------------------------- */

void rules__diag_add(rules_diags *d, const char *line);
void rules__diag(rules_diags *d, const rnode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rules__diag_at(rules_diags *d, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));


/* ---- expressions -------------------------------------------------------- */

typedef struct rexpr rexpr;

/* Static types known at load, for type errors detectable at load. */
typedef enum { RT_ANY, RT_NULL, RT_BOOL, RT_NUM, RT_STR, RT_ARR, RT_OBJ } rtype;

typedef struct rules_root {
    const char *name;
    rtype type;     /* type of the root itself */
    rtype sub_type; /* type of anything below it (RT_ANY) */
} rules_root;

/* Compiles src into the arena. roots (may be NULL: any root allowed, all
 * RT_ANY). NULL on error with *err filled; err->path gets the 0-based byte
 * offset in src as text ("@12"). */
rexpr *rules__expr_compile(rules_arena *a, const char *src, const rules_root *roots, size_t nroots,
                           sy_error *err);

/* Evaluates a compiled boolean expression: true only when it yields true. */
bool rules__expr_eval(const rexpr *e, const cJSON *ctx);

/* The envelope's roots, for routes' where clauses. */
extern const rules_root rules__envelope_roots[];
extern const size_t rules__envelope_nroots;

/* ---- paths (shared by expressions and templates) ------------------------ */

typedef struct rpath_seg {
    const char *key; /* NULL: array index */
    long index;
} rpath_seg;

typedef struct rpath {
    rpath_seg *segs;
    size_t n;
    const char *text; /* as written */
} rpath;

/* Parses a path at *p (advanced past it) into the arena. NULL with a
 * message in msg when it is not a path. */
rpath *rules__path_parse(rules_arena *a, const char **p, char *msg, size_t msgcap);

/* Resolves a path against ctx; NULL when missing. Borrowed. */
const cJSON *rules__path_get(const rpath *path, const cJSON *ctx);

/* ---- templates ---------------------------------------------------------- */

/* Checks every {{ }} in the strings of a JSON template (or a node) at load:
 * syntax, filters, roots. Returns false and fills err. */
bool rules__template_check(const char *s, const rules_root *roots, size_t nroots, sy_error *err);

/* ---- the set -------------------------------------------------------------- */

typedef struct rules_route_def {
    const char *name;
    const char *file;
    int line, col;
    size_t index;                                    /* file order */
    const char *type_pat, *source_pat, *subject_pat; /* NULL: any */
    bool type_is_exact;
    rexpr *where; /* NULL: true */
    rules_action_kind kind;
    /* start (also signal's start half) */
    const char *workflow;
    const char *id_tmpl;
    cJSON *input_tmpl; /* owned by the set (freed in rules_set_free) */
    const char *task_queue;
    rules_if_running if_running;
    rules_if_closed if_closed;
    /* signal */
    const char *signal_id_tmpl;
    const char *signal_name;
    cJSON *payload_tmpl;
    rules_if_missing if_missing;
    bool has_start;
    /* dead letter */
    const char *dl_code, *dl_message;
    /* flow control (load_flow.c): stages in the order they apply */
    rules_flow_spec flow[RULES_FLOW_MAX];
    size_t nflow;
    struct rules_join_spec *join; /* a join route (load_join.c): no match, not indexed */
} rules_route_def;

/* A join route's events and condition (load_join.c). */
#define RULES_JOIN_PARTS 16
typedef struct rules_join_part {
    const char *name, *type;
    rexpr *where; /* over the event; NULL: true */
} rules_join_part;
typedef struct rules_join_spec {
    const char *key_tmpl;
    rules_join_part parts[RULES_JOIN_PARTS];
    size_t nparts;
    rexpr *when; /* over the parts' names as booleans */
    const char *when_src;
    int64_t window_ms;
} rules_join_spec;

/* One step of a test with `steps:` (tests_steps.c): the clock moves by
 * after_ms (what fires meanwhile must match fired), then event (if any)
 * is routed at the new time and must produce expect. */
typedef struct rules_test_step {
    int line, col;
    int64_t after_ms;
    cJSON *fired;  /* array of expected fired actions ([] when absent) */
    cJSON *event;  /* NULL: none */
    cJSON *expect; /* with event */
    cJSON *correlated; /* what the event correlates with (corr_sim.c); NULL: not checked */
} rules_test_step;

typedef struct rules_test_def {
    const char *name;
    const char *file;
    int line, col;
    cJSON *event;  /* envelope JSON, defaults filled */
    cJSON *expect; /* array of expected actions (subset match) */
    rules_test_step *steps; /* `steps:` instead of event/expect (owned) */
    size_t nsteps;
} rules_test_def;

typedef struct rules_index rules_index;

struct rules_set {
    rules_arena arena;
    char hash[65];
    bool unmatched_dead_letter;
    rules_route_def *routes;
    size_t nroutes;
    cJSON *workflows; /* object */
    cJSON *schedules; /* array */
    rules_test_def *tests;
    size_t ntests;
    rules_index *index;
    cJSON *corr_types; /* object: event types workflows correlate on (load_corr.c) */
    cJSON *join_types; /* object: event types join routes collect (NULL: none) */
    bool order_free;   /* rules_set_order_free, decided once at load */
};

/* Loader state shared by load*.c. */
typedef struct rules_loader {
    rules_set *set;
    rules_diags *d;
    const rules_load_opts *opts;
    size_t routes_cap, tests_cap;
    bool unmatched_set;
    bool defaults_seen;
    rules_if_running def_if_running;
    rules_if_closed def_if_closed;
    const rules_root *tmpl_roots; /* a join route's start: {key, events}; NULL: the envelope's */
    size_t ntmpl_roots;
    cJSON *queue_limits; /* task queue -> its max_in_flight, for one limit per queue */
} rules_loader;

/* Checks that map's keys are all in known[]; diagnoses the rest with a
 * suggestion. Returns false when some key was unknown. */
bool rules__check_keys(rules_loader *ld, const rnode *map, const char *what,
                       const char *const *known, size_t n);

/* Typed field readers: each diagnoses a wrong type and returns false. */
bool rules__get_string(rules_loader *ld, const rnode *n, const char *what, const char **out);
bool rules__get_duration(rules_loader *ld, const rnode *n, const char *what, int64_t *out);
bool rules__get_int(rules_loader *ld, const rnode *n, const char *what, int64_t min, int64_t *out);
bool rules__get_bool(rules_loader *ld, const rnode *n, const char *what, bool *out);
bool rules__get_number(rules_loader *ld, const rnode *n, const char *what, double *out);
int rules__get_enum(rules_loader *ld, const rnode *n, const char *what, const char *const *names,
                    size_t count); /* -1 on error */
bool rules__expect_kind(rules_loader *ld, const rnode *n, rnode_kind k, const char *what);

/* Validates the JSON template held by a node (every string's {{ }}). */
bool rules__check_node_templates(rules_loader *ld, const rnode *n, const rules_root *roots,
                                 size_t nroots);

/* Diagnoses a reference to an undefined workflow, suggesting the closest. */
void rules__unknown_workflow(rules_loader *ld, const rnode *at, const char *name);

void rules__load_workflows(rules_loader *ld, const rnode *map);
/* A start's concurrency key and priority rendered into a->admission, or
 * the action turned into a dead letter with the reason (actions.c). */
void rules__fire_admission(const cJSON *workflows, rules_action *a);
/* A workflow's concurrency and priority (concurrency.c) into its JSON wf. */
void rules__load_admission(rules_loader *ld, cJSON *wf, const rnode *m);
void rules__load_schedules(rules_loader *ld, const rnode *seq);
void rules__load_routes(rules_loader *ld, const rnode *seq);
void rules__load_tests(rules_loader *ld, const rnode *seq);

/* tests.c, for tests_steps.c: a test's event with envelope defaults
 * (occurred_at: the given time when absent), validated (NULL: diagnosed);
 * an expected-actions list's shape; one comparison of the actions got
 * against the expected list ("what" names it in failures). */
#define RULES__TEST_EPOCH_MS 1767225600000LL /* 2026-01-01T00:00:00Z: tests' clock starts here */
cJSON *rules__test_event(rules_loader *ld, const rnode *n, size_t index, int64_t at_ms);
bool rules__test_expect_list(rules_loader *ld, const rnode *n, const char *what);
void rules__test_compare(const rules_test_def *t, int line, int col, const char *what,
                         const cJSON *want, const rules_actions *got, rules_diags *failures);
/* Whether want is a subset of got (objects: members recursively; arrays:
 * element-wise; scalars: equal). tests.c. */
bool rules__json_subset(const cJSON *want, const cJSON *got);
bool rules__load_test_steps(rules_loader *ld, rules_test_def *t, const rnode *steps);
void rules__run_test_steps(const rules_set *set, const rules_test_def *t, rules_diags *failures);

/* load_flow.c: the flow-control keys of a route (dedupe, rate_limit,
 * debounce, throttle, batch) into r->flow, checked against its action. */
void rules__load_flow(rules_loader *ld, rules_route_def *r, const rnode *route);

/* actions.c: renders the keys of r's stages into a (a dead letter with
 * code bad_flow_key when one fails, renders empty or is too long). */
void rules__fire_flow(const rules_route_def *r, const cJSON *ev, rules_action *a);
/* Appends a zeroed action to out; NULL: out of memory. */
rules_action *rules__actions_push(rules_actions *out);
/* A deep copy of a (its borrowed strings stay borrowed). NULL: no memory. */
sy_status rules__action_copy(const rules_action *a, rules_action *out) SY_MUST_USE;
void rules__action_free(rules_action *a);
/* The `flow` member of an action's JSON forms (NULL when it has no stages). Owned. */
cJSON *rules__flow_json(const rules_action *a);

/* load_corr.c: correlation (cancel_on, wait_event). The `type` node and
 * `where` of m into out's event_type and where, the expression checked
 * against roots plus `event`; what names the field in diagnostics. */
void rules__load_event_match(rules_loader *ld, const rnode *m, const rnode *type_node,
                             const char *what, const rules_root *roots, size_t nroots, cJSON *out);
/* A workflow's `cancel_on:` list into wf's "cancel_on". */
void rules__load_cancel_on(rules_loader *ld, const rnode *n, const rules_root *roots, size_t nroots,
                           cJSON *wf);
/* load_join.c: a route's `join:` into r->join (and set->join_types). */
void rules__load_join(rules_loader *ld, rules_route_def *r, const rnode *n);
extern const rules_root rules__join_roots[];
extern const size_t rules__join_nroots;
/* Fills set->corr_types from the loaded workflows (and join_types). */
void rules__collect_corr_types(rules_set *set);
/* rules_set_order_free's answer, computed at load (load_routes.c). */
bool rules__order_free(const rules_set *set);
/* match.c */
sy_status rules__index_build(rules_set *set);
void rules__index_free(rules_index *ix);
/* Routes the envelope given as JSON (envelope_json shape). */
sy_status rules__route_json(const rules_set *set, const cJSON *ev, rules_actions *out) SY_MUST_USE;
bool rules__glob_type(const char *pat, const char *type);
bool rules__glob_value(const char *pat, const char *s);

/* Appends the action of route r for event ev (actions.c). SY_NOMEM only. */
sy_status rules__fire(const rules_route_def *r, const cJSON *ev, rules_actions *out) SY_MUST_USE;

/* An action as JSON in the tests' expectation shape:
 * {route, start:{workflow,id,input,task_queue,if_running,if_closed}} etc. Owned. */
cJSON *rules__action_expect_json(const rules_action *a);
/* An action as JSON in the `switchyard route` shape (docs/cli.md). Owned. */
cJSON *rules__action_route_json(const rules_action *a);

const char *rules__if_running_name(rules_if_running v);
const char *rules__if_closed_name(rules_if_closed v);
const char *rules__if_missing_name(rules_if_missing v);

#endif
