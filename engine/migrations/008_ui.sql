-- 008_ui.sql: what the operator's web UI and HTTP API read that the engine
-- did not keep (docs/http-api.md).
--
-- workers: who reported on each task queue and when last. The report
-- consumer folds the reports it applied into these rows at most once a
-- second, outside the reports' transaction (telemetry: a crash may lose a
-- second of it, never a report). Small: one row per (queue, worker).
CREATE TABLE workers (
    queue         text COLLATE "C" NOT NULL,
    worker        text COLLATE "C" NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL,
    reports       bigint NOT NULL DEFAULT 0,
    completed     bigint NOT NULL DEFAULT 0,
    failed        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, worker)
);

-- A member of a dead letter's body when it is a JSON object, else NULL
-- (the body may be anything: that is often why it is a dead letter).
-- For the dead-letter filters by source and type; dead letters are few.
CREATE FUNCTION dl_member(body bytea, k text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN convert_from(body, 'UTF8')::json ->> k;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
