-- 022_corr_keys.sql: correlation looked up by key, and joins that say what
-- they wait for (docs/flow-control.md, "Correlation" and "Joins").
--
-- event_subs.kpath/kval: a subscription whose `where` is, or has at its top
-- level an `&&` with, an equality between a path into the event and a value
-- known when it subscribed (`event.payload.order_id == input.order_id`)
-- stores that path (kpath: a JSON array of its members, without "event")
-- and the value (kval: its kind and text, rules_corr_key_text). An event is
-- matched against the rows of its type whose kval is what the event has at
-- kpath (the index below) and against the rows without a key (the scan, for
-- any other `where`); the whole `where` is still evaluated on each.
ALTER TABLE event_subs ADD COLUMN kpath text COLLATE "C";
ALTER TABLE event_subs ADD COLUMN kval text COLLATE "C";
CREATE INDEX event_subs_key ON event_subs (namespace, type, kpath, kval) WHERE kpath IS NOT NULL;
DROP INDEX event_subs_type;
CREATE INDEX event_subs_type ON event_subs (namespace, type) WHERE kpath IS NULL;

-- join_keys.spec: the join's events and condition as the row was last
-- written with ({"events": {name: type}, "when", "window_ms"}, rules_join_spec_json),
-- so `switchyard join list` says which parts are missing without the rules.
ALTER TABLE join_keys ADD COLUMN spec json;
