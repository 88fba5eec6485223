/* engine_js_fetch (engine/jsfetch.h) against a real nats-server: with
 * deliveries of an earlier pull request still arriving, nats.c 3.4.1's own
 * Fetch returns more messages than the batch it allocated (a heap overflow).
 * Ours never returns more than the batch, loses nothing and doubles nothing. */
#include "fixture.h"
#include "jsfetch.h"
#include "test.h"

#include <nats/nats.h>

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
        CHECK_MSG(list.Count <= BATCH, "fetch returned %d messages for a batch of %d",
                  list.Count, BATCH);
        for (int i = 0; i < list.Count; i++) {
            jsMsgMetaData *md = NULL;
            CHECK_INT(natsMsg_GetMetaData(&md, list.Msgs[i]), NATS_OK);
            uint64_t seq = md->Sequence.Stream;
            CHECK(seq >= 1 && seq <= NMSG);
            CHECK_MSG(!seen[seq], "stream sequence %llu delivered twice",
                      (unsigned long long)seq);
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
