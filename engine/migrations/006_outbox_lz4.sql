-- 006_outbox_lz4.sql: outbox pages compressed with lz4. A page holds a
-- batch's messages as three arrays (002); stored uncompressed, the bodies
-- were about a third of the WAL a start writes (3.1 KB of WAL per start,
-- 2.0 KB with lz4), and every byte of WAL is written, checksummed, flushed
-- at commit and shipped to each replica. The bodies of one page are alike
-- (the same envelope around similar payloads), so they compress well,
-- and lz4 costs a fraction of what pglz (002's reason for EXTERNAL) does.
-- A server built without lz4 keeps the pages as they were.
DO $$
BEGIN
    ALTER TABLE outbox ALTER COLUMN event_ids SET STORAGE EXTENDED,
                       ALTER COLUMN subjects SET STORAGE EXTENDED,
                       ALTER COLUMN bodies SET STORAGE EXTENDED,
                       ALTER COLUMN event_ids SET COMPRESSION lz4,
                       ALTER COLUMN subjects SET COMPRESSION lz4,
                       ALTER COLUMN bodies SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 not supported by this server: outbox pages stay uncompressed';
END $$;
