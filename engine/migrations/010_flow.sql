-- 010_flow.sql: flow control on routes (docs/flow-control.md): dedupe,
-- rate_limit, debounce, throttle and batch keep one row per (route, stage,
-- key), and the actions they hold.
--
-- flow_keys: the row every decision about a key locks (FOR UPDATE by the
-- router's batches, FOR UPDATE SKIP LOCKED by the timer loop when fire_at
-- is due). fkey is "<route>\n<stage>\n<key>"; state is rules/flow.c's JSON
-- (the stage's parameters with the key's state, so a held key fires as it
-- was configured). pending: a debounced key's last action. workflow_id:
-- the workflow a held action targets (debounce's, a batch's first), for
-- `workflow describe`. A row with nothing held is forgotten after
-- expires_at (a dedupe window, a rate window), independent of workflow
-- retention.
CREATE TABLE flow_keys (
    namespace   text COLLATE "C" NOT NULL,
    fkey        text COLLATE "C" NOT NULL,
    route       text NOT NULL,
    kind        text NOT NULL,
    key         text NOT NULL,
    state       json NOT NULL,
    fire_at     timestamptz,
    pending     json,
    workflow_id text,
    expires_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (namespace, fkey)
) WITH (fillfactor = 80);
CREATE INDEX flow_keys_due ON flow_keys (fire_at) WHERE fire_at IS NOT NULL;
CREATE INDEX flow_keys_expires ON flow_keys (expires_at) WHERE fire_at IS NULL;
CREATE INDEX flow_keys_workflow ON flow_keys (namespace, workflow_id) WHERE workflow_id IS NOT NULL;

-- flow_items: the actions a throttle queues and a batch collects, in
-- order (seq per key, from the key's state). Written once, read and
-- deleted only by the holder of the key's row lock.
CREATE TABLE flow_items (
    namespace   text COLLATE "C" NOT NULL,
    fkey        text COLLATE "C" NOT NULL,
    seq         bigint NOT NULL,
    workflow_id text,
    request     json NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (namespace, fkey, seq)
);
CREATE INDEX flow_items_workflow ON flow_items (namespace, workflow_id);
