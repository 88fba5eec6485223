-- 009_dead_letter_routes.sql: a dead letter says which route of its event
-- failed, so that a replay runs that route only (the routes that took
-- effect are not applied again), and how often it failed: a replay that
-- fails again updates its dead letter instead of adding one.
--
-- route: the route whose action failed; NULL: the whole event (invalid,
-- unmatched, an outbox message; and every dead letter recorded before this
-- migration, whose route is unknown). failures: 1 + the replays that
-- failed again; updated_at: the last failure. Metadata-only additions.
ALTER TABLE dead_letters
    ADD COLUMN route text,
    ADD COLUMN failures integer NOT NULL DEFAULT 1,
    ADD COLUMN updated_at timestamptz;
