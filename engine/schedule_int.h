/* schedule_int.h: shared by engine/schedule*.c only (not for other files).
 *
 * sched__def is a validated schedule definition whose strings are borrowed
 * from the cJSON object it was read from. sched__tzcache keeps the zones one
 * call needs (reading a TZif file per schedule would dominate a round). */
#ifndef SY_ENGINE_SCHEDULE_INT_H
#define SY_ENGINE_SCHEDULE_INT_H

#include "cron.h"
#include "engine_int.h"
#include "json.h"
#include "schedule.h"
#include "tz.h"

/* The workflow ID suffix ":2026-03-08T07:00:00Z" is 21 characters and the
 * whole ID may have 255. */
#define SCHED_ID_MAX RULES_SCHEDULE_ID_MAX
#define SCHED_MAX_SLOTS_PER_ROUND 1000

typedef struct sched__def {
    const char *id, *cron, *timezone, *workflow; /* borrowed */
    const cJSON *input;                          /* borrowed; NULL = {} */
    engine_overlap overlap;
    int64_t catchup_window_ms, jitter_ms, limited_actions;
    bool paused;
} sched__def;

/* Reads and validates def (borrowed); eng (may be NULL) checks that the
 * workflow type exists. SY_INVALID with err->path the member. */
sy_status sched__def_read(const cJSON *def, const engine *eng, sched__def *out,
                          sy_error *err) SY_MUST_USE;

/* The definition as stored: compact JSON with every member and its sha256. */
char *sched__def_text(const sched__def *d);

typedef struct sched__tzcache {
    struct {
        char *name;
        sy_tz *tz;
    } items[16];
    size_t len;
} sched__tzcache;

/* Borrowed zone (lives as long as the cache); NULL with *err when unknown. */
const sy_tz *sched__tz_get(sched__tzcache *c, const char *name, sy_error *err);
void sched__tzcache_cleanup(sched__tzcache *c);

/* Deterministic jitter of a slot in [0, jitter_ms): every process agrees. */
int64_t sched__jitter(const char *id, int64_t scheduled_for_ms, int64_t jitter_ms);

/* Appends s to a Postgres array literal being built ("{" and "}" are the
 * caller's); NULL appends NULL. */
void sched__pg_array_str(sy_buf *b, const char *s);

/* Text of ms as a decimal (or "" for -1, meaning SQL NULL via NULLIF). */
void sched__ms_text(int64_t ms, char *buf, size_t size);

#endif
