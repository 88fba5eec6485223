/* replay_test.c: the state of a run is a pure function of its history.
 * Each scenario drives the interpreter in memory (no database: the write
 * set is only flushed by batches), recording every history event; then the
 * recorded history is replayed through the reducer into a fresh state and
 * compared with the live one, member by member. A recorded history from a
 * real run (histories/greet.json) is replayed too and its state checked. */
#include "engine_int.h"
#include "test.h"
#include "ws.h"

#include <stdlib.h>
#include <string.h>

static const char DEFS[] =
    "{\"flow\":{\"type\":\"flow\",\"task_queue\":\"q\",\"steps\":["
    "{\"kind\":\"task\",\"name\":\"a\",\"task\":\"a\",\"input\":{\"k\":1},\"retry\":{\"maximum_"
    "attempts\":2}},"
    "{\"kind\":\"wait\",\"name\":\"go\",\"signal\":\"go\",\"timeout_ms\":1000,\"on_timeout\":"
    "\"continue\"},"
    "{\"kind\":\"if\",\"name\":\"if-3\",\"condition\":\"true\",\"then\":["
    "  {\"kind\":\"sleep\",\"name\":\"sleep-1\",\"duration_ms\":10}],\"else\":[]},"
    "{\"kind\":\"emit\",\"name\":\"emit-4\",\"type\":\"x.done\",\"subject\":null,\"payload\":{"
    "\"ok\":true}},"
    "{\"kind\":\"foreach\",\"name\":\"each\",\"items\":[1,2,3],\"as\":\"item\",\"max_parallel\":2,"
    "  \"task\":{\"task\":\"b\",\"input\":{}}},"
    "{\"kind\":\"complete\",\"name\":\"complete-6\",\"result\":{\"r\":7}}]}}";

typedef struct scenario {
    engine *eng;
    engine_session s;
    engine__ws *ws;
    engine__run *run;
} scenario;

static void open_scenario(scenario *sc)
{
    memset(sc, 0, sizeof *sc);
    cJSON *defs = cJSON_Parse(DEFS);
    engine_opts o = {.workflows = defs};
    sy_error err = {0};
    CHECK_INT(engine_new(&o, NULL, &sc->eng, &err), SY_OK);
    cJSON_Delete(defs);
    sc->s.eng = sc->eng;
    sc->ws = engine__ws_new(&sc->s, 1000000);
    sc->ws->record = cJSON_CreateArray(); /* a copy of every history event */
    engine__run *run = calloc(1, sizeof *run);
    snprintf(run->workflow_id, sizeof run->workflow_id, "wf");
    snprintf(run->run_id, sizeof run->run_id, "00000000-0000-4000-8000-000000000001");
    snprintf(run->type, sizeof run->type, "flow");
    snprintf(run->task_queue, sizeof run->task_queue, "q");
    snprintf(run->trace_id, sizeof run->trace_id, "0123456789abcdef0123456789abcdef");
    run->def = engine__def_by_type(sc->eng, "flow");
    run->next_seq = 1;
    run->current = true;
    run->state = engine__state_new(run->workflow_id, run->run_id, run->type);
    engine__ws_add_run(sc->ws, run);
    sc->run = run;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddItemToObject(d, "input", cJSON_CreateObject());
    engine__emit(sc->ws, run, "workflow.started", d);
    CHECK_INT(engine__advance(sc->ws, run, &err), SY_OK);
}

static void close_scenario(scenario *sc)
{
    engine__ws_free(sc->ws);
    engine__ws_destroy(sc->s.ws_spare); /* kept for a next batch by ws_free */
    engine_free(sc->eng);
}

/* An outside event (signal, report, timer) followed by an advance. */
static void feed(scenario *sc, const char *type, const char *json)
{
    sy_error err = {0};
    engine__emit(sc->ws, sc->run, type, cJSON_Parse(json));
    CHECK_INT(engine__advance(sc->ws, sc->run, &err), SY_OK);
}

static const char *task_id(scenario *sc, const char *step)
{
    static char id[128];
    snprintf(id, sizeof id, "%s:%s", sc->run->run_id, step);
    return id;
}

