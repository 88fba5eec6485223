/* `switchyard serve` as an operator runs it, against the real servers: a
 * fresh database is migrated before any loop touches it; an idle serve
 * sends one pull request a second per consumer, and a lone event is still
 * routed at once. */
#include "router_helpers.h"
#include "trace.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/wait.h>

/* serve --config config, its stderr (the JSON log) into log_path. */
static pid_t spawn_serve_logged(const char *config, const char *log_path)
{
    pid_t pid = fixture_fork();
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execl(fixture_switchyard_bin(), "switchyard", "serve", "--config", config, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static pid_t spawn_serve(const char *config)
{
    pid_t pid = fixture_fork();
    if (pid == 0) {
        execl(fixture_switchyard_bin(), "switchyard", "serve", "--config", config, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_ready(int port, int timeout_ms)
{
    char resp[4096];
    int status = 0;
    for (int waited = 0; waited < timeout_ms && status != 200; waited += 100) {
        status = rh_http(port, "GET", "/readyz", NULL, resp, sizeof resp);
        if (status != 200)
            rh_sleep_ms(100);
    }
    return status;
}

static void stop_serve(pid_t pid)
{
    CHECK(kill(pid, SIGTERM) == 0);
    int st = -1;
    for (int i = 0; i < 200 && waitpid(pid, &st, WNOHANG) == 0; i++)
        rh_sleep_ms(50);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serve exit status %d", st);
}

/* The whole file (owned, NUL-terminated; "" when missing). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    while (f && !feof(f)) {
        if (len + 4096 + 1 > cap)
            s = realloc(s, cap *= 2);
        len += fread(s + len, 1, 4096, f);
    }
    if (f)
        fclose(f);
    s[len] = '\0';
    return s;
}

static bool wait_log(const char *path, const char *msg, const char *k, const char *v,
                     int timeout_ms);

/* The config of a serve on stream RT_<name> (rt.<name>.>) with every loop
 * on, its outcomes and reports on a stream of its own (RTO_<name>,
 * subject prefix <name>); extra is spliced in at the end (more sections;
 * its own log section replaces the default, info). */
static char *write_serve_config(const char *name, const char *conninfo, const char *rules, int port,
                                const char *extra)
{
    char yaml[4096], file[64];
    snprintf(yaml, sizeof yaml,
             "nats: {urls: [\"%s\"]}\npostgres: {conninfo: \"%s\", migrate: true}\n"
             "stream: {name: RT_%s, subjects: [rt.%s.>], storage: memory,"
             " outcomes_name: RTO_%s, outcomes_subjects: [\"%s.>\"]}\n"
             "engine: {subject_prefix: %s}\n"
             "rules: {path: \"%s\"}\nadmin: {listen: \"127.0.0.1:%d\"}\n"
             "%s%s",
             fixture_nats_url(), conninfo, name, name, name, name, name, rules, port,
             extra && strstr(extra, "log:") ? "" : "log: {level: info}\n", extra ? extra : "");
    snprintf(file, sizeof file, "%s.yaml", name);
    return rh_write_file(file, yaml);
}

TEST(serve_migrates_a_fresh_database_before_its_loops_start)
{
    char *conninfo = fixture_pg_fresh_db("rt_migfirst");
    char *rules = rh_write_file("rules.yaml", rh_rules);
    char *log = rh_write_file("migfirst.log", "");
    int port = rh_free_port();
    char *cfg = write_serve_config("migfirst", conninfo, rules, port, NULL);
    pid_t pid = spawn_serve_logged(cfg, log);
    CHECK_INT(wait_ready(port, 30000), 200);
    wait_log(log, "outbox relay running", NULL, NULL, 30000);
    rh_sleep_ms(1500); /* every loop has run a round by now */
    stop_serve(pid);
    char *text = slurp(log);
    CHECK_MSG(strstr(text, "does not exist") == NULL, "a loop ran before the migrations:\n%s",
              text);
    CHECK_MSG(strstr(text, "\"outbox relay running\"") != NULL, "the relay ran:\n%s", text);
    free(text);
    unlink(cfg);
    unlink(rules);
    unlink(log);
    free(cfg);
    free(rules);
    free(log);
    free(conninfo);
}

static void count_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    atomic_fetch_add((atomic_int *)closure, 1);
    natsMsg_Destroy(m);
}

/* With the default consumer.fetch_wait, an idle serve's consumers (2
 * pipelines, 2 report consumers) long-poll once a second each: no stream
 * of pull requests (there were ~80 a second with a 50 ms fetch_wait), and
 * an event published into the idle service still commits at once. */
TEST(an_idle_serve_long_polls_and_a_lone_event_is_routed_at_once)
{
    char *conninfo = fixture_pg_fresh_db("rt_idle");
    char *rules = rh_write_file("rules.yaml", rh_rules);
    int port = rh_free_port();
    char *cfg = write_serve_config("idle", conninfo, rules, port, NULL);
    pid_t pid = spawn_serve(cfg);
    CHECK_INT(wait_ready(port, 30000), 200);
    rh_nats n;
    rh_nats_open(&n, fixture_nats_url());
    atomic_int pulls = 0;
    natsSubscription *spy_events = NULL, *spy_reports = NULL;
    CHECK_INT(natsConnection_Subscribe(&spy_events, n.nc, "$JS.API.CONSUMER.MSG.NEXT.RT_idle.>",
                                       count_msg, &pulls),
              NATS_OK);
    CHECK_INT(natsConnection_Subscribe(&spy_reports, n.nc, "$JS.API.CONSUMER.MSG.NEXT.RTO_idle.>",
                                       count_msg, &pulls),
              NATS_OK);
    CHECK_INT(natsConnection_Flush(n.nc), NATS_OK);
    rh_sleep_ms(1500); /* the report consumers have bound by now */
    atomic_store(&pulls, 0);
    rh_sleep_ms(3000);
    int idle = atomic_load(&pulls);
    /* 4 consumers long-polling 1 s: ~12, more when a loaded box (ASan, a
     * parallel suite) returns a poll early; the 50 ms no-wait polls this
     * replaced made ~240 */
    CHECK_MSG(idle >= 4 && idle <= 60, "%d pull requests in 3 s of idle (4 consumers)", idle);

    char body[512];
    rh_event(body, sizeof body, "idle-1", "order.created", 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rh_publish(&n, "rt.idle.a", body);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.runs", 1, 10000), 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK_MSG(ms < 700, "a lone event took %ld ms to commit (the long poll is 1 s)", ms);

    natsSubscription_Destroy(spy_events);
    natsSubscription_Destroy(spy_reports);
    stop_serve(pid);
    rh_nats_close(&n);
    unlink(cfg);
    unlink(rules);
    free(cfg);
    free(rules);
    free(conninfo);
}

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = atol(line + 6);
    if (f)
        fclose(f);
    return v;
}

/* Publishes n events whose payload is a string of 'size' bytes. */
static void publish_sized(rh_nats *n, const char *subject, const char *prefix, int count,
                          size_t size)
{
    char *body = malloc(size + 512);
    for (int i = 0; i < count; i++) {
        int k = snprintf(body, 512,
                         "{\"event_id\":\"%s-%d\",\"type\":\"order.created\",\"source\":\"t\","
                         "\"occurred_at\":\"2026-01-02T03:04:05Z\",\"trace_id\":"
                         "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"schema_version\":1,"
                         "\"payload\":{\"n\":%d,\"blob\":\"",
                         prefix, i, i);
        memset(body + k, 'x', size);
        strcpy(body + k + size, "\"}}");
        rh_publish(n, subject, body);
    }
    free(body);
}

/* A burst of events over limits.max_event_bytes is dead-lettered, bytes
 * and all, and the process's memory comes back to its level before the
 * burst (it kept ~150 MiB more: write sets, libpq's output buffer and
 * glibc's arenas holding the burst's megabytes). */
TEST(serve_memory_comes_back_after_a_burst_of_oversized_events)
{
    char *conninfo = fixture_pg_fresh_db("rt_rss");
    char *rules = rh_write_file("rules.yaml", rh_rules);
    int port = rh_free_port();
    char *cfg =
        write_serve_config("rss", conninfo, rules, port, "limits: {max_event_bytes: 64KiB}\n");
    pid_t pid = spawn_serve(cfg);
    CHECK_INT(wait_ready(port, 30000), 200);
    rh_nats n;
    rh_nats_open(&n, fixture_nats_url());
    publish_sized(&n, "rt.rss.a", "warm", 300, 100);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.runs", 300, 30000), 300);
    rh_sleep_ms(2500); /* idle rounds: the warm-up's own buffers settle */
    long before = rss_kib(pid);
    publish_sized(&n, "rt.rss.a", "big", 30, 900000);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters", 30, 60000),
              30);
    rh_sleep_ms(3000); /* two idle rounds of every consumer */
    long after = rss_kib(pid);
    /* ASan's allocator keeps freed blocks in quarantine (256 MB): RSS
     * says nothing about the heap there; the burst is still checked */
    CHECK_MSG(SANITIZED || after < before + 12 * 1024,
              "RSS %ld KiB before 27 MB of oversized events, %ld after", before, after);
    stop_serve(pid);
    rh_nats_close(&n);
    unlink(cfg);
    unlink(rules);
    free(cfg);
    free(rules);
    free(conninfo);
}

/* /metrics carries the backlog of each task queue: three tasks nobody
 * took on queue "jobs" (no worker runs in this test). */
TEST(serve_metrics_carry_the_task_queue_backlog)
{
    static const char rules_text[] = "version: 1\n"
                                     "routes:\n"
                                     "  - name: job\n"
                                     "    match: { type: order.created }\n"
                                     "    start: { workflow: job, id: \"job-{{ payload.n }}\" }\n"
                                     "workflows:\n"
                                     "  job:\n"
                                     "    task_queue: jobs\n"
                                     "    steps:\n"
                                     "      - task: work\n";
    char *conninfo = fixture_pg_fresh_db("rt_queues");
    char *rules = rh_write_file("rules.yaml", rules_text);
    int port = rh_free_port();
    char *cfg = write_serve_config("queues", conninfo, rules, port, NULL);
    pid_t pid = spawn_serve(cfg);
    CHECK_INT(wait_ready(port, 30000), 200);
    rh_nats n;
    rh_nats_open(&n, fixture_nats_url());
    char body[512];
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "q-%d", i);
        rh_event(body, sizeof body, id, "order.created", i);
        rh_publish(&n, "rt.queues.a", body);
    }
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.tasks", 3, 20000), 3);
    static char resp[1 << 17];
    CHECK_INT(rh_http(port, "GET", "/metrics", NULL, resp, sizeof resp), 200);
    CHECK_MSG(strstr(resp, "# TYPE switchyard_task_queue_backlog gauge\n") &&
                  strstr(resp, "switchyard_task_queue_backlog{queue=\"jobs\"} 3\n"),
              "%s", resp);
    CHECK_MSG(strstr(resp, "switchyard_task_queue_oldest_age_seconds{queue=\"jobs\"} ") != NULL,
              "%s", resp);
    stop_serve(pid);
    rh_nats_close(&n);
    unlink(cfg);
    unlink(rules);
    free(cfg);
    free(rules);
    free(conninfo);
}

/* The lines of a JSON log whose "msg" is one of msgs (NULL-terminated)
 * must name their event, trace and workflow (the fields in want, with
 * their expected values where not NULL); returns how many lines matched. */
static int check_log_ids(const char *log_text, const char *const *msgs, const char *const *fields)
{
    int seen = 0;
    const char *line = log_text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        cJSON *j = cJSON_ParseWithLength(line, len);
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(j, "msg"));
        for (int i = 0; msg && msgs[i]; i++) {
            if (strcmp(msg, msgs[i]) != 0)
                continue;
            seen++;
            for (int f = 0; fields[f]; f++) {
                const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(j, fields[f]));
                CHECK_MSG(v && *v, "no %s in: %.*s", fields[f], (int)len, line);
            }
        }
        cJSON_Delete(j);
        line += len + (end ? 1 : 0);
    }
    return seen;
}

