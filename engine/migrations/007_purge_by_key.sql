-- 007_purge_by_key.sql: retention finds closed runs through keys, not a
-- scan of every run. Run ids are UUIDv7 of the start time since the second
-- release, so runs closed before a cutoff lie in a range of the primary key
-- (engine/timers.c). The runs of a first-release database have random (v4)
-- ids and get an index of their own, which later runs (v7) never enter. It
-- is on run_id, which never changes, so it costs updates nothing (an index
-- on closed_at would have made every run's close a non-HOT update).
CREATE INDEX runs_legacy_ids ON runs (run_id) WHERE substr(run_id::text, 15, 1) <> '7';