/* Replays the recorded history rows and compares with the live state. */
static void check_replay(scenario *sc)
{
    /* through text, as the history table holds it */
    char *text = cJSON_PrintUnformatted(sc->ws->record);
    cJSON *rows = cJSON_Parse(text);
    free(text);
    CHECK(rows != NULL);
    cJSON *st = engine__state_new("wf", sc->run->run_id, "flow");
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        /* what the history leaves out comes back from the definition, as
         * batch.c's replay does it */
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(row, "t"));
        engine__task_origin o = {sc->run->def->body, sc->run->run_id, sc->run->task_queue, "",
                                 NULL};
        engine__history_expand(&o, type, cJSON_GetObjectItem(row, "d"));
        engine__reduce(st, (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(row, "s")), type,
                       cJSON_GetObjectItem(row, "d"));
    }
    char *live = cJSON_PrintUnformatted(sc->run->state), *replayed = cJSON_PrintUnformatted(st);
    CHECK_MSG(cJSON_Compare(st, sc->run->state, 1),
              "replayed state differs:\nlive     %s\nreplayed %s", live, replayed);
    free(live);
    free(replayed);
    cJSON_Delete(st);
    cJSON_Delete(rows);
}

static const char *status(scenario *sc)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(sc->run->state, "status"));
}

TEST(replayed_history_gives_the_live_state_through_every_step_kind)
{
    scenario sc;
    open_scenario(&sc);
    char buf[256];
    /* task a: fails once (retry), then completes */
    snprintf(buf, sizeof buf, "{\"task_id\":\"%s\",\"attempt\":1}", task_id(&sc, "0"));
    feed(&sc, "task.started", buf);
    CHECK_INT(sc.ws->nhist, 3);
    const cJSON *t =
        cJSON_GetObjectItem(cJSON_GetObjectItem(sc.run->state, "tasks"), task_id(&sc, "0"));
    engine__task_failure(sc.ws, sc.run, t, "task.failed", cJSON_Parse("{\"type\":\"x\"}"), true,
                         false);
    /* its retry timer fires: the next attempt, as ops.c schedules it */
    sy_error err = {0};
    engine__task_retry(sc.ws, sc.run, t);
    CHECK_INT(engine__advance(sc.ws, sc.run, &err), SY_OK);
    snprintf(buf, sizeof buf, "{\"task_id\":\"%s\",\"attempt\":2,\"result\":5}", task_id(&sc, "0"));
    feed(&sc, "task.completed", buf);
    check_replay(&sc);
    /* the wait got a timer; the signal arrives before it fires */
    feed(&sc, "workflow.signaled", "{\"signal\":\"go\",\"payload\":{\"v\":1}}");
    CHECK_STR(status(&sc), "running");
    /* the if took "then": a sleep timer is pending; fire it */
    const cJSON *keys = cJSON_GetObjectItem(sc.run->state, "keys");
    const char *timer =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(keys, "2/t/0"), "timer_id"));
    CHECK(timer != NULL);
    snprintf(buf, sizeof buf, "{\"timer_id\":\"%s\",\"step\":\"2/t/0\"}", timer);
    feed(&sc, "timer.fired", buf);
    check_replay(&sc);
    /* emit done; foreach scheduled 2 of 3 (max_parallel 2) */
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(sc.run->state, "tasks"), task_id(&sc, "4#1")) !=
          NULL);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(sc.run->state, "tasks"), task_id(&sc, "4#2")) ==
          NULL);
    for (int i = 0; i < 3; i++) {
        char step[8];
        snprintf(step, sizeof step, "4#%d", i);
        snprintf(buf, sizeof buf, "{\"task_id\":\"%s\",\"attempt\":1,\"result\":%d}",
                 task_id(&sc, step), i * 10);
        feed(&sc, "task.completed", buf);
    }
    CHECK_STR(status(&sc), "completed");
    char *res = cJSON_PrintUnformatted(cJSON_GetObjectItem(sc.run->state, "result"));
    CHECK_STR(res, "{\"r\":7}");
    free(res);
    char *each = cJSON_PrintUnformatted(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(sc.run->state, "ctx"), "steps"),
                            "each"),
        "result"));
    CHECK_STR(each, "[0,10,20]");
    free(each);
    check_replay(&sc);
    close_scenario(&sc);
}

TEST(cancel_request_cancels_pending_tasks_in_the_history)
{
    scenario sc;
    open_scenario(&sc);
    feed(&sc, "workflow.cancel_requested", "{\"reason\":\"x\"}");
    CHECK_STR(status(&sc), "canceled");
    const cJSON *t =
        cJSON_GetObjectItem(cJSON_GetObjectItem(sc.run->state, "tasks"), task_id(&sc, "0"));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(t, "status")), "canceled");
    check_replay(&sc);
    close_scenario(&sc);
}

