/* flow_support.h: helpers for the flow-control tests against real
 * Postgres (engine_flow_control.c and the router's flow tests): an engine
 * over a rules file given as text, and batches of events routed through
 * those rules the way the router's pipeline adds them (start or signal,
 * then its flow stages), applied at a chosen time. Header only. */
#ifndef SY_TEST_FLOW_SUPPORT_H
#define SY_TEST_FLOW_SUPPORT_H

#include "batch.h"
#include "engine.h"
#include "engine_int.h"
#include "envelope.h"
#include "fixture.h"
#include "flow.h"
#include "rules.h"
#include "rules_support.h"
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLOW_T0 1767225600000LL /* 2026-01-01T00:00:00Z */

typedef struct flow_fx {
    char *conninfo;
    rules_set *rules;
    engine *eng;
    engine_session *s;
} flow_fx;

static __attribute__((unused)) void flow_fx_open(flow_fx *fx, const char *db, const char *rules)
{
    memset(fx, 0, sizeof *fx);
    fx->conninfo = fixture_pg_fresh_db(db);
    fx->rules = rules_test_load_ok(rules);
    sy_error err = {0};
    engine_opts o = {0};
    CHECK_MSG(engine_new(&o, fx->rules, &fx->eng, &err) == SY_OK, "engine_new: %s", err.message);
    CHECK_MSG(engine_session_open(fx->eng, fx->conninfo, true, &fx->s, &err) == SY_OK, "open: %s",
              err.message);
}

static __attribute__((unused)) void flow_fx_close(flow_fx *fx)
{
    engine_session_close(fx->s);
    engine_free(fx->eng);
    rules_set_free(fx->rules);
    free(fx->conninfo);
}

/* Routes one event (type, subject, payload JSON) through the rules and
 * adds it to b as the pipeline does. Returns how many flows it added. */
/* A test event (owned): source "test", a fixed time and trace. */
static __attribute__((unused)) envelope *flow_envelope(const char *id, const char *type,
                                                      const char *subject, const char *payload)
{
    cJSON *p = cJSON_Parse(payload ? payload : "{}");
    envelope *env = NULL;
    sy_error err = {0};
    CHECK_MSG(envelope_new(id, type, "test", "2026-01-01T00:00:00Z", subject,
                           "4bf92f3577b34da6a3ce929d0e0e4736", 1, p, &env, &err) == SY_OK,
              "envelope: %s", err.message);
    cJSON_Delete(p);
    return env;
}

static __attribute__((unused)) size_t flow_add_event(engine_batch *b, const rules_set *set,
                                                     const char *id, const char *type,
                                                     const char *subject, const char *payload)
{
    envelope *env = flow_envelope(id, type, subject, payload);
    rules_actions acts = {0};
    CHECK_INT(rules_route(set, env, &acts), SY_OK);
    size_t ev = engine_batch_event(b, id), flows = 0;
    for (size_t i = 0; i < acts.len; i++) {
        const rules_action *a = &acts.items[i];
        engine_start_req st = {.workflow_type = a->workflow,
                               .workflow_id = a->workflow_id,
                               .input = a->input,
                               .task_queue = a->task_queue,
                               .if_running = a->if_running,
                               .if_closed = a->if_closed,
                               .event_id = id,
                               .trace_id = envelope_trace_id(env)};
        if (a->kind == RULES_START) {
            engine_batch_start(b, ev, &st);
        } else if (a->kind == RULES_SIGNAL) {
            engine_signal_req sig = {.workflow_id = a->workflow_id,
                                     .signal = a->signal,
                                     .payload = a->signal_payload,
                                     .event_id = id,
                                     .trace_id = envelope_trace_id(env),
                                     .if_missing = a->if_missing,
                                     .start = a->if_missing == RULES_IF_MISSING_START ? &st : NULL};
            engine_batch_signal(b, ev, &sig);
        } else {
            continue;
        }
        if (a->nflow) {
            engine_batch_flow(b, a->route, a->flow, a->nflow, envelope_json(env));
            flows++;
        }
    }
    if (acts.correlate) /* cancel_on, wait_event: as the pipeline does */
        engine_batch_correlate(b, ev, envelope_json(env));
    rules_actions_cleanup(&acts);
    envelope_free(env);
    return flows;
}

/* Applies b at time now in one transaction, again on SY_BUSY as the
 * pipeline does. */
