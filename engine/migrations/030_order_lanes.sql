-- 030_order_lanes.sql: what each router pipeline holds of the event stream,
-- so that two pipelines (of one process or of several) apply the events of
-- one workflow in stream order (router/order.c, docs/ARCHITECTURE.md).
-- One row per pipeline ("lane"): the stream sequences it fetched and has not
-- committed yet (pending) with a 64-bit hash of each workflow ID they start
-- or signal (0: none), and the sequences it committed that the consumer's
-- ack floor may not have passed yet (done). UNLOGGED on purpose: a row lost
-- in a crash only makes other pipelines wait (what they do not know they
-- treat as pending for every workflow), never apply out of order, and it
-- costs the ingest path no WAL.
CREATE UNLOGGED TABLE order_lanes (
    lane       text PRIMARY KEY,
    pending    bigint[] NOT NULL,
    keys       bigint[] NOT NULL,
    done       bigint[] NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- a lane of a 512-event round is ~10 KB of arrays, rewritten twice a
-- round: lz4 compresses it at a fraction of pglz's cost
ALTER TABLE order_lanes ALTER COLUMN pending SET COMPRESSION lz4,
    ALTER COLUMN keys SET COMPRESSION lz4, ALTER COLUMN done SET COMPRESSION lz4;
