/* cli_dlq.c: `switchyard dlq list|show|replay [--id ID|--code C|--since T]
 * [--all] [--db CONNINFO] [--nats URL] [-o json]`; list pages with
 * [--limit N] [--page TOKEN] and prints the one list shape of list.h.
 *
 * Reads dead letters through the engine (engine_dead_letters_list /
 * engine_dead_letter_get) and replays them: the original bytes and headers
 * are re-published to the original subject (without the original
 * Nats-Msg-Id, which JetStream would drop as a duplicate, and with
 * Sy-Replay-Of: <id> and Sy-Replay-Route: <route>), marked replayed in the
 * transaction that awaits the PubAck (router_dlq_replay, dlq.h). The router
 * runs only the dead letter's route, keyed by event and route, so
 * replaying one dead letter twice takes effect once. */
#include "buf.h"
#include "cli.h"
#include "cliopt.h"
#include "dlq.h"
#include "engine.h"
#include "json.h"
#include "list.h"
#include "publish.h"
#include "timefmt.h"
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dlq_args {
    const char *verb, *code, *db, *nats, *since, *page;
    int64_t id, since_ms, limit, after_id; /* after_id: from --page */
    int verb_ix;
    bool all, json;
} dlq_args;

static const char *const VERBS[] = {"list", "show", "replay", NULL};

static const cliopt_opt DLQ_OPTS[] = {
    {.name = "VERB", .kind = CLIOPT_CHOICE, CLIOPT_FIELD(dlq_args, verb_ix), .choices = VERBS},
    {.name = "--id",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(dlq_args, id),
     .min = 1,
     .max = INT64_MAX,
     .arg = "ID",
     .help = "that dead letter (show needs it)"},
    {.name = "--code",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(dlq_args, code),
     .arg = "C",
     .help = "only dead letters with this code"},
    {.name = "--since",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(dlq_args, since),
     .arg = "T",
     .help = "only those since T (RFC 3339, or a duration ago: 1h)"},
    {.name = "--limit",
     .kind = CLIOPT_INT,
     CLIOPT_FIELD(dlq_args, limit),
     .min = 1,
     .max = 1000,
     .arg = "N",
     .help = "list: at most N a page (default 100)"},
    {.name = "--page",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(dlq_args, page),
     .arg = "TOKEN",
     .help = "list: the page after this next_page_token"},
    {.name = "--all",
     .kind = CLIOPT_FLAG,
     CLIOPT_FIELD(dlq_args, all),
     .help = "list: also the replayed ones"},
    {.name = "--db",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(dlq_args, db),
     .arg = "CONNINFO",
     .help = "Postgres (default $SWITCHYARD_DB)"},
    {.name = "--nats",
     .kind = CLIOPT_STRING,
     CLIOPT_FIELD(dlq_args, nats),
     .arg = "URL",
     .help = "replay: NATS (default $SWITCHYARD_NATS_URL)"},
    {.name = "-o",
     .kind = CLIOPT_CHOICE,
     CLIOPT_FIELD(dlq_args, json),
     .choices = cliopt_output_formats,
     .help = "output format"},
};

static const cliopt_cmd DLQ_CMD = {
    .name = "dlq",
    .synopsis = "switchyard dlq list|show|replay [--id ID] [--code C] [--since T]\n"
                "                  [--all] [--db CONNINFO] [--nats URL] [-o json]\n"
                "  list: [--limit N] [--page TOKEN], oldest first\n"
                "  --since takes an RFC 3339 time or a duration ago (e.g. 1h)",
    CLIOPT_TABLE(DLQ_OPTS),
    .required = 1,
};

/* Pure: argv in, *out (the caller's defaults) written only on success. */
static sy_status parse_args(int argc, char **argv, dlq_args *out, bool *help, sy_error *err)
{
    dlq_args a = *out;
    sy_status st = cliopt_parse(&DLQ_CMD, argc, argv, &a, help, err);
    if (st != SY_OK || *help)
        return st;
    a.verb = VERBS[a.verb_ix];
    if (strcmp(a.verb, "show") == 0 && !a.id) /* before connecting anywhere */
        return sy_error_set(err, SY_USAGE, "missing_argument", "--id", "show needs --id");
    if (a.since)
        st = cliopt_check_time("--since", a.since, err);
    if (st == SY_OK && a.page) /* the token is the last id shown */
        st = cli_list_number_token(a.page, "dlq list", &a.after_id, err);
    if (st == SY_OK)
        *out = a;
    return st;
}

sy_status cli_dlq_parse(int argc, char **argv, bool *help, sy_error *err)
{
    dlq_args a = {.limit = 100};
    return parse_args(argc, argv, &a, help, err);
}

static void row_text(const engine_dead_letter_row *r)
{
    char ts[SY_TIME_RFC3339_MAX];
    printf("%-8lld %-24s %-20s %-10llu %s  %s%s\n", (long long)r->id,
           r->event_id ? r->event_id : "-", r->code ? r->code : "",
           (unsigned long long)r->stream_seq, sy_time_format_rfc3339(r->created_at_ms, ts),
           r->message ? r->message : "", r->replayed_at_ms ? " (replayed)" : "");
}

