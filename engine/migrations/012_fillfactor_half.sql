-- 012_fillfactor_half.sql: room on each page for EVERY row's updated
-- version. A run, its task and its ID are each inserted once and updated
-- about once (the completion); with 20% of a page free (005) only a
-- quarter of those updates fitted on their page (HOT), the rest were new
-- heap tuples elsewhere plus a new entry in every index. With half of
-- each page free 95% are HOT: bench roundtrip writes 3.1 KB of WAL per
-- workflow instead of 3.7 KB, and its Postgres CPU falls by about 5%
-- (engine/README.md). The cost is disk: pages written from now on hold
-- half as many of these rows (retention purges closed runs).
ALTER TABLE runs SET (fillfactor = 50);
ALTER TABLE tasks SET (fillfactor = 50);
ALTER TABLE workflow_ids SET (fillfactor = 50);
