-- The queue depth `GET /metrics` reports, counted from an index of the
-- queued commands only (a small fraction of the table).
CREATE INDEX commands_queued ON commands (id) WHERE state = 'queued';