static bool line_has(const char *log_text, const char *msg, const char *k, const char *v)
{
    char a[160], b[300];
    snprintf(a, sizeof a, "\"msg\":\"%s\"", msg);
    snprintf(b, sizeof b, "\"%s\":\"%s\"", k, v);
    for (const char *at = strstr(log_text, a); at; at = strstr(at + 1, a)) {
        const char *eol = strchr(at, '\n');
        const char *hit = strstr(at, b);
        if (hit && (!eol || hit < eol))
            return true;
    }
    return false;
}

/* Until the log at path has a line msg (with "k":"v", when k), true, or
 * timeout_ms: a line a process logs once it got there, however slow the
 * machine. */
static bool wait_log(const char *path, const char *msg, const char *k, const char *v,
                     int timeout_ms)
{
    char m[160];
    snprintf(m, sizeof m, "\"msg\":\"%s\"", msg);
    for (int waited = 0;; waited += 50) {
        char *text = slurp(path);
        bool found = k ? line_has(text, msg, k, v) : strstr(text, m) != NULL;
        free(text);
        if (found || waited >= timeout_ms)
            return found;
        rh_sleep_ms(50);
    }
}

/* A start route (order.created -> job-<n>) and a signal route
 * (order.paid, dead-lettered when job-<n> is missing); job runs one task
 * on queue logq. */
