-- 015_correlation.sql: correlation of later events with running workflows
-- (docs/flow-control.md, "Correlation"): a workflow's cancel_on entries and
-- its wait_event steps.
--
-- event_subs: what a running workflow waits for, one row per cancel_on
-- entry (sub_id "<run_id>:cancel:<i>", from the start) and per wait_event
-- step while it waits ("<run_id>:<step key>"). data: {where, ctx, lookback_ms}
-- (ctx: the run's input and steps when the wait began). Events of the type
-- are matched against these rows in the batch that routes them; a row goes
-- when its wait is satisfied or times out, or its run closes.
CREATE TABLE event_subs (
    namespace   text COLLATE "C" NOT NULL,
    sub_id      text COLLATE "C" NOT NULL,
    run_id      uuid NOT NULL,
    workflow_id text NOT NULL,
    kind        text NOT NULL,
    type        text NOT NULL,
    step        text,
    data        json NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz,
    PRIMARY KEY (namespace, sub_id)
);
CREATE INDEX event_subs_type ON event_subs (namespace, type);
CREATE INDEX event_subs_run ON event_subs (run_id);

-- corr_events: the events of correlated types, kept for the lookback of
-- wait_event steps (and a short while for waits that begin in the same
-- instant as the event): a wait that begins looks back here. Purged after
-- expires_at by retention.
CREATE TABLE corr_events (
    namespace   text COLLATE "C" NOT NULL,
    event_id    text COLLATE "C" NOT NULL,
    type        text NOT NULL,
    at          timestamptz NOT NULL,
    body        json NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (namespace, event_id)
);
CREATE INDEX corr_events_type ON corr_events (namespace, type, at);
CREATE INDEX corr_events_expires ON corr_events (expires_at);
