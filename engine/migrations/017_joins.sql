-- 017_joins.sql: join routes (docs/flow-control.md, "Joins"): the partial
-- state of a join, one row per (route, key) while some of its events have
-- arrived and the join has not started its workflow. jkey is
-- "<route>\n<key>"; events: {part: envelope} of the parts arrived (the
-- latest of each); workflow_id: the ID its start would take now, for
-- `workflow describe`. A row is locked FOR UPDATE by the batch that adds
-- an event to it, deleted when the join starts its workflow, and forgotten
-- (its events dropped) after expires_at, first_at + the window.
CREATE TABLE join_keys (
    namespace   text COLLATE "C" NOT NULL,
    jkey        text COLLATE "C" NOT NULL,
    route       text NOT NULL,
    key         text NOT NULL,
    events      json NOT NULL,
    workflow_id text,
    first_at    timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (namespace, jkey)
);
CREATE INDEX join_keys_workflow ON join_keys (namespace, workflow_id) WHERE workflow_id IS NOT NULL;
CREATE INDEX join_keys_expires ON join_keys (expires_at);
