/* schedule_fire.h: the firing round, shared by schedule_fire.c and
 * schedule_run.c only. A round lives inside one transaction: it collects
 * starts (in an engine_batch, or as engine_start calls for the CLI paths
 * whose refusals must come back as statuses), outcome events and the row
 * changes, and writes them with a few statements. */
#ifndef SY_ENGINE_SCHEDULE_FIRE_H
#define SY_ENGINE_SCHEDULE_FIRE_H

#include "schedule_int.h"

#define SCHED_MAX_BUFFERED 1000

/* One locked schedule row in memory. */
typedef struct sched__row {
    char id[256], workflow[256];
    cJSON *input; /* owned template, NULL = {} */
    engine_overlap overlap;
    int64_t catchup_ms, jitter_ms;
    int64_t remaining; /* -1 = unlimited */
    sy_cron *cron;     /* owned */
    const sy_tz *tz;   /* borrowed from the round's cache */
    int64_t next;      /* next slot, -1 = none */
    int64_t last_fire; /* -1 = never */
    char last_wid[300];
    char tid[32];                   /* the locked row's ctid, "(block,item)" */
    bool prev_running;              /* last_wid is running (or was started this round) */
    cJSON *buffered;                /* owned array of slot ms */
    int64_t fired, skipped, missed; /* deltas of this round */
    bool move_next;                 /* write next/due back (not for trigger/backfill) */
    bool broken;                    /* definition unreadable: paused, not written back */
} sched__row;

typedef struct sched__pending {
    sched__row *row;
    size_t ev;
    int64_t sf;
    const char *kind;
    char *trace_ev; /* owned trace id of the start */
} sched__pending;

typedef struct sched__round {
    engine_session *s;
    int64_t now;
    engine_batch *b; /* NULL: single calls */
    sched__pending *pending;
    size_t npending, cappending;
    sy_buf ob_ids, ob_subjects, ob_bodies; /* the round's outbox page, array literals */
    size_t nob;
    sched__tzcache tzs;
    size_t started, skipped, buffered, missed, already;
    engine_schedule_fire last; /* what the latest slot did (trigger reports it) */
} sched__round;

void sched__round_init(sched__round *r, engine_session *s, int64_t now_ms, bool batch_mode);
void sched__round_cleanup(sched__round *r);
void sched__row_cleanup(sched__row *row);

/* Slot sf of row under policy: start, skip or buffer (kind: "schedule",
 * "buffer", "trigger", "backfill"). */
sy_status sched__fire(sched__round *r, sched__row *row, int64_t sf, const char *kind,
                      engine_overlap policy, sy_error *err) SY_MUST_USE;
sy_status sched__start(sched__round *r, sched__row *row, int64_t sf, const char *kind,
                       sy_error *err) SY_MUST_USE;
/* A skipped event; reason "catchup_window" counts as missed. */
void sched__skip(sched__round *r, sched__row *row, int64_t sf, const char *reason, int64_t count);

/* Applies the pending batch and emits the fired events of its starts. */
sy_status sched__flush(sched__round *r, sy_error *err) SY_MUST_USE;
sy_status sched__write_outbox(sched__round *r, sy_error *err) SY_MUST_USE;

#endif
