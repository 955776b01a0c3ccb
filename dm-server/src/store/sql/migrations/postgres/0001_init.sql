-- dm-server SQL store, schema version 1 (PostgreSQL).
--
-- A registered device is one `devices` row and nothing else until it has
-- activity (commands, alerts, sessions, cached instances, nonces). Times are
-- Unix milliseconds; booleans are 0 and 1; JSON is TEXT. Ids are never reused
-- (identity columns, never cycled).

-- A device: its registration, notification state, latest session summaries
-- (JSON, latest first), MO inventory (JSON) and its per-device counters.
CREATE TABLE devices (
    dev_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    registered_ms BIGINT NOT NULL,
    username TEXT UNIQUE,
    ha1_sha256 BYTEA,
    ha1_md5 BYTEA,
    certificate BYTEA UNIQUE,
    notification_address TEXT,
    notification_secret BYTEA,
    notification_auth_data BYTEA,
    last_notification_id BIGINT,
    sessions TEXT,
    mos TEXT,
    -- How many of its commands finished so far: numbers them in the order
    -- they finished (`commands.finished`).
    finished_commands BIGINT NOT NULL DEFAULT 0,
    -- The issue time of the newest Digest nonce it forgot.
    digest_floor_ms BIGINT NOT NULL DEFAULT 0
);

-- Commands: pending ones (`finished` NULL) in queue order (id), finished
-- ones in the order they finished (`finished`, per device).
CREATE TABLE commands (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dev_id TEXT COLLATE "C" NOT NULL REFERENCES devices (dev_id) ON DELETE CASCADE,
    command TEXT NOT NULL,
    state TEXT NOT NULL,
    session BYTEA,
    result TEXT,
    from_cache BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    queued_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    finished BIGINT
);
CREATE INDEX commands_by_device ON commands (dev_id, finished, id);

-- Alerts as their encoded JSON, oldest first (id).
CREATE TABLE alerts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dev_id TEXT COLLATE "C" NOT NULL REFERENCES devices (dev_id) ON DELETE CASCADE,
    received_ms BIGINT NOT NULL,
    session BYTEA,
    encoded BYTEA NOT NULL
);
CREATE INDEX alerts_by_device ON alerts (dev_id, id);

-- Open sessions: the record as JSON, its version and deadline as columns;
-- a device's open sessions oldest first (id).
CREATE TABLE sessions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token BYTEA NOT NULL UNIQUE,
    dev_id TEXT COLLATE "C" NOT NULL REFERENCES devices (dev_id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    deadline_ms BIGINT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX sessions_by_device ON sessions (dev_id, id);
CREATE INDEX sessions_by_deadline ON sessions (deadline_ms);

-- MO instances kept for caching, as their MO serialization, least recently
-- received first (id).
CREATE TABLE cached_instances (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dev_id TEXT COLLATE "C" NOT NULL REFERENCES devices (dev_id) ON DELETE CASCADE,
    moid TEXT NOT NULL,
    miid TEXT NOT NULL,
    encoded BYTEA NOT NULL,
    UNIQUE (dev_id, moid, miid)
);

-- The Digest nonces a device used most recently, with their highest count.
CREATE TABLE digest_nonces (
    dev_id TEXT COLLATE "C" NOT NULL REFERENCES devices (dev_id) ON DELETE CASCADE,
    nonce TEXT NOT NULL,
    issued_ms BIGINT NOT NULL,
    last_nc BIGINT NOT NULL,
    PRIMARY KEY (dev_id, nonce)
);

-- Repository objects; `owner` is the owning device, NULL for the server.
CREATE TABLE objects (
    path TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    owner TEXT COLLATE "C",
    body TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX objects_by_owner ON objects (owner) WHERE owner IS NOT NULL;

-- Store-wide counters: `open_sessions`, counted and changed in the same
-- statement as a session is opened.
CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('open_sessions', 0);

-- Store-wide secrets: `server_key`.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value BYTEA NOT NULL
);
