-- 011_dead_letter_fields.sql: what parsed of a dead-lettered event, beside
-- its event_id: its trace_id, type and source, also when the event as a
-- whole did not validate (a payload schema failure keeps them all), so a
-- dead letter can be found by its trace and its producer. NULL: absent or
-- not valid in the event (and every dead letter recorded before this
-- migration; the dead-letter filters then read the body, dl_member).
-- Metadata-only additions.
ALTER TABLE dead_letters
    ADD COLUMN trace_id text,
    ADD COLUMN type text,
    ADD COLUMN source text;
