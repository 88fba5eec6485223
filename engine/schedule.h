/* schedule.h: cron-driven workflows (docs/schedules.md).
 *
 * A schedule is a row in the engine's schema (migration 050). Its slots are
 * the times its cron spec gives in its time zone; the slot at scheduled_for
 * starts workflow "<schedule_id>:<scheduled_for as RFC 3339 UTC>" with the
 * engine's start, in the same transaction that advances the schedule's
 * next_fire_at, on a row claimed FOR UPDATE SKIP LOCKED: two processes never
 * fire one slot, and a slot is never started twice (its inbox key and the
 * workflow ID's tombstone both say so).
 *
 * Time is always passed in (now_ms), never read here: tests and benchmarks
 * control it (the router passes sy_clock_now_ms of its sy_clock).
 *
 * Transactions: engine_schedules_sync and engine_schedules_run_once run their
 * own (the session must not be in one). The single-schedule calls (upsert,
 * delete, pause, trigger, backfill) run inside the caller's open transaction
 * (engine_begin/engine_commit), like engine_start. Reads need none.
 * One thread per session, as for every engine call. */
#ifndef SY_ENGINE_SCHEDULE_H
#define SY_ENGINE_SCHEDULE_H

#include "engine.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    ENGINE_OVERLAP_SKIP,            /* previous run still running: skip this slot */
    ENGINE_OVERLAP_BUFFER_ONE,      /* keep at most one slot waiting for it */
    ENGINE_OVERLAP_BUFFER_ALL,      /* keep every slot waiting, run them in order */
    ENGINE_OVERLAP_CANCEL_OTHER,    /* cancel the previous run, then start */
    ENGINE_OVERLAP_TERMINATE_OTHER, /* terminate the previous run, then start */
    ENGINE_OVERLAP_ALLOW_ALL,       /* start regardless */
} engine_overlap;

/* "skip" ... "allow_all" -> *out; false when unknown. */
bool engine_overlap_parse(const char *s, engine_overlap *out);
const char *engine_overlap_name(engine_overlap o);

/* Validates one normalised schedule object (docs/workflow-definition.md:
 * id, cron, timezone, workflow, input, overlap, catchup_window_ms,
 * jitter_ms, paused, limited_actions). Missing optional members take their
 * defaults. SY_INVALID with err->path the member ("cron", "timezone", ...)
 * and a precise message (the cron parser's, with its column). */
sy_status engine_schedule_validate(const cJSON *def, sy_error *err) SY_MUST_USE;

typedef struct engine_schedule_sync_counts {
    size_t created, updated, unchanged, removed;
} engine_schedule_sync_counts;

/* Registers the rules file's schedules (rules_set_schedules: an array of
 * normalised objects, borrowed) idempotently, in its own transaction under an
 * advisory lock: a new id is created (first slot after now_ms); a changed
 * definition updates the row (a changed cron or time zone recomputes the
 * next slot from now_ms; buffered slots and counters stay); an unchanged one
 * is left alone; a schedule of source "rules" that is no longer in the file
 * is PAUSED with note "removed from the rules file" (never deleted: its
 * counters and history stay, and re-adding it resumes it). Schedules created
 * from the CLI are never touched. All-or-nothing: one invalid definition
 * fails the whole sync (SY_INVALID, err->path "schedules[i].member"). */
sy_status engine_schedules_sync(engine_session *s, const cJSON *schedules, int64_t now_ms,
                                engine_schedule_sync_counts *out, sy_error *err) SY_MUST_USE;

/* Creates or replaces the schedule def (borrowed, normalised object) as
 * source "cli". *created (may be NULL) says which. Caller's transaction. */
sy_status engine_schedule_upsert(engine_session *s, const cJSON *def, int64_t now_ms, bool *created,
                                 sy_error *err) SY_MUST_USE;

/* Deletes the schedule (its started workflows are not touched).
 * SY_NOT_FOUND when unknown. Caller's transaction. */
sy_status engine_schedule_delete(engine_session *s, const char *id, sy_error *err) SY_MUST_USE;

