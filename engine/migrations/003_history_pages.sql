-- 003_history_pages.sql: a history row is a PAGE of consecutive events of
-- one run, one page per run per writing statement (a start writes
-- workflow.started and task.scheduled as one row, a task completion its
-- events as one row). Keyed by (run_id, first seq); types and data are
-- parallel arrays. data is text, not json: the engine wrote it and reads it
-- back; validating it on every insert cost more than anything reads save.
CREATE TABLE history_pages (
    run_id     uuid NOT NULL,
    seq        integer NOT NULL,        -- seq of the page's first event
    types      text[] NOT NULL,
    data       text[] NOT NULL,         -- JSON texts, one per event
    created_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq)
);

INSERT INTO history_pages (run_id, seq, types, data, created_at)
SELECT run_id, seq, ARRAY[type], ARRAY[data::text], created_at FROM history;
DROP TABLE history;
ALTER TABLE history_pages RENAME TO history;
ALTER INDEX history_pages_pkey RENAME TO history_pkey;

-- One row per event, as the history table was: what `switchyard workflow
-- history` reads, and what an operator queries.
CREATE VIEW history_events AS
SELECT h.run_id, h.seq + x.n::integer - 1 AS seq, x.type, x.data::json AS data, h.created_at
FROM history h, unnest(h.types, h.data) WITH ORDINALITY AS x(type, data, n);
