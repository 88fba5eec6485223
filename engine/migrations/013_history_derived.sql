-- 013_history_derived.sql: the history keeps no bytes that its run's row
-- or its pinned definition already hold. A start's workflow.started
-- repeated the run's workflow_type, def_hash and task_queue (~120 bytes)
-- and its task.scheduled its task_id (<run_id>:<step>), name, task, queue,
-- human and the step's retry, timeouts and deadline_ms (~330 bytes): half
-- of a start's history page. The engine leaves out each member whose value
-- is the derived one (engine/ws.c, checked per member). From now on
-- the engine writes them out of those two events (engine/ws.c) and puts
-- them back where the history is read: this view for every reader
-- (`workflow history`, the UI, operators' queries), and
-- engine__history_expand when a run's state is replayed. Events written
-- before keep their members (a member present is never added again), so
-- nothing is rewritten here.

-- The path of a step key ("0", "2/t/1", "3#4": a foreach item's task) in
-- a definition's body: {steps,0}, {steps,2,then,1}, {steps,3,task}.
CREATE FUNCTION history_step_path(k text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ('{steps,' || replace(replace(regexp_replace(k, '#[0-9]+$', ',task'), '/t/', ',then,'),
            '/e/', ',else,') || '}')::text[]
$$;

-- Members text m (",k":v,...) appended to the JSON object text d.
CREATE FUNCTION history_append(d text, m text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN m IS NULL OR m = '' THEN d
                WHEN d ~ '^\{\s*\}$' THEN '{' || substr(m, 2) || '}'
                ELSE left(d, -1) || m || '}' END
$$;

-- An event's data as written before 013: the derived members appended
-- (the engine writes them last, in this order, so the text comes out as
-- the engine emitted it).
-- search_path: the engine's schema, whatever the reader's.
CREATE FUNCTION history_data(run uuid, t text, d text) RETURNS text
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT CASE
        WHEN t = 'workflow.started' THEN history_append(d, (
            SELECT CASE WHEN j->'workflow_type' IS NULL
                        THEN ',"workflow_type":' || to_json(r.workflow_type)::text ELSE '' END
                || CASE WHEN j->'def_hash' IS NULL
                        THEN ',"def_hash":' || to_json(r.def_hash)::text ELSE '' END
                || CASE WHEN j->'task_queue' IS NULL
                        THEN ',"task_queue":' || to_json(r.task_queue)::text ELSE '' END
            FROM (SELECT d::json AS j) x, runs r WHERE r.run_id = run))
        WHEN t = 'task.scheduled' THEN history_append(d, (
            SELECT CASE WHEN j->'name' IS NULL
                        THEN ',"name":' || to_json(coalesce(nm->>'name', ''))::text ELSE '' END
                || CASE WHEN j->'task_id' IS NULL
                        THEN ',"task_id":' || to_json(run::text || ':' || (j->>'step'))::text ELSE '' END
                || CASE WHEN j->'task' IS NULL
                        THEN ',"task":' || to_json(coalesce(s->>'task', ''))::text ELSE '' END
                || CASE WHEN j->'queue' IS NULL
                        THEN ',"queue":' || to_json(CASE WHEN s->>'kind' = 'human' THEN 'human'
                             WHEN coalesce(s->>'queue', '') <> '' THEN s->>'queue'
                             ELSE r.task_queue END)::text ELSE '' END
                || CASE WHEN j->'human' IS NULL
                        THEN ',"human":' || (coalesce(s->>'kind', '') = 'human')::text ELSE '' END
                || CASE WHEN j->'retry' IS NULL AND s ? 'retry'
                        THEN ',"retry":' || (s->'retry')::text ELSE '' END
                || CASE WHEN j->'timeouts' IS NULL AND s ? 'timeouts'
                        THEN ',"timeouts":' || (s->'timeouts')::text ELSE '' END
                || CASE WHEN j->'deadline_ms' IS NULL AND s ? 'deadline_ms'
                        THEN ',"deadline_ms":' || (s->'deadline_ms')::text ELSE '' END
            FROM (SELECT d::json AS j) x, runs r JOIN definitions f ON f.hash = r.def_hash,
                 LATERAL (SELECT f.body #> history_step_path(x.j->>'step') AS s,
                                 f.body #> history_step_path(regexp_replace(x.j->>'step',
                                                                            '#[0-9]+$', '')) AS nm) y
            WHERE r.run_id = run AND jsonb_typeof(y.s) = 'object'))
        ELSE d
    END
$$;

CREATE OR REPLACE VIEW history_events AS
SELECT h.run_id, h.seq + x.n::integer - 1 AS seq, x.type,
       history_data(h.run_id, x.type, x.data)::json AS data, h.created_at
FROM history h, unnest(h.types, h.data) WITH ORDINALITY AS x(type, data, n);
