/* Smoke test of the fixtures: the servers `switchyard testenv` started are
 * real. A JetStream stream takes a message and gives it back through nats.c;
 * Postgres creates a table and round-trips a row through libpq. */
#include "fixture.h"
#include "test.h"

#include <libpq-fe.h>
#include <nats/nats.h>

TEST(jetstream_publish_and_read_back)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    fixture_js_stream("SMOKE", "smoke.>", &nc, &js);
    jsErrCode jerr = 0;
    jsPubAck *pa = NULL;
    CHECK_INT(js_Publish(&pa, js, "smoke.hello", "round trip", 10, NULL, &jerr), NATS_OK);
    CHECK(pa != NULL);
    CHECK_STR(pa->Stream, "SMOKE");
    CHECK_INT(pa->Sequence, 1);
    jsPubAck_Destroy(pa);

    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = "SMOKE";
    CHECK_INT(js_PullSubscribe(&sub, js, "smoke.>", "reader", NULL, &so, &jerr), NATS_OK);
    natsMsgList list = {0};
    CHECK_INT(natsSubscription_Fetch(&list, sub, 1, 5000, &jerr), NATS_OK);
    CHECK_INT(list.Count, 1);
    CHECK_INT(natsMsg_GetDataLength(list.Msgs[0]), 10);
    CHECK(memcmp(natsMsg_GetData(list.Msgs[0]), "round trip", 10) == 0);
    CHECK_INT(natsMsg_Ack(list.Msgs[0], NULL), NATS_OK);
    natsMsgList_Destroy(&list);
    natsSubscription_Destroy(sub);
    js_DeleteStream(js, "SMOKE", NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

TEST(postgres_table_round_trip)
{
    char *conninfo = fixture_pg_fresh_db("smoke_pg");
    PGconn *c = PQconnectdb(conninfo);
    CHECK_MSG(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, "CREATE TABLE t (id int primary key, v text)");
    CHECK_INT(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    const char *params[] = {"7", "seven"};
    r = PQexecParams(c, "INSERT INTO t VALUES ($1, $2)", 2, NULL, params, NULL, NULL, 0);
    CHECK_INT(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    r = PQexec(c, "SELECT v FROM t WHERE id = 7");
    CHECK_INT(PQresultStatus(r), PGRES_TUPLES_OK);
    CHECK_INT(PQntuples(r), 1);
    CHECK_STR(PQgetvalue(r, 0, 0), "seven");
    PQclear(r);
    PQfinish(c);
    free(conninfo);
}
