-- dm-server SQL store: events and webhooks (SQLite). Times are Unix
-- milliseconds.

-- Events, ids given by the appending transaction from `event_marks`
-- (never reused). `data` is the JSON object of the kind's members.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    dev_id TEXT,
    data TEXT NOT NULL
);
CREATE INDEX events_by_device ON events (dev_id, id);
CREATE INDEX events_by_time ON events (at_ms);

-- One row: the newest id given (appends update it first, which makes them
-- one after the other) and the newest id pruned.
CREATE TABLE event_marks (
    newest INTEGER NOT NULL,
    pruned_through INTEGER NOT NULL
);
INSERT INTO event_marks (newest, pruned_through) VALUES (0, 0);

-- Webhooks: where events are POSTed, the signing secret, the kinds
-- (names, comma-separated; empty: all), the id of the last event
-- delivered, and the lease of the node delivering.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    kinds TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    cursor INTEGER NOT NULL,
    lease_node TEXT,
    lease_until_ms INTEGER NOT NULL DEFAULT 0
);