static const char job_rules[] =
    "version: 1\n"
    "routes:\n"
    "  - name: job\n"
    "    match: { type: order.created }\n"
    "    start: { workflow: job, id: \"job-{{ payload.n }}\" }\n"
    "  - name: pay\n"
    "    match: { type: order.paid }\n"
    "    signal: { id: \"job-{{ payload.n }}\", name: paid, if_missing: dead_letter }\n"
    "workflows:\n"
    "  job:\n"
    "    task_queue: logq\n"
    "    steps:\n"
    "      - task: work\n";

/* A serve <name> on a fresh database with job_rules, logging at debug
 * into <name>-serve.log (a worker's log file is <name>-worker.log). */
typedef struct logged_serve {
    char *conninfo, *rules, *serve_log, *worker_log, *cfg;
    int port;
    pid_t pid;
    rh_nats n;
} logged_serve;

static void logged_serve_start(logged_serve *ls, const char *name)
{
    char db[64], f[96];
    snprintf(db, sizeof db, "rt_%s", name);
    ls->conninfo = fixture_pg_fresh_db(db);
    ls->rules = rh_write_file("rules.yaml", job_rules);
    snprintf(f, sizeof f, "%s-serve.log", name);
    ls->serve_log = rh_write_file(f, "");
    snprintf(f, sizeof f, "%s-worker.log", name);
    ls->worker_log = rh_write_file(f, "");
    ls->port = rh_free_port();
    ls->cfg = write_serve_config(name, ls->conninfo, ls->rules, ls->port, "log: {level: debug}\n");
    ls->pid = spawn_serve_logged(ls->cfg, ls->serve_log);
    CHECK_INT(wait_ready(ls->port, 30000), 200);
    rh_nats_open(&ls->n, fixture_nats_url());
}

