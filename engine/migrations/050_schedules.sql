-- 050_schedules.sql: schedules (engine/schedule*.c, docs/schedules.md).
-- One row per (namespace, schedule_id). A firing is claimed by moving
-- next_fire_at forward in the same transaction that starts its workflow, with
-- the row locked FOR UPDATE SKIP LOCKED, so two processes never fire one slot.

CREATE TABLE schedules (
    namespace         text NOT NULL,
    schedule_id       text NOT NULL,
    source            text NOT NULL,            -- 'rules' (synced at load) | 'cli'
    def               jsonb NOT NULL,           -- the normalised definition as given
    def_hash          text NOT NULL,            -- sha256 of def's compact text
    cron              text NOT NULL,
    timezone          text NOT NULL,
    workflow_type     text NOT NULL,
    input             jsonb NOT NULL DEFAULT '{}',
    overlap           text NOT NULL,
    catchup_window_ms bigint NOT NULL,
    jitter_ms         bigint NOT NULL DEFAULT 0,
    limited_actions   integer NOT NULL DEFAULT 0,  -- 0 = unlimited
    remaining_actions integer,                     -- NULL = unlimited
    paused            boolean NOT NULL DEFAULT false,
    note              text NOT NULL DEFAULT '',
    removed_at        timestamptz,                 -- paused because it left the rules file
    next_fire_at      timestamptz,                 -- scheduled_for of the next slot; NULL = none
    due_at            timestamptz,                 -- next_fire_at + jitter: when it is claimed
    last_fire_at      timestamptz,                 -- scheduled_for of the latest start
    last_workflow_id  text,                        -- the latest started firing (overlap checks)
    buffered          jsonb NOT NULL DEFAULT '[]', -- scheduled_for (ms) of buffered slots
    fired_count       bigint NOT NULL DEFAULT 0,
    skipped_count     bigint NOT NULL DEFAULT 0,   -- overlap skips
    missed_count      bigint NOT NULL DEFAULT 0,   -- older than the catch-up window
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, schedule_id)
);

-- The claim query: due, unpaused schedules in due order.
CREATE INDEX schedules_due ON schedules (namespace, due_at) WHERE NOT paused AND due_at IS NOT NULL;
-- Schedules holding buffered slots, checked each round for a finished run.
CREATE INDEX schedules_buffered ON schedules (namespace) WHERE buffered <> '[]'::jsonb AND NOT paused;
