-- 005_fillfactor.sql: room on each page for the updated versions of the
-- rows that change after their insert (a run's status and next_seq, a
-- task's status, an ID's latest run). An update that fits on its page is a
-- HOT update: no new index entry. With full pages every update was a new
-- primary key entry too. Pages written from now on keep 20% free.
ALTER TABLE runs SET (fillfactor = 80);
ALTER TABLE tasks SET (fillfactor = 80);
ALTER TABLE workflow_ids SET (fillfactor = 80);
