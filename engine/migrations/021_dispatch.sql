-- 021_dispatch.sql: a task queue's dispatch limit, `max_in_flight: N` on a
-- task step (docs/flow-control.md, "Task dispatch").
--
-- dispatch_queues: one row per limited queue, the lock of every dispatch
-- decision about it (taken by the transaction that creates or finishes a
-- task of the queue, in queue order). lim is the latest limit a definition
-- gave the queue.
CREATE TABLE dispatch_queues (
    namespace text COLLATE "C" NOT NULL,
    queue     text COLLATE "C" NOT NULL,
    lim       integer NOT NULL,
    PRIMARY KEY (namespace, queue)
);

-- dispatch_pending: the task.created messages held back, released highest
-- priority first, then in arrival (seq) order. A row is the message the
-- outbox would have had (event_id, subject, body), moved to the outbox in
-- the transaction that releases it.
CREATE TABLE dispatch_pending (
    namespace text COLLATE "C" NOT NULL,
    queue     text COLLATE "C" NOT NULL,
    seq       bigserial,
    task_id   text COLLATE "C" NOT NULL,
    attempt   integer NOT NULL,
    priority  bigint NOT NULL,
    event_id  text NOT NULL,
    subject   text NOT NULL,
    body      text NOT NULL,
    queued_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, queue, seq)
);
CREATE INDEX dispatch_pending_order ON dispatch_pending (namespace, queue, priority DESC, seq);
CREATE INDEX dispatch_pending_task ON dispatch_pending (task_id);

-- dispatch_in_flight: the attempts released and not known to be finished.
-- An attempt is in flight while its task's row has that attempt and status
-- scheduled or started: the lock holder deletes the others before counting,
-- so a finish that no hook saw (a purge) frees its place all the same.
CREATE TABLE dispatch_in_flight (
    namespace   text COLLATE "C" NOT NULL,
    queue       text COLLATE "C" NOT NULL,
    task_id     text COLLATE "C" NOT NULL,
    attempt     integer NOT NULL,
    priority    bigint NOT NULL,
    released_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, queue, task_id)
);

-- One dispatch round of a batch, called in its transaction after its write
-- statement: held is [{q, l, t, a, p, e, s, b}] (queue, limit, task_id,
-- attempt, priority, event_id, subject, body: the batch's new task.created
-- messages of limited queues), finished [{q, t, a}] (the batch's tasks that
-- finished an attempt). For each queue in order: lock it, queue the held
-- messages, forget the finished, count what is in flight and move the
-- heads of the queue into the free places and the outbox. Returns how many
-- messages it released.
CREATE FUNCTION sy_dispatch(p_ns text, p_now timestamptz, p_held json, p_finished json)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    qu record;
    r record;
    l integer;
    free integer;
    ev text[] := '{}';
    su text[] := '{}';
    bo text[] := '{}';
BEGIN
    FOR qu IN SELECT x.q AS queue, max(x.l) AS lim FROM (
            SELECT h.q, h.l FROM json_to_recordset(p_held) AS h(q text, l int)
            UNION ALL SELECT f.q, NULL FROM json_to_recordset(p_finished) AS f(q text)) x
            GROUP BY x.q ORDER BY x.q COLLATE "C"
    LOOP
        IF qu.lim IS NOT NULL THEN
            INSERT INTO dispatch_queues AS d (namespace, queue, lim) VALUES (p_ns, qu.queue, qu.lim)
            ON CONFLICT (namespace, queue) DO UPDATE SET lim = EXCLUDED.lim RETURNING d.lim INTO l;
        ELSE
            SELECT d.lim INTO l FROM dispatch_queues d
            WHERE d.namespace = p_ns AND d.queue = qu.queue FOR UPDATE;
            CONTINUE WHEN NOT FOUND; -- not a limited queue
        END IF;
        INSERT INTO dispatch_pending (namespace, queue, task_id, attempt, priority, event_id,
                                      subject, body, queued_at)
        SELECT p_ns, h.q, h.t, h.a, h.p, h.e, h.s, h.b, p_now
        FROM json_array_elements(p_held) WITH ORDINALITY AS j(v, n)
        CROSS JOIN LATERAL json_to_record(j.v) AS h(q text, t text, a int, p bigint, e text,
                                                    s text, b text)
        WHERE h.q = qu.queue ORDER BY j.n;
        DELETE FROM dispatch_pending d USING json_to_recordset(p_finished) AS f(q text, t text, a int)
        WHERE f.q = qu.queue AND d.namespace = p_ns AND d.queue = qu.queue AND d.task_id = f.t
          AND d.attempt <= f.a;
        DELETE FROM dispatch_in_flight i WHERE i.namespace = p_ns AND i.queue = qu.queue
          AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = i.task_id
                          AND t.attempt = i.attempt AND t.status IN ('scheduled', 'started'));
        SELECT l - count(*) INTO free FROM dispatch_in_flight i
        WHERE i.namespace = p_ns AND i.queue = qu.queue;
        WHILE free > 0 LOOP
            DELETE FROM dispatch_pending d WHERE d.namespace = p_ns AND d.queue = qu.queue
              AND d.seq = (SELECT x.seq FROM dispatch_pending x WHERE x.namespace = p_ns
                           AND x.queue = qu.queue ORDER BY x.priority DESC, x.seq LIMIT 1)
            RETURNING d.* INTO r;
            EXIT WHEN NOT FOUND;
            -- a task canceled, timed out or completed (`task complete`) while it
            -- waited is dropped here, not dispatched
            CONTINUE WHEN NOT EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = r.task_id
                                      AND t.attempt = r.attempt AND t.status = 'scheduled');
            INSERT INTO dispatch_in_flight (namespace, queue, task_id, attempt, priority,
                                            released_at)
            VALUES (p_ns, qu.queue, r.task_id, r.attempt, r.priority, p_now)
            ON CONFLICT (namespace, queue, task_id) DO UPDATE SET attempt = EXCLUDED.attempt,
                priority = EXCLUDED.priority, released_at = EXCLUDED.released_at;
            ev := ev || r.event_id;
            su := su || r.subject;
            bo := bo || r.body;
            free := free - 1;
        END LOOP;
    END LOOP;
    IF cardinality(ev) > 0 THEN
        INSERT INTO outbox (event_ids, subjects, bodies, n) VALUES (ev, su, bo, cardinality(ev));
        PERFORM pg_notify('switchyard_outbox', '');
    END IF;
    RETURN cardinality(ev);
END
$$;