static __attribute__((unused)) sy_status flow_apply_at(engine_session *s, engine_batch *b,
                                                       int64_t now)
{
    sy_status st = SY_BUSY;
    for (int attempt = 0; st == SY_BUSY && attempt < 20; attempt++) {
        sy_error err = {0};
        st = engine_begin(s, &err);
        if (st == SY_OK)
            st = engine__batch_run(s, b, now, &err);
        if (st == SY_OK)
            st = engine_commit(s, &err);
        if (st != SY_OK) {
            engine_rollback(s);
            if (st != SY_BUSY)
                fprintf(stderr, "apply: %s\n", err.message);
        }
    }
    return st;
}

/* One event as a batch of its own, applied at now; its first flow's outcome. */
static __attribute__((unused)) rules_flow_outcome flow_one(flow_fx *fx, int64_t now, const char *id,
                                                           const char *type, const char *subject,
                                                           const char *payload)
{
    engine_batch *b = engine_batch_new();
    flow_add_event(b, fx->rules, id, type, subject, payload);
    CHECK_INT(flow_apply_at(fx->s, b, now), SY_OK);
    rules_flow_outcome o = engine_batch_flow_outcome(b, 0);
    engine_batch_free(b);
    return o;
}

static __attribute__((unused)) long long flow_count(engine_session *s, const char *sql)
{
    PGresult *r = PQexec(engine__conn(s), sql);
    CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
    long long v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* One text value (owned) of a query that returns one row. */
static __attribute__((unused)) char *flow_str(engine_session *s, const char *sql)
{
    PGresult *r = PQexec(engine__conn(s), sql);
    CHECK_MSG(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", sql,
              PQresultErrorMessage(r));
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* engine_describe of wid as compact JSON (owned). */
static __attribute__((unused)) char *flow_describe(engine_session *s, const char *wid)
{
    cJSON *d = NULL;
    sy_error err = {0};
    CHECK_MSG(engine_describe(s, wid, NULL, &d, &err) == SY_OK, "describe %s: %s", wid,
              err.message);
    char *json = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return json;
}

/* One round of the timer loop at now, up to limit due items; how many
 * it fired. */
static __attribute__((unused)) size_t flow_fire(engine_session *s, int64_t now, size_t limit)
{
    size_t n = 0;
    sy_error err = {0};
    CHECK_MSG(engine_timers_run_once(s, now, limit, &n, &err) == SY_OK, "timers: %s", err.message);
    return n;
}

/* n events in one batch applied at now: event i is id_prefix<i>, of type,
 * on subject subject_prefix<i % keys>, with payload. */
static __attribute__((unused)) void flow_apply_spread(flow_fx *fx, int64_t now, int n,
                                                      const char *id_prefix, const char *type,
                                                      const char *subject_prefix, int keys,
                                                      const char *payload)
{
    engine_batch *b = engine_batch_new();
    for (int i = 0; i < n; i++) {
        char id[64], subject[64];
        snprintf(id, sizeof id, "%s%d", id_prefix, i);
        snprintf(subject, sizeof subject, "%s%d", subject_prefix, i % keys);
        flow_add_event(b, fx->rules, id, type, subject, payload);
    }
    CHECK_INT(flow_apply_at(fx->s, b, now), SY_OK);
    engine_batch_free(b);
}

/* Two sessions at once, as two serve processes: each racer runs body on
 * an engine and session of its own over the fixture's rules and database.
 * which: 0 or 1; n: what the test gives both; got: what body counts. */
typedef struct flow_racer flow_racer;
typedef void (*flow_race_body)(flow_racer *r, engine_session *s);
struct flow_racer {
    const char *conninfo;
    const rules_set *rules;
    flow_race_body body;
    int which, n;
    long long got;
};

static __attribute__((unused)) void *flow_racer_main(void *arg)
{
    flow_racer *r = arg;
    engine *eng = NULL;
    engine_session *s = NULL;
    sy_error err = {0};
    CHECK_MSG(engine_new(NULL, r->rules, &eng, &err) == SY_OK, "engine_new: %s", err.message);
    CHECK_MSG(engine_session_open(eng, r->conninfo, false, &s, &err) == SY_OK, "open: %s",
              err.message);
    r->body(r, s);
    engine_session_close(s);
    engine_free(eng);
    return NULL;
}

/* Runs body in two sessions at once and waits for both; the sum of what
 * they counted. */
static __attribute__((unused)) long long flow_race_two(flow_fx *fx, flow_race_body body, int n)
{
    flow_racer rs[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        rs[i] = (flow_racer){fx->conninfo, fx->rules, body, i, n, 0};
        CHECK(pthread_create(&th[i], NULL, flow_racer_main, &rs[i]) == 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    return rs[0].got + rs[1].got;
}

#endif
