/* `switchyard serve` as an operator runs it, against the real servers: a
 * fresh database is migrated before any loop touches it; an idle serve
 * sends one pull request a second per consumer, and a lone event is still
 * routed at once. */
#include "router_helpers.h"

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

/* Routing, engine and worker lines about one event carry its trace_id,
 * its workflow_id and an event_id (the routed event's; the report's
 * report:<id>; the task.created event's for the worker): a log search by
 * any of them finds every step. They carried trace_id on dead-letter
 * warnings only. */
TEST(log_lines_about_one_event_carry_its_trace_workflow_and_event_ids)
{
    static const char rules_text[] =
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
    char *conninfo = fixture_pg_fresh_db("rt_logids");
    char *rules = rh_write_file("rules.yaml", rules_text);
    char *serve_log = rh_write_file("logids-serve.log", "");
    char *worker_log = rh_write_file("logids-worker.log", "");
    int port = rh_free_port();
    char *cfg = write_serve_config("logids", conninfo, rules, port, "log: {level: debug}\n");
    pid_t pid = spawn_serve_logged(cfg, serve_log);
    CHECK_INT(wait_ready(port, 30000), 200);
    rh_nats n;
    rh_nats_open(&n, fixture_nats_url());
    char body[512];
    rh_event(body, sizeof body, "logids-1", "order.created", 1); /* trace 4bf92f35... */
    rh_publish(&n, "rt.logids.a", body);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.tasks", 1, 20000), 1);

    pid_t worker = fixture_fork();
    if (worker == 0) {
        int fd = open(worker_log, O_WRONLY | O_TRUNC);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execl(fixture_switchyard_bin(), "switchyard", "worker", "--nats", fixture_nats_url(),
              "--prefix", "logids", "--queue", "logq", "--log-level", "info", "--grace", "200ms",
              "--", "/bin/true", (char *)NULL);
        _exit(127);
    }
    CHECK_INT(rh_wait_count(conninfo,
                            "SELECT count(*) FROM switchyard.runs WHERE status = 'completed'", 1,
                            30000),
              1);
    kill(worker, SIGTERM);
    waitpid(worker, NULL, 0);

    /* a report for the closed task: ignored, and logged so */
    char task_id[128], report[512];
    PGconn *c = PQconnectdb(conninfo);
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
    CHECK_INT(js_PublishMsg(&pa, n.js, m, NULL, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);

    /* a signal to a workflow that does not exist: the engine refuses it */
    rh_event(body, sizeof body, "logids-2", "order.paid", 99);
    rh_publish(&n, "rt.logids.a", body);
    CHECK_INT(rh_wait_count(conninfo, "SELECT count(*) FROM switchyard.dead_letters", 1, 20000), 1);
    rh_sleep_ms(1500); /* the late report's round */
    stop_serve(pid);

    char *text = slurp(serve_log), *wtext = slurp(worker_log);
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
    rh_nats_close(&n);
    unlink(cfg);
    unlink(rules);
    unlink(serve_log);
    unlink(worker_log);
    free(cfg);
    free(rules);
    free(serve_log);
    free(worker_log);
    free(conninfo);
}
