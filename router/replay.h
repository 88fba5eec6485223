/* replay.h: backfill, `switchyard replay` (docs/operations.md, "Backfill").
 *
 * Reads the events stream by time range through an ephemeral ordered
 * consumer (deliver by start time, no acks) and routes each event again
 * through a rules set, exactly once per route: a route recorded on the
 * event's inbox row (the routes it was first applied with) or applied since
 * under sy.route:<event_id>/<route> is a no-op; any other route that
 * matches now takes effect under its own key sy.route:<event_id>/<route>,
 * in one transaction per event. An event that never had an inbox row
 * (unmatched, dead-lettered) is applied as a whole under its event_id, as
 * the router would, with its routes recorded. Events past the durable
 * consumer's acknowledged position are left to the router. */
#ifndef SY_ROUTER_REPLAY_H
#define SY_ROUTER_REPLAY_H

#include "config.h"
#include "rules.h"
#include "status.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* How far back a replay may start: the engine's inbox retention (7 days).
 * An older event's inbox row may be purged, and it could not be told from
 * a new one. */
#define ROUTER_REPLAY_MAX_AGE_MS (7LL * 86400000)

#define ROUTER_REPLAY_BATCH 256 /* events per transaction, by default */

typedef struct router_replay_stats {
    uint64_t read;           /* messages read in the window */
    uint64_t skipped_type;   /* not of --type */
    uint64_t invalid;        /* do not validate (they have their dead letters) */
    uint64_t unmatched;      /* no route matches now */
    uint64_t unchanged;      /* every route that matches was applied already */
    uint64_t unknown;        /* applied before routes were recorded (migration 019): left alone */
    uint64_t changed;        /* events with a route that took effect now (or would: dry run) */
    uint64_t routes_applied; /* routes that took effect now (or would) */
    uint64_t duplicates;     /* a route applied meanwhile by someone else */
    uint64_t dead_lettered;  /* routes the engine refused now (dead letters) */
    uint64_t correlated;     /* events correlated now (cancel_on, wait_event, join), or would be */
    uint64_t not_routed;     /* past the router's acknowledged position: left to it */
    uint64_t first_seq, last_seq; /* stream sequences read */
    uint64_t pending;             /* messages after the last one read (the stream's, at read) */
} router_replay_stats;

typedef void (*router_replay_progress_fn)(void *arg, const router_replay_stats *st);

typedef struct router_replay_opts {
    const router_config *cfg;  /* borrowed: servers, stream, consumer, schemas, keyring */
    const char *nats_url;      /* overrides cfg's servers; NULL: cfg's */
    const char *conninfo;      /* Postgres */
    const rules_set *rules;    /* borrowed: the rules routed through */
    int64_t from_ms, until_ms; /* the window of stream timestamps, [from, until] */
    const char *type_glob;     /* fnmatch(3) over the event type; NULL: every type */
    bool dry_run;              /* change nothing; one JSON line per event that would change */
    FILE *out;                 /* dry-run lines; NULL: stdout */
    size_t batch;              /* events applied per transaction; 0: ROUTER_REPLAY_BATCH */
    router_replay_progress_fn progress; /* after each event; NULL: none */
    void *progress_arg;
} router_replay_opts;

/* Runs the replay; *st (zeroed first) counts what it did, also on
 * failure. SY_NATS_DOWN / SY_DB_DOWN when a server is unreachable,
 * SY_NOT_FOUND when the stream does not exist. The caller's thread. */
sy_status router_replay_run(const router_replay_opts *o, router_replay_stats *st,
                            sy_error *err) SY_MUST_USE;

#endif
