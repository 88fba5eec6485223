-- 002_outbox_pages.sql: an outbox row is a PAGE of messages, one page per
-- writing statement (a router batch of 256 starts writes one page of 512
-- messages instead of 512 rows). Per-row costs (heap tuple, index entry,
-- sequence value, WAL record, the relay's delete) were a third of a start's
-- server time. Messages keep their order: pages by id, messages by position.
-- The arrays are stored out of line uncompressed (EXTERNAL): compressing
-- JSON bodies costs more CPU than the disk it saves for rows that live
-- for milliseconds.
CREATE TABLE outbox_pages (
    id         bigserial PRIMARY KEY,
    event_ids  text[] NOT NULL,
    subjects   text[] NOT NULL,
    bodies     text[] NOT NULL,
    n          integer NOT NULL,   -- messages in the page (read without detoasting)
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE outbox_pages ALTER COLUMN event_ids SET STORAGE EXTERNAL;
ALTER TABLE outbox_pages ALTER COLUMN subjects SET STORAGE EXTERNAL;
ALTER TABLE outbox_pages ALTER COLUMN bodies SET STORAGE EXTERNAL;

-- rows not yet published by a relay of the previous version, in order
INSERT INTO outbox_pages (event_ids, subjects, bodies, n, created_at)
SELECT ARRAY[event_id], ARRAY[subject], ARRAY[body], 1, created_at FROM outbox ORDER BY id;
DROP TABLE outbox;
ALTER TABLE outbox_pages RENAME TO outbox;

-- One row per message, in publish order: what the relay reads, and what
-- an operator queries (SELECT subject, body FROM outbox_messages ...).
CREATE VIEW outbox_messages AS
SELECT o.id AS page_id, x.n::integer AS n, x.event_id, x.subject, x.body, o.created_at
FROM outbox o, unnest(o.event_ids, o.subjects, o.bodies) WITH ORDINALITY AS x(event_id, subject, body, n);
