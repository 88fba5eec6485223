/* engine_js_fetch (engine/jsfetch.h) against a real nats-server: with
 * deliveries of an earlier pull request still arriving, nats.c 3.4.1's own
 * Fetch returns more messages than the batch it allocated (a heap overflow).
 * Ours never returns more than the batch, loses nothing and doubles nothing;
 * and it is a long poll (what the service's 1 s fetch_wait relies on): a
 * lone message returns at once, an idle fetch sends one pull request per
 * timeout. */
#include "fixture.h"
#include "jsfetch.h"
#include "test.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>

#define NMSG 1500 /* more than the rounds below request */
#define MSG_SIZE 512
#define BATCH 512

TEST(fetch_never_exceeds_its_batch_with_late_deliveries_queued)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    fixture_js_stream("JSFETCH", "jsfetch.>", &nc, &js);
    jsErrCode jerr = 0;
    char *body = calloc(1, MSG_SIZE);
    for (int i = 0; i < NMSG; i++)
        CHECK_INT(js_PublishAsync(js, "jsfetch.x", body, MSG_SIZE, NULL), NATS_OK);
    CHECK_INT(js_PublishAsyncComplete(js, NULL), NATS_OK);
    free(body);

    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = "JSFETCH";
    CHECK_INT(js_PullSubscribe(&sub, js, "jsfetch.>", "jsfetch", NULL, &so, &jerr), NATS_OK);

    bool *seen = calloc(NMSG + 1, sizeof *seen);
    int total = 0;
    /* Late deliveries, made on purpose: pull requests sent straight to the
     * subscription's inbox, as an earlier timed-out Fetch leaves behind.
     * First QUEUED messages sit in the queue (more than half a batch), then
     * another request's deliveries stream in while the fetch runs. */
    const char *inbox = natsSubscription_GetSubject(sub);
    CHECK(inbox != NULL);
    const char *next = "$JS.API.CONSUMER.MSG.NEXT.JSFETCH.jsfetch";
    for (int rounds = 0; total < NMSG && rounds < 400; rounds++) {
        if (rounds < 4) {
            CHECK_INT(natsConnection_PublishRequestString(nc, next, inbox, "{\"batch\":300}"),
                      NATS_OK);
            for (int w = 0; w < 500; w++) {
                int q = 0, b = 0;
                natsSubscription_GetPending(sub, &q, &b);
                if (q >= 300)
                    break;
                nats_Sleep(2);
            }
            CHECK_INT(natsConnection_PublishRequestString(nc, next, inbox, "{\"batch\":60}"),
                      NATS_OK);
        }
        natsMsgList list = {0};
        natsStatus s = engine_js_fetch(&list, sub, BATCH, 300, &jerr);
        CHECK(s == NATS_OK || s == NATS_TIMEOUT);
        CHECK_MSG(list.Count <= BATCH, "fetch returned %d messages for a batch of %d", list.Count,
                  BATCH);
        for (int i = 0; i < list.Count; i++) {
            jsMsgMetaData *md = NULL;
            CHECK_INT(natsMsg_GetMetaData(&md, list.Msgs[i]), NATS_OK);
            uint64_t seq = md->Sequence.Stream;
            CHECK(seq >= 1 && seq <= NMSG);
            CHECK_MSG(!seen[seq], "stream sequence %llu delivered twice", (unsigned long long)seq);
            seen[seq] = true;
            total++;
            jsMsgMetaData_Destroy(md);
            natsMsg_Ack(list.Msgs[i], NULL);
        }
        natsMsgList_Destroy(&list);
    }
    CHECK_INT(total, NMSG);
    free(seen);
    natsSubscription_Destroy(sub);
    js_DeleteStream(js, "JSFETCH", NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* Publishes one message on 'subject' after 'delay_ms' (a thread of its own:
 * the test's thread is blocked in the fetch meanwhile). */
typedef struct late_pub {
    jsCtx *js;
    const char *subject;
    int delay_ms;
} late_pub;

static void *publish_late(void *arg)
{
    late_pub *lp = arg;
    nats_Sleep(lp->delay_ms);
    js_Publish(NULL, lp->js, lp->subject, "x", 1, NULL, NULL);
    return NULL;
}

static natsSubscription *pull_sub(jsCtx *js, const char *stream, const char *subject,
                                  const char *durable)
{
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    jsErrCode jerr = 0;
    CHECK_INT(js_PullSubscribe(&sub, js, subject, durable, NULL, &so, &jerr), NATS_OK);
    return sub;
}

/* A long poll returns the first message when it arrives: a lone event on
 * an idle consumer does not wait for a full batch or for the expiry. */
TEST(fetch_returns_a_lone_message_as_soon_as_it_arrives)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    fixture_js_stream("JSLONE", "jslone.>", &nc, &js);
    natsSubscription *sub = pull_sub(js, "JSLONE", "jslone.>", "jslone");
    late_pub lp = {js, "jslone.x", 200};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, publish_late, &lp) == 0);
    int64_t t0 = nats_Now();
    natsMsgList list = {0};
    natsStatus s = engine_js_fetch(&list, sub, 256, 3000, NULL);
    int64_t took = nats_Now() - t0;
    pthread_join(t, NULL);
    CHECK_INT(s, NATS_OK);
    CHECK_INT(list.Count, 1);
    CHECK_MSG(took >= 150 && took < 1000, "the fetch took %lld ms for a message sent at 200 ms",
              (long long)took);
    natsMsg_Ack(list.Msgs[0], NULL);
    natsMsgList_Destroy(&list);
    natsSubscription_Destroy(sub);
    js_DeleteStream(js, "JSLONE", NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* Counts the pull requests the server gets for JSIDLE's consumer. */
static void count_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    atomic_fetch_add((atomic_int *)closure, 1);
    natsMsg_Destroy(m);
}

/* An idle consumer sends one pull request per timeout, not two per round
 * (natsSubscription_Fetch's no_wait probe, then a waiting request). */
TEST(an_idle_fetch_sends_one_pull_request_per_timeout)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    fixture_js_stream("JSIDLE", "jsidle.>", &nc, &js);
    natsSubscription *sub = pull_sub(js, "JSIDLE", "jsidle.>", "jsidle");
    atomic_int pulls = 0;
    natsSubscription *spy = NULL;
    CHECK_INT(natsConnection_Subscribe(&spy, nc, "$JS.API.CONSUMER.MSG.NEXT.JSIDLE.jsidle",
                                       count_msg, &pulls),
              NATS_OK);
    CHECK_INT(natsConnection_Flush(nc), NATS_OK);
    int64_t t0 = nats_Now();
    for (int i = 0; i < 5; i++) {
        natsMsgList list = {0};
        CHECK_INT(engine_js_fetch(&list, sub, 256, 200, NULL), NATS_TIMEOUT);
        natsMsgList_Destroy(&list);
    }
    int64_t took = nats_Now() - t0;
    nats_Sleep(100); /* the spy's last deliveries */
    /* Not 1000: nats.c asks the server to expire a pull a little before the
     * client's timeout, and on a loaded box one pull's late timeout status
     * can end the next fetch early (776 ms seen under load). A busy loop,
     * which is what this guards against, takes a few ms. */
    CHECK_MSG(took >= 500, "5 idle fetches of 200 ms took %lld ms", (long long)took);
    CHECK_MSG(atomic_load(&pulls) == 5, "%d pull requests for 5 idle fetches", atomic_load(&pulls));
    natsSubscription_Destroy(spy);
    natsSubscription_Destroy(sub);
    js_DeleteStream(js, "JSIDLE", NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}
