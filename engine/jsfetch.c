/* jsfetch.c: see jsfetch.h for the nats.c bug this works around. */
#include "jsfetch.h"

#include <stdlib.h>
#include <string.h>

static int queued(natsSubscription *sub)
{
    int msgs = 0, bytes = 0;
    if (natsSubscription_GetPending(sub, &msgs, &bytes) != NATS_OK)
        return 0;
    return msgs;
}

/* Takes up to 'batch' queued messages, one Fetch(1) each (a batch of one
 * cannot overflow: the drain loop fills it or leaves it empty). */
static natsStatus drain_queued(natsMsgList *list, natsSubscription *sub, int batch,
                               jsErrCode *jerr)
{
    natsMsg **msgs = calloc((size_t)batch, sizeof *msgs);
    if (!msgs)
        return NATS_NO_MEMORY;
    int n = 0;
    while (n < batch && queued(sub) > 0) {
        natsMsgList one;
        memset(&one, 0, sizeof one);
        natsStatus s = natsSubscription_Fetch(&one, sub, 1, 1, jerr);
        if (s != NATS_OK || one.Count != 1) {
            natsMsgList_Destroy(&one);
            break;
        }
        msgs[n++] = one.Msgs[0];
        one.Msgs[0] = NULL; /* moved into msgs */
        natsMsgList_Destroy(&one);
    }
    if (n == 0) {
        free(msgs);
        return NATS_TIMEOUT;
    }
    list->Msgs = msgs; /* natsMsgList_Destroy frees it with free() */
    list->Count = n;
    return NATS_OK;
}

natsStatus engine_js_fetch(natsMsgList *list, natsSubscription *sub, int batch,
                           int64_t timeout_ms, jsErrCode *jerr)
{
    memset(list, 0, sizeof *list);
    if (batch > 1 && queued(sub) > 0) {
        natsStatus s = drain_queued(list, sub, batch, jerr);
        if (s != NATS_TIMEOUT)
            return s;
    }
    return natsSubscription_Fetch(list, sub, batch, timeout_ms, jerr);
}
