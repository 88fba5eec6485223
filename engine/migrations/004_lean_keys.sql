-- 004_lean_keys.sql: two index entries fewer per start, and keys compared
-- as bytes.
--
-- * runs_list goes: run ids are UUIDv7 made from the start time, so the
--   primary key already orders runs by start (engine_list walks it
--   backwards; a time range is a run_id range).
-- * tasks_run goes: a task id is "<run_id>:<step>", so the tasks of a run
--   are a range of the primary key once task_id compares as bytes.
-- * Key columns compare with COLLATE "C": in a database with a linguistic
--   default collation (en_US.UTF-8, ...) every btree comparison of these
--   keys was a strcoll(); byte order is all identity needs. On a big table
--   this migration rebuilds those primary keys once.
ALTER TABLE inbox ALTER COLUMN event_id TYPE text COLLATE "C";
ALTER TABLE workflow_ids ALTER COLUMN namespace TYPE text COLLATE "C",
                         ALTER COLUMN workflow_id TYPE text COLLATE "C";
ALTER TABLE tasks ALTER COLUMN task_id TYPE text COLLATE "C";
DROP INDEX tasks_run;
DROP INDEX runs_list;
