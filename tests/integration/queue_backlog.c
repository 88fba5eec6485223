/* queue_backlog.c: engine_task_queue_backlog (the per-queue gauges of
 * /metrics) against a real Postgres, and the SQL docs/keda.md gives KEDA's
 * postgresql scaler, run as the document writes it: both count the tasks
 * scheduled on a queue that no worker took yet, human tasks excluded. */
#include "engine_support.h"

#include <stdio.h>

/* The first ```sql block of docs/keda.md with its queue 'gap-drain' made
 * 'queue' (owned). */
static char *keda_query(const char *queue)
{
    FILE *f = fopen(fixture_source_path("docs/keda.md"), "r");
    CHECK(f != NULL);
    char line[512], sql[2048] = "";
    bool in = false;
    while (fgets(line, sizeof line, f)) {
        if (!in && strncmp(line, "```sql", 6) == 0) {
            in = true;
            continue;
        }
        if (in && strncmp(line, "```", 3) == 0)
            break;
        if (in)
            strncat(sql, line, sizeof sql - strlen(sql) - 1);
    }
    fclose(f);
    char *at = strstr(sql, "'gap-drain'");
    CHECK_MSG(at != NULL, "no query for queue 'gap-drain' in docs/keda.md:\n%s", sql);
    char *out = malloc(strlen(sql) + strlen(queue) + 3);
    sprintf(out, "%.*s'%s'%s", (int)(at - sql), sql, queue, at + strlen("'gap-drain'"));
    return out;
}

static const engine_queue_backlog *find(const engine_queue_backlog *q, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(q[i].queue, name) == 0)
            return &q[i];
    return NULL;
}

static size_t backlog(engine_fx *fx, engine_queue_backlog *q, size_t max)
{
    size_t n = 0;
    sy_error err = {0};
    CHECK_MSG(engine_task_queue_backlog(fx->s, engine__now(fx->eng), q, max, &n, &err) == SY_OK,
              "backlog: %s", err.message);
    return n;
}

static void start(engine_fx *fx, const char *type, const char *id)
{
    engine_result res;
    CHECK_INT(
        engine_fx_start(fx, type, id, RULES_IF_RUNNING_USE_EXISTING, RULES_IF_CLOSED_ALLOW, &res),
        SY_OK);
}

TEST(queue_backlog_counts_scheduled_tasks_per_queue_as_the_keda_query_does)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_queue_backlog");
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "w-%d", i);
        start(&fx, "one", id); /* one task each on q1 */
    }
    start(&fx, "human", "h-1"); /* a human task: no worker takes it */
    engine_worker_seen w = {.queue = "idle-q", .worker = "w1", .last_seen_ms = engine__now(fx.eng)};
    sy_error err = {0};
    CHECK_INT(engine_workers_seen(fx.s, &w, 1, &err), SY_OK);
    /* the oldest q1 task has waited five minutes */
    engine_fx_exec(&fx, "UPDATE tasks SET scheduled_at = now() - interval '5 minutes'"
                        " WHERE workflow_id = 'w-0'");

    engine_queue_backlog q[16];
    size_t n = backlog(&fx, q, 16);
    char *hq = engine_fx_str(&fx, "SELECT queue FROM tasks WHERE workflow_id = 'h-1'", NULL, NULL);
    const engine_queue_backlog *q1 = find(q, n, "q1"), *qh = find(q, n, hq),
                               *idle = find(q, n, "idle-q");
    free(hq);
    CHECK(q1 && qh && idle);
    CHECK_INT(q1->tasks, 3);
    CHECK_MSG(q1->oldest_age_ms >= 299000 && q1->oldest_age_ms < 400000, "oldest %lld ms",
              (long long)q1->oldest_age_ms);
    CHECK_INT(qh->tasks, 0);
    CHECK_INT(idle->tasks, 0);
    CHECK_INT(idle->oldest_age_ms, 0);
    char *sql = keda_query("q1");
    CHECK_INT(engine_fx_int(&fx, sql, NULL, NULL), 3);

    /* a worker takes one: it leaves the backlog */
    char *task =
        engine_fx_str(&fx, "SELECT task_id FROM tasks WHERE workflow_id = 'w-0'", NULL, NULL);
    CHECK_INT(engine_begin(fx.s, &err), SY_OK);
    engine_report r = {.task_id = task, .attempt = 1, .kind = ENGINE_REPORT_STARTED};
    engine_result res;
    CHECK_INT(engine_task_report(fx.s, &r, &res, &err), SY_OK);
    CHECK_INT(engine_commit(fx.s, &err), SY_OK);
    n = backlog(&fx, q, 16);
    q1 = find(q, n, "q1");
    CHECK(q1 != NULL);
    CHECK_INT(q1->tasks, 2);
    CHECK_MSG(q1->oldest_age_ms < 60000, "oldest %lld ms after the old one started",
              (long long)q1->oldest_age_ms);
    CHECK_INT(engine_fx_int(&fx, sql, NULL, NULL), 2);
    CHECK_INT(backlog(&fx, q, 1), 1); /* bounded by max */
    free(task);
    free(sql);
    engine_fx_close(&fx);
}
