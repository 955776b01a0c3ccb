-- dm-server SQL store: events and webhooks (PostgreSQL). Times are Unix
-- milliseconds.

-- Events, ids given by the appending transaction from `event_marks`
-- (never reused). `data` is the JSON object of the kind's members.
CREATE TABLE events (
    id BIGINT PRIMARY KEY,
    kind TEXT COLLATE "C" NOT NULL,
    at_ms BIGINT NOT NULL,
    dev_id TEXT COLLATE "C",
    data TEXT NOT NULL
);
CREATE INDEX events_by_device ON events (dev_id, id);
CREATE INDEX events_by_time ON events (at_ms);

-- One row: the newest id given and the newest id pruned. An append
-- updates `newest` first: the row lock makes appends of every node one
-- after the other until they commit, so ids commit in their order and a
-- reader never finds a smaller id after a larger one.
CREATE TABLE event_marks (
    newest BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL
);
INSERT INTO event_marks (newest, pruned_through) VALUES (0, 0);

-- Webhooks: where events are POSTed, the signing secret, the kinds
-- (names, comma-separated; empty: all), the id of the last event
-- delivered, and the lease of the node delivering.
CREATE TABLE webhooks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    kinds TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    cursor BIGINT NOT NULL,
    lease_node TEXT COLLATE "C",
    lease_until_ms BIGINT NOT NULL DEFAULT 0
);
