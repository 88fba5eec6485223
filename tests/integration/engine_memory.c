/* engine_memory.c: what a session keeps after oversized input, against a
 * real Postgres. libpq's output buffer grows to the largest statement and
 * never shrinks, and a write set keeps its buffers for the next batch: a
 * batch of megabyte dead letters used to leave both at its size for the
 * session's life (RSS 84 MiB and more after a burst of bad input, 20-38 MiB
 * otherwise). Now the session is back under ENGINE__KEEP_MIN after the
 * oversized batch (or once idle after a run of large ones), still works and
 * still hears its NOTIFYs. */
#include "engine_support.h"

#define BODY (1u << 20)

/* Applies b (taken) in one transaction of the fixture's session. */
static void commit_batch(engine_fx *fx, engine_batch *b)
{
    sy_error err = {0};
    CHECK_INT(engine_begin(fx->s, &err), SY_OK);
    CHECK_MSG(engine_batch_apply(fx->s, b, &err) == SY_OK, "apply: %s", err.message);
    CHECK_MSG(engine_commit(fx->s, &err) == SY_OK, "commit: %s", err.message);
    engine_batch_free(b);
}

/* One transaction of n dead letters of BODY bytes each. */
static void dead_letter_batch(engine_fx *fx, int n, int tag)
{
    char *body = malloc(BODY);
    memset(body, 'x', BODY);
    engine_batch *b = engine_batch_new();
    for (int i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "mem-%d-%d", tag, i);
        size_t ev = engine_batch_event(b, key);
        engine_dead_letter dl = {.event_id = key,
                                 .code = "input_too_large",
                                 .message = "too large",
                                 .subject = "t.mem",
                                 .body = body,
                                 .body_len = BODY,
                                 .stream_seq = (uint64_t)(tag * 100 + i + 1)};
        engine_batch_dead_letter(b, ev, &dl);
    }
    commit_batch(fx, b);
    free(body);
}

static void start_one(engine_fx *fx, const char *id)
{
    engine_result res;
    CHECK_INT(
        engine_fx_start(fx, "one", id, RULES_IF_RUNNING_USE_EXISTING, RULES_IF_CLOSED_ALLOW, &res),
        SY_OK);
    CHECK(res.started);
}

TEST(a_batch_of_oversized_dead_letters_gives_its_buffers_back)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_mem_burst");
    start_one(&fx, "w-before");
    size_t steady = engine_session_retained_bytes(fx.s);
    CHECK_MSG(steady < ENGINE__KEEP_MIN, "a one-start session keeps %zu bytes", steady);
    dead_letter_batch(&fx, 16, 1); /* 16 MiB of bodies, 32 MiB hex in one statement */
    size_t after = engine_session_retained_bytes(fx.s);
    CHECK_MSG(after < ENGINE__KEEP_MIN, "after 16 MiB of dead letters the session keeps %zu bytes",
              after);
    start_one(&fx, "w-after"); /* the new connection works, statements prepared again */
    CHECK_INT(engine_fx_int(&fx, "SELECT count(*) FROM dead_letters", NULL, NULL), 16);
    CHECK_MSG(engine_session_retained_bytes(fx.s) < ENGINE__KEEP_MIN, "%zu bytes",
              engine_session_retained_bytes(fx.s));
    engine_fx_close(&fx);
}

/* One transaction of n starts of "one" (ids <tag>-<i>). */
static void start_batch(engine_fx *fx, int n, int tag)
{
    engine_batch *b = engine_batch_new();
    for (int i = 0; i < n; i++) {
        char key[64], id[64];
        snprintf(key, sizeof key, "mem-start-%d-%d", tag, i);
        snprintf(id, sizeof id, "w-%d-%d", tag, i);
        size_t ev = engine_batch_event(b, key);
        engine_start_req req = {.workflow_type = "one",
                                .workflow_id = id,
                                .if_running = RULES_IF_RUNNING_USE_EXISTING,
                                .if_closed = RULES_IF_CLOSED_ALLOW,
                                .event_id = key};
        engine_batch_start(b, ev, &req);
    }
    commit_batch(fx, b);
}

/* A write set holds several copies of its batch (4-6 times its
 * statement): measured against the statements' bound, every ordinary
 * batch of a few hundred starts was freed and malloc_trim'med after its
 * transaction, and the next one grew and faulted its pages in again. */
TEST(ordinary_batches_keep_their_write_set_for_the_next)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_mem_steady");
    size_t cap = 0;
    for (int i = 0; i < 8; i++) {
        start_batch(&fx, 1000, i);
        if (i >= 3) { /* past the warm-up of the average */
            CHECK_MSG(fx.s->ws_spare != NULL, "batch %d: its write set was freed", i);
            cap = engine__ws_capacity(fx.s->ws_spare);
        }
    }
    CHECK_MSG(cap > ENGINE__KEEP_MIN,
              "a batch of 1000 starts holds %zu bytes only: the test "
              "needs write sets above ENGINE__KEEP_MIN",
              cap);
    engine_session_idle(fx.s); /* idle: given back all the same */
    CHECK_MSG(engine_session_retained_bytes(fx.s) < ENGINE__KEEP_MIN, "idle, %zu bytes",
              engine_session_retained_bytes(fx.s));
    engine_fx_close(&fx);
}

TEST(an_idle_session_gives_back_what_a_run_of_large_batches_kept)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_mem_run");
    for (int i = 0; i < 12; i++) /* 2 MiB hex a statement: the usual size by the end */
        dead_letter_batch(&fx, 1, i);
    size_t busy = engine_session_retained_bytes(fx.s);
    CHECK_MSG(busy > ENGINE__KEEP_MIN, "a session writing 2 MiB statements keeps %zu bytes", busy);
    engine_session_idle(fx.s);
    size_t idle = engine_session_retained_bytes(fx.s);
    CHECK_MSG(idle < ENGINE__KEEP_MIN, "idle, the session keeps %zu bytes", idle);
    start_one(&fx, "w-idle");
    engine_fx_close(&fx);
}

TEST(a_listening_session_hears_notifies_after_its_reconnect)
{
    engine_fx fx;
    engine_fx_open(&fx, "eng_mem_listen");
    sy_error err = {0};
    CHECK_INT(engine_listen_for(fx.s, ENGINE_NOTIFY_TIMERS, &err), SY_OK);
    PGconn *before = engine__conn(fx.s);
    dead_letter_batch(&fx, 8, 1);
    CHECK_MSG(engine__conn(fx.s) != before, "the oversized batch's connection was replaced");
    PGconn *other = PQconnectdb(fx.conninfo);
    CHECK(PQstatus(other) == CONNECTION_OK);
    engine_exec_ok(other, "NOTIFY switchyard_timers");
    PQfinish(other);
    bool notified = false;
    CHECK_INT(engine_wait_notify(fx.s, 5000, &notified, &err), SY_OK);
    CHECK_MSG(notified, "no NOTIFY after the reconnect");
    engine_fx_close(&fx);
}