/* After stop_serve(ls->pid): removes the files, frees the strings. */
static void logged_serve_cleanup(logged_serve *ls)
{
    rh_nats_close(&ls->n);
    char *files[] = {ls->cfg, ls->rules, ls->serve_log, ls->worker_log};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        unlink(files[i]);
        free(files[i]);
    }
    free(ls->conninfo);
}

/* Runs switchyard worker on queue logq of serve <prefix> (its stderr into
 * ls's worker log), cmd (NULL-terminated argv) per task, until one run is
 * completed; then stops it. */
static void run_worker_until_completed(logged_serve *ls, const char *prefix, char *const *cmd)
{
    pid_t pid = fixture_fork();
    if (pid == 0) {
        int fd = open(ls->worker_log, O_WRONLY | O_TRUNC);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(126);
        char *argv[32] = {"switchyard", "worker",    "--nats", (char *)fixture_nats_url(),
                          "--prefix",   (char *)prefix, "--queue", "logq",
                          "--log-level", "info",     "--grace", "200ms", "--"};
        for (int i = 0; cmd[i] && i < 18; i++)
            argv[13 + i] = cmd[i];
        execv(fixture_switchyard_bin(), argv);
        _exit(127);
    }
    CHECK_INT(rh_wait_count(ls->conninfo,
                            "SELECT count(*) FROM switchyard.runs WHERE status = 'completed'", 1,
                            30000),
              1);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* Routing, engine and worker lines about one event carry its trace_id,
 * its workflow_id and an event_id (the routed event's; the report's
 * report:<id>; the task.created event's for the worker): a log search by
 * any of them finds every step. They carried trace_id on dead-letter
 * warnings only. */
TEST(log_lines_about_one_event_carry_its_trace_workflow_and_event_ids)
{
    logged_serve ls;
    logged_serve_start(&ls, "logids");
    char body[512];
    rh_event(body, sizeof body, "logids-1", "order.created", 1); /* trace 4bf92f35... */
    rh_publish(&ls.n, "rt.logids.a", body);
    CHECK_INT(rh_wait_count(ls.conninfo, "SELECT count(*) FROM switchyard.tasks", 1, 20000), 1);

    char *const true_cmd[] = {"/bin/true", NULL};
    run_worker_until_completed(&ls, "logids", true_cmd);

    /* a report for the closed task: ignored, and logged so */
    char task_id[128], report[512];
    PGconn *c = PQconnectdb(ls.conninfo);
    PGresult *r = PQexec(c, "SELECT task_id FROM switchyard.tasks");
    CHECK(PQntuples(r) == 1);
    snprintf(task_id, sizeof task_id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    snprintf(report, sizeof report,
             "{\"type\":\"task.completed\",\"task_id\":\"%s\",\"attempt\":1,"
             "\"workflow_id\":\"job-1\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
             "\"result\":{}}",
             task_id);
    natsMsg *m = NULL;
    CHECK_INT(natsMsg_Create(&m, "logids.report.logq", NULL, report, (int)strlen(report)), NATS_OK);
    natsMsgHeader_Set(m, "Nats-Msg-Id", "late-report-1");
    jsPubAck *pa = NULL;
    CHECK_INT(js_PublishMsg(&pa, ls.n.js, m, NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);

    /* a signal to a workflow that does not exist: the engine refuses it */
    rh_event(body, sizeof body, "logids-2", "order.paid", 99);
    rh_publish(&ls.n, "rt.logids.a", body);
    CHECK_INT(rh_wait_count(ls.conninfo, "SELECT count(*) FROM switchyard.dead_letters", 1, 20000), 1);
    wait_log(ls.serve_log, "task report ignored", "event_id", "report:late-report-1", 30000);
    stop_serve(ls.pid);

    char *text = slurp(ls.serve_log), *wtext = slurp(ls.worker_log);
    static const char *const ids[] = {"event_id", "trace_id", "workflow_id", NULL};
    static const char *const routing[] = {"event acked", "event termed", "event dead-lettered",
                                          "task report ignored", NULL};
    CHECK_MSG(check_log_ids(text, routing, ids) >= 4, "routing and engine lines:\n%s", text);
    CHECK(line_has(text, "event acked", "workflow_id", "job-1"));
    CHECK(line_has(text, "event acked", "event_id", "logids-1"));
    CHECK(line_has(text, "event dead-lettered", "workflow_id", "job-99"));
    CHECK(line_has(text, "task report ignored", "event_id", "report:late-report-1"));
    CHECK(line_has(text, "task report ignored", "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"));
    static const char *const worker_lines[] = {"task completed", NULL};
    static const char *const task_ids[] = {"task_id", "event_id", "trace_id", "workflow_id", NULL};
    CHECK_MSG(check_log_ids(wtext, worker_lines, task_ids) == 1, "worker lines:\n%s", wtext);
    CHECK(line_has(wtext, "task completed", "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"));
    free(text);
    free(wtext);
    logged_serve_cleanup(&ls);
}

/* ---- trace continuity ---------------------------------------------------------------- */

#define T_TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define T_PARENT "00f067aa0ba902b7"

/* The first JSON log line whose msg is msg and whose field k is v (owned;
 * NULL when none). */
static cJSON *log_line(const char *text, const char *msg, const char *k, const char *v)
{
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        cJSON *j = cJSON_ParseWithLength(line, len);
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(j, "msg"));
        const char *f = cJSON_GetStringValue(cJSON_GetObjectItem(j, k));
        if (m && f && strcmp(m, msg) == 0 && strcmp(f, v) == 0)
            return j;
        cJSON_Delete(j);
        line += len + (end ? 1 : 0);
    }
    return NULL;
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const char *span_of(const char *id)
{
    static char bufs[4][17];
    static int next;
    char *b = bufs[next++ % 4];
    sy_span_id(id, b);
    return b;
}

/* The outcome message of type t (switchyard.<t>) among msgs (of the event
 * ev, its payload's event_id, unless NULL), with its
 * traceparent header checked against its body: the trace is the body's
 * trace_id and the span the payload's span_id, its event_id's. */
static const cJSON *outcome_of(cJSON *msgs, const char *t, const char *ev)
{
    const cJSON *m;
    char want[96];
    snprintf(want, sizeof want, "switchyard.%s", t);
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *body = cJSON_GetObjectItem(m, "body");
        const cJSON *p = cJSON_GetObjectItem(body, "payload");
        if (strcmp(jstr(body, "type"), want) != 0 || (ev && !jstr(p, "event_id")) ||
            (ev && strcmp(jstr(p, "event_id"), ev) != 0))
            continue;
        char tp[SY_TRACEPARENT_MAX];
        sy_traceparent_format(jstr(body, "trace_id"), jstr(p, "span_id"), tp);
        CHECK_STR(jstr(m, "traceparent"), tp);
        CHECK_STR(jstr(p, "span_id"), span_of(jstr(body, "event_id")));
        return p;
    }
    CHECK_MSG(false, "no %s message", want);
    return NULL;
}

/* Every message sub receives until none came within wait_ms, into msgs as
 * {traceparent, tracestate (each "" when absent), body}. */
static void collect_outcomes(natsSubscription *sub, cJSON *msgs, int wait_ms)
{
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, sub, wait_ms) == NATS_OK) {
        cJSON *o = cJSON_CreateObject();
        const char *tp = NULL, *ts = NULL;
        natsMsgHeader_Get(m, "traceparent", &tp);
        natsMsgHeader_Get(m, "tracestate", &ts);
        cJSON_AddStringToObject(o, "traceparent", tp ? tp : "");
        cJSON_AddStringToObject(o, "tracestate", ts ? ts : "");
        cJSON_AddItemToObject(
            o, "body", cJSON_ParseWithLength(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m)));
        cJSON_AddItemToArray(msgs, o);
        natsMsg_Destroy(m);
    }
}

