-- 014_first_page_in_run.sql: a new run's first history page is part of
-- its runs row. A start wrote five rows and five index entries (inbox,
-- workflow_ids, runs, one history page, tasks), and the page was written
-- together with the run, by the same statement, keyed by the same run_id:
-- as two columns of the run it costs no heap tuple, no index entry and no
-- WAL record of its own. h_types and h_data are what a history row's types
-- and data are for the events from seq 1; later pages are rows of history
-- as before. NULL: the run's first page is a row of history (every run
-- started before this migration). A metadata-only change.
ALTER TABLE runs ADD COLUMN h_types text[], ADD COLUMN h_data text[];

-- The view reads both: the first page from the run, the rest from history.
CREATE OR REPLACE VIEW history_events AS
SELECT h.run_id, h.seq + x.n::integer - 1 AS seq, x.type,
       history_data(h.run_id, x.type, x.data)::json AS data, h.created_at
FROM (SELECT run_id, 1 AS seq, h_types AS types, h_data AS data, started_at AS created_at
      FROM runs WHERE h_types IS NOT NULL
      UNION ALL
      SELECT run_id, seq, types, data, created_at FROM history) h,
     unnest(h.types, h.data) WITH ORDINALITY AS x(type, data, n);
