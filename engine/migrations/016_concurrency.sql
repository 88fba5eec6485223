-- 016_concurrency.sql: a workflow's `concurrency: { key, limit, strategy }`
-- and `priority` (docs/flow-control.md, "Concurrency").
--
-- concurrency_keys: one row per (workflow type, key), the lock every
-- decision about the key takes (FOR UPDATE, in ckey order, by a batch that
-- starts a run of it; FOR UPDATE SKIP LOCKED by the timer loop when starts
-- wait). ckey is "<type>\n<key>" (round_robin: "<type>\n", one row for
-- every key of the type: the limit is shared). queued counts the waiting
-- starts; rr_last is the key a round_robin slot went to last.
CREATE TABLE concurrency_keys (
    namespace     text COLLATE "C" NOT NULL,
    ckey          text COLLATE "C" NOT NULL,
    workflow_type text NOT NULL,
    lim           integer NOT NULL,
    strategy      text NOT NULL,
    queued        integer NOT NULL DEFAULT 0,
    rr_last       text COLLATE "C",
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (namespace, ckey)
);
CREATE INDEX concurrency_keys_waiting ON concurrency_keys (namespace) WHERE queued > 0;

-- concurrency_slots: the runs started under a key. A slot is taken in the
-- transaction that inserts its run and is held while the run's status is
-- 'running': the count of a key joins runs, so a run that closes frees its
-- slot in its own transaction without touching the key's row; the holder
-- of the key's lock deletes the slots of closed (or purged) runs.
CREATE TABLE concurrency_slots (
    namespace   text COLLATE "C" NOT NULL,
    ckey        text COLLATE "C" NOT NULL,
    run_id      uuid NOT NULL,
    workflow_id text NOT NULL,
    sub         text COLLATE "C" NOT NULL, -- the run's own key (round_robin: not ckey's)
    priority    integer NOT NULL,
    started_at  timestamptz NOT NULL,
    PRIMARY KEY (namespace, ckey, run_id)
);

-- concurrency_queue: starts waiting for a slot, taken by priority (higher
-- first), then arrival. request is the start as flow control holds one
-- (flow.c's JSON). Written and deleted only by the holder of the key's lock.
CREATE TABLE concurrency_queue (
    namespace   text COLLATE "C" NOT NULL,
    ckey        text COLLATE "C" NOT NULL,
    seq         bigserial,
    sub         text COLLATE "C" NOT NULL,
    priority    integer NOT NULL,
    workflow_id text NOT NULL,
    request     json NOT NULL,
    queued_at   timestamptz NOT NULL,
    PRIMARY KEY (namespace, ckey, seq)
);
CREATE INDEX concurrency_queue_order ON concurrency_queue (namespace, ckey, priority DESC, seq);
CREATE INDEX concurrency_queue_workflow ON concurrency_queue (namespace, workflow_id);
