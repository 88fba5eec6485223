-- 001_core.sql: the engine's core tables (engine/README.md explains each).
-- Unqualified names: the migration runner sets search_path to the engine's
-- schema. Timestamps are timestamptz; ids of runs are uuids.

-- Inbox: one row per applied event_id (exactly-once effects); purged after
-- the inbox retention. BRIN on received_at: append-only, cheap to maintain.
CREATE TABLE inbox (
    event_id    text PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_received_brin ON inbox USING brin (received_at);

-- Workflow definitions by content hash (sha256 of the normalised JSON).
CREATE TABLE definitions (
    hash          text PRIMARY KEY,
    workflow_type text NOT NULL,
    body          jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per (namespace, workflow_id): the latest run and its status. It is
-- the lock taken by every change to a workflow, and the tombstone that keeps
-- a closed ID known after its runs and histories are purged.
CREATE TABLE workflow_ids (
    namespace   text NOT NULL,
    workflow_id text NOT NULL,
    run_id      uuid NOT NULL,
    status      text NOT NULL,
    closed_at   timestamptz,
    PRIMARY KEY (namespace, workflow_id)
);

-- One row per execution (run).
CREATE TABLE runs (
    run_id           uuid PRIMARY KEY,
    namespace        text NOT NULL,
    workflow_id      text NOT NULL,
    workflow_type    text NOT NULL,
    def_hash         text NOT NULL,
    status           text NOT NULL,
    task_queue       text NOT NULL,
    input            json,
    result           json,
    error            json,
    trace_id         text NOT NULL,
    causation_id     text,
    cancel_requested boolean NOT NULL DEFAULT false,
    next_seq         integer NOT NULL,
    started_at       timestamptz NOT NULL,
    closed_at        timestamptz,
    updated_at       timestamptz NOT NULL
);
-- Few indexes on the hot tables: every start inserts here. The latest run
-- of an ID is found through workflow_ids; listing walks runs_list.
CREATE INDEX runs_list ON runs (namespace, started_at DESC, run_id);

-- Append-only history of each run. data is json, not jsonb: it is written
-- far more often than queried, and json stores the text without reparsing.
CREATE TABLE history (
    run_id     uuid NOT NULL,
    seq        integer NOT NULL,
    type       text NOT NULL,
    data       json NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- Tasks (activity tasks and human tasks): the current attempt of each.
CREATE TABLE tasks (
    task_id      text PRIMARY KEY,
    run_id       uuid NOT NULL,
    namespace    text NOT NULL,
    workflow_id  text NOT NULL,
    step         text NOT NULL,
    name         text NOT NULL,
    queue        text NOT NULL,
    human        boolean NOT NULL DEFAULT false,
    attempt      integer NOT NULL,
    status       text NOT NULL,
    input        json,
    result       json,
    error        json,
    scheduled_at timestamptz NOT NULL,
    started_at   timestamptz,
    heartbeat_at timestamptz,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX tasks_run ON tasks (run_id);

-- Durable timers: sleeps, wait timeouts, task timeouts, retry backoff.
-- Claimed with FOR UPDATE SKIP LOCKED; a fired or stale timer is deleted.
CREATE TABLE timers (
    timer_id text PRIMARY KEY,
    run_id   uuid NOT NULL,
    fire_at  timestamptz NOT NULL,
    kind     text NOT NULL,
    data     json NOT NULL DEFAULT '{}'
);
CREATE INDEX timers_due ON timers (fire_at);

-- Transactional outbox: the relay publishes in id order and deletes a row
-- once its PubAck arrived.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    event_id   text NOT NULL,
    run_id     uuid,
    subject    text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Dead letters: invalid events and refused actions, kept for replay.
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    event_id    text,
    code        text NOT NULL,
    message     text NOT NULL,
    subject     text,
    body        bytea,
    headers     jsonb,
    stream_seq  bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
CREATE INDEX dead_letters_created ON dead_letters (created_at);