/* Calls fn on every dead letter matching the filters, page by page. */
static sy_status each_row(engine_session *s, const dlq_args *a,
                          sy_status (*fn)(const engine_dead_letter_row *, void *), void *arg,
                          sy_error *err)
{
    engine_dlq_filter f = {.code = a->code, .limit = 200, .include_replayed = a->all};
    for (;;) {
        engine_dead_letter_list l = {0};
        sy_status st = engine_dead_letters_list(s, &f, &l, err);
        for (size_t i = 0; st == SY_OK && i < l.len; i++) {
            f.after_id = l.items[i].id;
            if (l.items[i].created_at_ms >= a->since_ms)
                st = fn(&l.items[i], arg);
        }
        size_t n = l.len;
        engine_dead_letter_list_cleanup(&l);
        if (st != SY_OK || n < f.limit)
            return st;
    }
}

/* One page, oldest first: one row more than the page is asked for says
 * whether another follows; its token is the last id shown. */
static sy_status list_page(engine_session *s, const dlq_args *a, sy_error *err)
{
    engine_dlq_filter f = {.code = a->code,
                           .after_id = a->after_id,
                           .limit = (size_t)a->limit + 1,
                           .include_replayed = a->all,
                           .since_ms = a->since_ms};
    engine_dead_letter_list l = {0};
    sy_status st = engine_dead_letters_list(s, &f, &l, err);
    size_t n = l.len > (size_t)a->limit ? (size_t)a->limit : l.len;
    char next[24] = "";
    if (st == SY_OK && l.len > n)
        snprintf(next, sizeof next, "%lld", (long long)l.items[n - 1].id);
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; st == SY_OK && i < n; i++) {
        if (!a->json) {
            row_text(&l.items[i]);
            continue;
        }
        sy_buf b = SY_BUF_INIT;
        router_dlq_row_json(&l.items[i], false, &b);
        cJSON_AddItemToArray(items, cJSON_Parse(sy_buf_str(&b)));
        sy_buf_cleanup(&b);
    }
    if (st == SY_OK && a->json)
        cli_list_print_json("dead_letters", items, *next ? next : NULL);
    else
        cJSON_Delete(items);
    if (st == SY_OK && !a->json)
        cli_list_print_next(*next ? next : NULL);
    engine_dead_letter_list_cleanup(&l);
    return st;
}

typedef struct replay_ctx {
    engine_session *s;
    router_publisher *pub;
    size_t n;
    sy_error *err;
} replay_ctx;

/* Re-publishes one dead letter, then marks it replayed. */
static sy_status replay_row(const engine_dead_letter_row *r, void *arg)
{
    replay_ctx *c = arg;
    uint64_t seq = 0;
    sy_status st = router_dlq_replay(c->s, c->pub, r, &seq, c->err);
    if (st == SY_OK) {
        printf("{\"id\":%lld,\"replayed\":true,\"subject\":", (long long)r->id);
        sy_buf b = SY_BUF_INIT;
        sy_json_append_string(&b, r->subject);
        printf("%s,\"stream_seq\":%llu}\n", sy_buf_str(&b), (unsigned long long)seq);
        sy_buf_cleanup(&b);
        c->n++;
    }
    return st;
}

static sy_status show_one(engine_session *s, int64_t id, sy_error *err)
{
    engine_dead_letter_row r = {0};
    sy_status st = engine_dead_letter_get(s, id, &r, err);
    if (st == SY_OK) {
        sy_buf b = SY_BUF_INIT;
        router_dlq_row_json(&r, true, &b);
        fputs(sy_buf_str(&b), stdout);
        sy_buf_cleanup(&b);
    }
    engine_dead_letter_row_cleanup(&r);
    return st;
}

static sy_status replay(engine_session *s, const dlq_args *a, sy_error *err)
{
    if (!a->id && !a->code && !a->since_ms)
        return sy_error_set(err, SY_USAGE, NULL, NULL,
                            "replay needs --id, --code or --since (refusing to replay everything)");
    replay_ctx c = {.s = s, .err = err};
    sy_status st = router_publisher_new(router_cli_nats_url(a->nats), &c.pub, err);
    if (st == SY_OK && a->id) {
        engine_dead_letter_row r = {0};
        st = engine_dead_letter_get(s, a->id, &r, err);
        if (st == SY_OK)
            st = replay_row(&r, &c);
        engine_dead_letter_row_cleanup(&r);
    } else if (st == SY_OK) {
        st = each_row(s, a, replay_row, &c, err);
    }
    router_publisher_free(c.pub);
    fprintf(stderr, "replayed %zu dead letter(s)\n", c.n);
    return st;
}

int cli_dlq(int argc, char **argv)
{
    dlq_args a = {.limit = 100};
    bool help = false;
    sy_error perr;
    sy_status pst = parse_args(argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&DLQ_CMD, pst, &perr);
    if (!cliopt_db("dlq", &a.db))
        return SY_EXIT_USAGE;
    if (a.since)
        a.since_ms = cliopt_time(a.since, sy_clock_now_ms(NULL));
    engine *eng = NULL;
    engine_session *s = NULL;
    sy_error err = {0};
    sy_status st = engine_new(NULL, NULL, &eng, &err);
    if (st == SY_OK)
        st = engine_session_open(eng, a.db, false, &s, &err);
    if (st == SY_OK && strcmp(a.verb, "list") == 0) {
        st = list_page(s, &a, &err);
    } else if (st == SY_OK && strcmp(a.verb, "show") == 0) {
        st = show_one(s, a.id, &err); /* parse_args made sure of --id */
    } else if (st == SY_OK) {
        st = replay(s, &a, &err);
    }
    if (st != SY_OK && err.message[0])
        cliopt_fail("dlq", err.status, &err);
    engine_session_close(s);
    engine_free(eng);
    return st == SY_OK ? SY_EXIT_OK : sy_status_exit_code(st);
}
