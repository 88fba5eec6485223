/* order.c: the lanes of the router's stream order (migration 030,
 * router/order.c). A lane is one pipeline: what it fetched and has not
 * committed (pending, each with a hash of a workflow ID it starts or
 * signals) and what it committed that the consumer's ack floor may not have
 * passed yet (done). Pipelines read each other's lanes to decide which of
 * their events may commit now; the engine only stores and reads them. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

/* Appends {a,b,...} (a Postgres bigint[] literal) to b. */
static void array_literal(sy_buf *b, const int64_t *v, size_t n)
{
    sy_buf_printf(b, "{");
    for (size_t i = 0; i < n; i++)
        sy_buf_printf(b, "%s%lld", i ? "," : "", (long long)v[i]);
    sy_buf_printf(b, "}");
}

/* The three arrays of a lane as text parameters, in bufs[0..2]. */
static void lane_params(const engine_order_lane *m, sy_buf bufs[3])
{
    array_literal(&bufs[0], m->pending, m->npending);
    array_literal(&bufs[1], m->keys, m->npending);
    array_literal(&bufs[2], m->done, m->ndone);
}

static void bufs_cleanup(sy_buf bufs[3])
{
    for (int i = 0; i < 3; i++)
        sy_buf_cleanup(&bufs[i]);
}

/* Writes this lane and reads the others' entries above the floor, in one
 * round trip; lanes of pipelines gone for 10 minutes whose every entry is
 * at or below the floor are deleted on the way. */
static const char PUBLISH_SQL[] =
    "WITH up AS (INSERT INTO order_lanes (lane, pending, keys, done) "
    "  VALUES ($1, $3::bigint[], $4::bigint[], $5::bigint[]) "
    "  ON CONFLICT (lane) DO UPDATE SET pending = EXCLUDED.pending, keys = EXCLUDED.keys, "
    "  done = EXCLUDED.done, updated_at = now()), "
    "gc AS (DELETE FROM order_lanes g WHERE g.lane <> $1 "
    "  AND g.updated_at < now() - interval '10 minutes' "
    "  AND NOT EXISTS (SELECT 1 FROM unnest(g.pending || g.done) x WHERE x > $2::bigint)) "
    "SELECT u.seq, u.key, false FROM order_lanes l, unnest(l.pending, l.keys) u(seq, key) "
    "  WHERE l.lane <> $1 AND u.seq > $2::bigint "
    "UNION ALL SELECT d, 0, true FROM order_lanes l, unnest(l.done) d "
    "  WHERE l.lane <> $1 AND d > $2::bigint";

sy_status engine_order_publish(engine_session *s, const char *lane, const engine_order_lane *mine,
                               int64_t floor, engine_order_entry **out, size_t *n, sy_error *err)
{
    *out = NULL;
    *n = 0;
    sy_buf bufs[3] = {{0}};
    lane_params(mine, bufs);
    char fl[24];
    snprintf(fl, sizeof fl, "%lld", (long long)floor);
    const char *p[] = {lane, fl, sy_buf_str(&bufs[0]), sy_buf_str(&bufs[1]), sy_buf_str(&bufs[2])};
    PGresult *r = NULL;
    sy_status st = engine__exec(s, PUBLISH_SQL, 5, p, &r, err);
    bufs_cleanup(bufs);
    if (st != SY_OK)
        return st;
    size_t rows = (size_t)PQntuples(r);
    engine_order_entry *e = rows ? calloc(rows, sizeof *e) : NULL;
    if (rows && !e) {
        PQclear(r);
        return sy_error_set(err, SY_NOMEM, "nomem", NULL, "out of memory reading the order lanes");
    }
    for (size_t i = 0; i < rows; i++) {
        e[i].seq = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
        e[i].key = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
        e[i].done = PQgetvalue(r, (int)i, 2)[0] == 't';
    }
    PQclear(r);
    *out = e;
    *n = rows;
    return SY_OK;
}

sy_status engine_order_settle(engine_session *s, const char *lane, const engine_order_lane *mine,
                              sy_error *err)
{
    sy_buf bufs[3] = {{0}};
    lane_params(mine, bufs);
    const char *p[] = {lane, sy_buf_str(&bufs[0]), sy_buf_str(&bufs[1]), sy_buf_str(&bufs[2])};
    sy_status st = engine__exec(s,
                                "INSERT INTO order_lanes (lane, pending, keys, done) "
                                "VALUES ($1, $2::bigint[], $3::bigint[], $4::bigint[]) "
                                "ON CONFLICT (lane) DO UPDATE SET pending = EXCLUDED.pending, "
                                "keys = EXCLUDED.keys, done = EXCLUDED.done, updated_at = now()",
                                4, p, NULL, err);
    bufs_cleanup(bufs);
    return st;
}

sy_status engine_order_drop(engine_session *s, const char *lane, sy_error *err)
{
    const char *p[] = {lane};
    return engine__exec(s, "DELETE FROM order_lanes WHERE lane = $1", 1, p, NULL, err);
}
