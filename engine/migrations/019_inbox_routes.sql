-- 019_inbox_routes.sql: the routes an event was applied with, on its
-- inbox row ('\n'-joined route names, as the rules named them then), so
-- that `switchyard replay` applies an old event's new routes only: a route
-- recorded here, or applied since under its own key
-- sy.route:<event_id>/<route>, is a no-op. NULL: a row of no routed event
-- (reports, schedules, flow control) or recorded before this migration
-- (replay then takes every route as applied). Metadata-only.
ALTER TABLE inbox ADD COLUMN routes text;