/* One event's trace id is on every message and log line it caused, and
 * each hop's parent span is the previous hop's span: the publisher's
 * traceparent -> the routed event -> its workflow -> task.created -> the
 * worker's run (TRACEPARENT) -> its report -> task.completed and
 * workflow.completed; a refused signal's dead letter is a child of its
 * event; a traceparent of another trace is refused. */
TEST(one_event_s_trace_runs_through_every_hop_with_each_parent_span_the_previous_hop)
{
    logged_serve ls;
    logged_serve_start(&ls, "trace");
    char *tp_file = rh_write_file("trace-env.txt", ""),
         *ts_file = rh_write_file("trace-ts.txt", "");
    natsSubscription *sub = NULL;
    CHECK_INT(natsConnection_SubscribeSync(&sub, ls.n.nc, "trace.>"), NATS_OK);

    char body[512];
    rh_event(body, sizeof body, "trace-1", "order.created", 1);
    const char *const hdrs[] = {"traceparent", "00-" T_TRACE "-" T_PARENT "-01", "tracestate",
                                "congo=t61rcWkgMzE", NULL};
    rh_publish_headers(&ls.n, "rt.trace.a", body, hdrs);
    CHECK_INT(rh_wait_count(ls.conninfo, "SELECT count(*) FROM switchyard.tasks", 1, 20000), 1);
    char sh_line[600];
    snprintf(sh_line, sizeof sh_line, "echo \"$TRACEPARENT\" > %s; echo \"$TRACESTATE\" > %s",
             tp_file, ts_file);
    char *const sh_cmd[] = {"/bin/sh", "-c", sh_line, NULL};
    run_worker_until_completed(&ls, "trace", sh_cmd);
    /* a refused signal (its dead letter is a span of its trace), and an
     * event whose traceparent names another trace */
    rh_event(body, sizeof body, "trace-2", "order.paid", 99);
    rh_publish(&ls.n, "rt.trace.a", body);
    rh_event(body, sizeof body, "trace-3", "order.created", 3);
    const char *const other[] = {"traceparent",
                                 "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL};
    rh_publish_headers(&ls.n, "rt.trace.a", body, other);
    CHECK_INT(rh_wait_count(ls.conninfo, "SELECT count(*) FROM switchyard.dead_letters", 2, 20000), 2);
    CHECK_INT(rh_count(ls.conninfo, "SELECT count(*) FROM switchyard.dead_letters WHERE code ="
                                 " 'bad_trace_id' AND event_id = 'trace-3'"),
              1);

    /* every outcome message (workflow, task, dead letter) carries the trace */
    cJSON *msgs = cJSON_CreateArray();
    collect_outcomes(sub, msgs, 1500);
    CHECK_MSG(cJSON_GetArraySize(msgs) >= 6, "%d outcome messages", cJSON_GetArraySize(msgs));
    const cJSON *it;
    cJSON_ArrayForEach(it, msgs)
    {
        const cJSON *b = cJSON_GetObjectItem(it, "body");
        CHECK_STR(jstr(b, "trace_id"), T_TRACE);
        CHECK(strstr(jstr(it, "traceparent"), T_TRACE) != NULL);
        /* the publisher's tracestate on every outcome of its workflow
         * (header and payload) and on the worker's reports (header),
         * untouched; a dead letter's notice has none */
        const cJSON *p = cJSON_GetObjectItem(b, "payload");
        const char *wid = p ? jstr(p, "workflow_id") : jstr(b, "workflow_id");
        bool of_job = wid && strcmp(wid, "job-1") == 0;
        CHECK_MSG(strcmp(jstr(it, "tracestate"), of_job ? "congo=t61rcWkgMzE" : "") == 0,
                  "%s: tracestate \"%s\"", jstr(b, "type"), jstr(it, "tracestate"));
        if (of_job && p)
            CHECK_STR(jstr(p, "tracestate"), "congo=t61rcWkgMzE");
    }
    char resp[16384], want[64];
    CHECK_INT(rh_http(ls.port, "GET", "/api/v1/workflows/job-1", NULL, resp, sizeof resp), 200);
    CHECK(strstr(resp, "\"trace_id\":\"" T_TRACE "\"") != NULL);
    snprintf(want, sizeof want, "\"parent_span_id\":\"%s\"", span_of("trace-1"));
    CHECK_MSG(strstr(resp, want) != NULL, "%s", resp);
    stop_serve(ls.pid);
    char *text = slurp(ls.serve_log), *wtext = slurp(ls.worker_log);

    /* hop 1, the event: its span is its event_id's, its parent the publisher's */
    const char *ev_span = span_of("trace-1");
    cJSON *l = log_line(text, "event acked", "event_id", "trace-1");
    CHECK_MSG(l, "no event acked line:\n%s", text);
    CHECK_STR(jstr(l, "trace_id"), T_TRACE);
    CHECK_STR(jstr(l, "span_id"), ev_span);
    CHECK_STR(jstr(l, "parent_span_id"), T_PARENT);
    cJSON_Delete(l);

    /* hop 2, the workflow: describe (CLI) and the API show it */
    char out[8192], cmd[1024];
    snprintf(cmd, sizeof cmd, "%s workflow describe job-1 -o json --db '%s'",
             fixture_switchyard_bin(), ls.conninfo);
    CHECK_INT(fixture_run(cmd, out, sizeof out), 0);
    cJSON *d = cJSON_Parse(out);
    CHECK_STR(jstr(d, "trace_id"), T_TRACE);
    CHECK_STR(jstr(d, "span_id"), span_of(jstr(d, "run_id")));
    CHECK_STR(jstr(d, "parent_span_id"), ev_span);
    char wf_span[17];
    snprintf(wf_span, sizeof wf_span, "%s", jstr(d, "span_id"));
    cJSON_Delete(d);

    /* hop 3, task.created (and workflow.started): children of the workflow */
    CHECK_STR(jstr(outcome_of(msgs, "workflow.started", NULL), "parent_span_id"), wf_span);
    const cJSON *created = outcome_of(msgs, "task.created", NULL);
    CHECK_STR(jstr(created, "parent_span_id"), wf_span);
    const char *created_span = jstr(created, "span_id");

    /* hop 4, the worker's run: a child of task.created; CMD's TRACEPARENT
     * names the run's span */
    l = log_line(wtext, "task completed", "trace_id", T_TRACE);
    CHECK_MSG(l, "no task completed line:\n%s", wtext);
    CHECK_STR(jstr(l, "parent_span_id"), created_span);
    char run_span[17], want_tp[SY_TRACEPARENT_MAX + 1];
    snprintf(run_span, sizeof run_span, "%s", jstr(l, "span_id"));
    cJSON_Delete(l);
    sy_traceparent_format(T_TRACE, run_span, want_tp);
    strcat(want_tp, "\n");
    char *env_tp = fixture_read_file(tp_file);
    CHECK_STR(env_tp, want_tp);
    free(env_tp);
    char *env_ts = fixture_read_file(ts_file); /* and TRACESTATE task.created's tracestate */
    CHECK_STR(env_ts, "congo=t61rcWkgMzE\n");
    free(env_ts);

    /* hop 5, the report: a child of the worker's run */
    l = log_line(text, "task report applied", "kind", "task.completed");
    CHECK_MSG(l, "no task report applied line:\n%s", text);
    CHECK_STR(jstr(l, "trace_id"), T_TRACE);
    CHECK_STR(jstr(l, "parent_span_id"), run_span);
    CHECK_STR(jstr(l, "span_id"), span_of(jstr(l, "event_id")));
    char report_span[17];
    snprintf(report_span, sizeof report_span, "%s", jstr(l, "span_id"));
    cJSON_Delete(l);

    /* hop 6, what the report caused */
    CHECK_STR(jstr(outcome_of(msgs, "task.completed", NULL), "parent_span_id"), report_span);
    CHECK_STR(jstr(outcome_of(msgs, "workflow.completed", NULL), "parent_span_id"), report_span);

    /* the dead letter: its notice is a child of its event's span */
    CHECK_STR(jstr(outcome_of(msgs, "deadletter.created", "trace-2"), "parent_span_id"),
              span_of("trace-2"));
    l = log_line(text, "event dead-lettered", "event_id", "trace-3");
    CHECK_MSG(l, "no dead-letter line for trace-3:\n%s", text);
    CHECK_STR(jstr(l, "code"), "bad_trace_id");
    CHECK(strstr(jstr(l, "reason"), "0af7651916cd43dd8448eb211c80319c") != NULL);
    cJSON_Delete(l);

    /* every serve line about the workflow carries the trace and a span */
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        cJSON *j = cJSON_ParseWithLength(line, len);
        const char *wid = jstr(j, "workflow_id");
        if (wid && strcmp(wid, "job-1") == 0) {
            CHECK_MSG(jstr(j, "trace_id") && strcmp(jstr(j, "trace_id"), T_TRACE) == 0,
                      "no trace: %.*s", (int)len, line);
            CHECK_MSG(jstr(j, "span_id"), "no span: %.*s", (int)len, line);
        }
        cJSON_Delete(j);
        line += len + (end ? 1 : 0);
    }
    cJSON_Delete(msgs);
    natsSubscription_Destroy(sub);
    free(text);
    free(wtext);
    logged_serve_cleanup(&ls);
    unlink(tp_file);
    free(tp_file);
    unlink(ts_file);
    free(ts_file);
}