/* Pauses (pause true) or resumes it with a note (borrowed, may be NULL).
 * Slots that pass while paused are not fired; resuming computes the next
 * slot after now_ms. SY_NOT_FOUND when unknown. Caller's transaction. */
sy_status engine_schedule_pause(engine_session *s, const char *id, bool pause, const char *note,
                                int64_t now_ms, sy_error *err) SY_MUST_USE;

/* What a trigger did. */
typedef struct engine_schedule_fire {
    bool started;          /* a workflow was started */
    bool buffered;         /* the slot waits for the running one */
    char workflow_id[300]; /* the firing's workflow ID */
    char run_id[37];       /* "" unless started */
    char reason[48];       /* why not started: "overlap", "buffer_full", "already_fired", ... */
} engine_schedule_fire;

/* Fires the schedule now (slot at now_ms to the millisecond, later than the
 * last firing and never a whole second: each trigger starts a workflow of
 * its own, "<id>:<RFC 3339 with ms>"), obeying
 * overlap (NULL: the schedule's policy). Works on paused schedules too; does
 * not count against limited_actions. Caller's transaction. */
sy_status engine_schedule_trigger(engine_session *s, const char *id, int64_t now_ms,
                                  const engine_overlap *overlap, engine_schedule_fire *out,
                                  sy_error *err) SY_MUST_USE;

typedef struct engine_schedule_backfill_counts {
    size_t slots, started, skipped, buffered, already_fired;
} engine_schedule_backfill_counts;

/* Fires every slot with start_ms <= scheduled_for < end_ms (at most 10000),
 * with its own overlap policy (ALLOW_ALL is the usual choice). Does not move
 * next_fire_at nor count against limited_actions; a slot that already ran is
 * not run again. Caller's transaction. */
sy_status engine_schedule_backfill(engine_session *s, const char *id, int64_t start_ms,
                                   int64_t end_ms, engine_overlap overlap, int64_t now_ms,
                                   engine_schedule_backfill_counts *out, sy_error *err) SY_MUST_USE;

/* Claims up to max due schedules (FOR UPDATE SKIP LOCKED) and fires their due
 * slots in one transaction: catch-up (slots older than the catch-up window
 * are skipped and counted as missed), overlap policies, buffered slots whose
 * blocker finished, limited_actions, jitter. Outcome events
 * switchyard.schedule.fired / switchyard.schedule.skipped go to the outbox.
 * *fired (may be NULL) receives the number of workflows started. */
sy_status engine_schedules_run_once(engine_session *s, int64_t now_ms, size_t max, size_t *fired,
                                    sy_error *err) SY_MUST_USE;

/* *at_ms: the earliest due time of an unpaused schedule, 0 when none. */
sy_status engine_schedules_next_due(engine_session *s, int64_t *at_ms, sy_error *err) SY_MUST_USE;

/* Reads. *out owned (cJSON_Delete). describe: the row's fields plus
 * "upcoming" (the next n slots after now_ms, RFC 3339); SY_NOT_FOUND when
 * unknown. list: {"schedules": [summaries ordered by id], "next_page_token":
 * the last id of the page when more follow, else null}, at most limit
 * (0: all) after after_id (NULL: from the first; a next_page_token). */
sy_status engine_schedule_describe(engine_session *s, const char *id, int64_t now_ms,
                                   size_t upcoming, cJSON **out, sy_error *err) SY_MUST_USE;
sy_status engine_schedule_list(engine_session *s, const char *after_id, size_t limit, cJSON **out,
                               sy_error *err) SY_MUST_USE;

/* Benchmarks only: creates n schedules "<prefix><i>" (i from 0) with the
 * definition def (its "id" ignored) in one statement, first slot after
 * now_ms. Caller's transaction. */
sy_status engine_schedules_create_many(engine_session *s, const char *prefix, size_t n,
                                       const cJSON *def, int64_t now_ms, sy_error *err) SY_MUST_USE;

/* The workflow ID of a firing: "<id>:<RFC 3339 UTC>" into buf. */
void engine_schedule_workflow_id(const char *id, int64_t scheduled_for_ms, char *buf, size_t size);

#endif
