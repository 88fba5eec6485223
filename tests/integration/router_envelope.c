/* The router and the envelope's forms and refusals, against real servers:
 * a signature nobody can check is dead-lettered (unknown_key), never taken
 * for a signed event. */
#include "router_helpers.h"

/* The dead letters of a test matching 'where', once there are 'want'. */
static long dead_letters(const rt *t, const char *where, long want)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM switchyard.dead_letters WHERE %s", where);
    return rh_wait_count(t->conninfo, sql, want, 20000);
}

/* issue 19 item 2: with no keyring configured the signature headers were
 * ignored and the event started its workflow as if it were signed */
TEST(a_signature_with_no_keyring_is_dead_lettered_unknown_key)
{
    rt t = {0};
    rt_start(&t, "rt_env_sig");
    char body[512];
    rh_event(body, sizeof body, "signed-1", "order.created", 1);
    const char *const hdrs[] = {"Sy-Key-Id", "k1", "Sy-Signature", "AAAA", NULL};
    rh_publish_headers(&t.n, "rt.rt_env_sig.a", body, hdrs);
    rh_event(body, sizeof body, "plain-2", "order.created", 2);
    rh_publish(&t.n, "rt.rt_env_sig.a", body);
    CHECK_INT(rh_wait_count(t.conninfo, "SELECT count(*) FROM switchyard.runs", 1, 20000), 1);
    CHECK_INT(dead_letters(&t,
                           "code = 'unknown_key' AND stream_seq = 1 AND message = 'Sy-Key-Id: "
                           "no keyring is configured to verify key \"k1\"' AND "
                           "headers->>'Sy-Key-Id' = 'k1'",
                           1),
              1);
    CHECK_INT(rh_count(t.conninfo, "SELECT count(*) FROM switchyard.runs WHERE workflow_id = "
                                   "'order-1'"),
              0);
    router_metrics *m = router_get_metrics(t.r);
    for (int i = 0; i < 100 && atomic_load(&m->termed) < 1; i++)
        rh_sleep_ms(50);
    CHECK_INT(atomic_load(&m->termed), 1);
    rt_stop(&t);
}