/* A structured-mode CloudEvent's trace context counts as a NATS header's
 * would: its traceparent attribute's parent id is the event's parent span
 * and its tracestate attribute is carried on; with a traceparent header as
 * well, the headers' pair wins (the hop that published the message); a
 * malformed tracestate attribute is bad_trace_id at "tracestate". They
 * were dropped: the parent unknown, the tracestate lost. */
TEST(a_cloudevent_s_trace_context_attributes_give_the_parent_span_and_the_tracestate)
{
    logged_serve ls;
    logged_serve_start(&ls, "cetrace");
    natsSubscription *sub = NULL;
    CHECK_INT(natsConnection_SubscribeSync(&sub, ls.n.nc, "cetrace.>"), NATS_OK);
    static const char ce[] =
        "{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"order.created\",\"source\":\"test\","
        "\"traceparent\":\"00-" T_TRACE "-" T_PARENT "-01\",\"tracestate\":\"%s\","
        "\"data\":{\"n\":%d}}";
    const char *const ct[] = {"Content-Type", "application/cloudevents+json", NULL};
    const char *const both[] = {"Content-Type",
                                "application/cloudevents+json",
                                "traceparent",
                                "00-" T_TRACE "-b7ad6b7169203331-01",
                                "tracestate",
                                "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                                NULL};
    char body[512];
    snprintf(body, sizeof body, ce, "ce-1", "vendor@sys=a b,other=x", 1);
    rh_publish_headers(&ls.n, "rt.cetrace.a", body, ct);
    snprintf(body, sizeof body, ce, "ce-2", "vendor@sys=a b", 2);
    rh_publish_headers(&ls.n, "rt.cetrace.a", body, both);
    snprintf(body, sizeof body, ce, "ce-3", "bad\\u0001state", 3);
    rh_publish_headers(&ls.n, "rt.cetrace.a", body, ct);
    CHECK_INT(rh_wait_count(ls.conninfo, "SELECT count(*) FROM switchyard.tasks", 2, 20000), 2);
    CHECK_INT(rh_wait_count(ls.conninfo,
                            "SELECT count(*) FROM switchyard.dead_letters WHERE event_id = 'ce-3'"
                            " AND code = 'bad_trace_id'",
                            1, 20000),
              1);
    cJSON *msgs = cJSON_CreateArray();
    collect_outcomes(sub, msgs, 1500);
    stop_serve(ls.pid);
    char *text = slurp(ls.serve_log);

    cJSON *l = log_line(text, "event acked", "event_id", "ce-1");
    CHECK_MSG(l, "no event acked line for ce-1:\n%s", text);
    CHECK_STR(jstr(l, "parent_span_id"), T_PARENT); /* the attribute's */
    cJSON_Delete(l);
    l = log_line(text, "event acked", "event_id", "ce-2");
    CHECK_MSG(l, "no event acked line for ce-2:\n%s", text);
    CHECK_STR(jstr(l, "parent_span_id"), "b7ad6b7169203331"); /* the header's */
    cJSON_Delete(l);
    l = log_line(text, "event dead-lettered", "event_id", "ce-3");
    CHECK_MSG(l, "no dead-letter line for ce-3:\n%s", text);
    CHECK_STR(jstr(l, "code"), "bad_trace_id");
    CHECK_MSG(strstr(jstr(l, "reason"), "tracestate") != NULL, "%s", jstr(l, "reason"));
    cJSON_Delete(l);

    int seen[3] = {0};
    const cJSON *it;
    cJSON_ArrayForEach(it, msgs)
    {
        const cJSON *p = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "body"), "payload");
        const char *wid = jstr(p, "workflow_id");
        if (!wid || strncmp(wid, "job-", 4) != 0)
            continue;
        const char *want = strcmp(wid, "job-1") == 0 ? "vendor@sys=a b,other=x"
                                                     : "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
        CHECK_STR(jstr(it, "tracestate"), want);
        CHECK_STR(jstr(p, "tracestate"), want);
        seen[wid[4] - '0']++;
    }
    CHECK_MSG(seen[1] >= 2 && seen[2] >= 2, "outcomes of job-1 %d, job-2 %d", seen[1], seen[2]);
    cJSON_Delete(msgs);
    natsSubscription_Destroy(sub);
    free(text);
    logged_serve_cleanup(&ls);
}