TEST(recorded_history_replays_to_its_recorded_outcome)
{
    char path[1024];
    const char *src = getenv("SY_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/unit/engine/histories/greet.json",
             src ? src : SY_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f != NULL, "open %s", path);
    char *text = calloc(1, 1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    CHECK(n > 0);
    cJSON *rec = cJSON_Parse(text);
    free(text);
    CHECK(rec != NULL);
    cJSON *st = engine__state_new("g-1", "977e414d-028d-40af-97a9-277733efe037", "greet");
    const cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItem(rec, "history"))
    {
        engine__reduce(st, (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(ev, "seq")),
                       cJSON_GetStringValue(cJSON_GetObjectItem(ev, "type")),
                       cJSON_GetObjectItem(ev, "data"));
    }
    const cJSON *want = cJSON_GetObjectItem(rec, "expect");
    const cJSON *w;
    cJSON_ArrayForEach(w, want)
    {
        const cJSON *got = cJSON_GetObjectItem(st, w->string);
        CHECK_MSG(cJSON_Compare(got, w, 1), "state.%s differs", w->string);
    }
    cJSON_Delete(st);
    cJSON_Delete(rec);
}

/* The history leaves out of task.scheduled what the pinned definition
 * holds (the step's retry and timeouts) and of workflow.started what the
 * run's row holds; replaying it puts them back (check_replay compares with
 * the live state, which had them all along). */
TEST(the_history_leaves_out_what_the_definition_holds)
{
    scenario sc;
    open_scenario(&sc);
    const cJSON *row, *sched = NULL, *started = NULL;
    cJSON_ArrayForEach(row, sc.ws->record)
    {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(row, "t"));
        if (!sched && strcmp(t, "task.scheduled") == 0)
            sched = cJSON_GetObjectItem(row, "d");
        if (strcmp(t, "workflow.started") == 0)
            started = cJSON_GetObjectItem(row, "d");
    }
    CHECK(sched != NULL && started != NULL);
    CHECK(cJSON_GetObjectItem(sched, "retry") == NULL);
    CHECK(cJSON_GetObjectItem(sched, "task_id") == NULL);
    CHECK(cJSON_GetObjectItem(sched, "queue") == NULL);
    CHECK(cJSON_GetObjectItem(sched, "name") == NULL);
    CHECK(cJSON_GetObjectItem(sched, "input") != NULL);
    CHECK(cJSON_GetObjectItem(sched, "attempt") != NULL);
    CHECK(cJSON_GetObjectItem(started, "def_hash") == NULL);
    CHECK(cJSON_GetObjectItem(started, "input") != NULL);
    /* the live state has the step's policy: the reducer saw it */
    const cJSON *t =
        cJSON_GetObjectItem(cJSON_GetObjectItem(sc.run->state, "tasks"), task_id(&sc, "0"));
    CHECK_INT((int)cJSON_GetNumberValue(
                  cJSON_GetObjectItem(cJSON_GetObjectItem(t, "retry"), "maximum_attempts")),
              2);
    cJSON *copy = cJSON_Duplicate(sched, 1);
    engine__task_origin o = {sc.run->def->body, sc.run->run_id, sc.run->task_queue, "", NULL};
    engine__history_expand(&o, "task.scheduled", copy);
    CHECK(cJSON_Compare(cJSON_GetObjectItem(copy, "retry"), cJSON_GetObjectItem(t, "retry"), 1));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(copy, "task_id")), task_id(&sc, "0"));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(copy, "queue")), "q");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(copy, "name")), "a");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(copy, "human")));
    cJSON_Delete(copy);
    check_replay(&sc);
    close_scenario(&sc);
}

TEST(step_keys_name_their_step_in_the_definition)
{
    scenario sc;
    open_scenario(&sc);
    const cJSON *body = sc.run->def->body;
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(engine__step_at(body, "0"), "name")), "a");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(engine__step_at(body, "2/t/0"), "name")),
              "sleep-1");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(engine__step_at(body, "4#2"), "task")), "b");
    CHECK(engine__step_at(body, "2/e/0") == NULL); /* an empty else */
    CHECK(engine__step_at(body, "9") == NULL);
    CHECK(engine__step_at(body, "") == NULL);
    CHECK(engine__step_at(body, "0/x/1") == NULL);
    CHECK(engine__step_at(NULL, "0") == NULL);
    close_scenario(&sc);
}
