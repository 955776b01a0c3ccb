-- dm-server SQL store, schema version 1 (SQLite).
--
-- A registered device is one `devices` row and nothing else until it has
-- activity (commands, alerts, sessions, cached instances, nonces). Times are
-- Unix milliseconds; booleans are 0 and 1; JSON is TEXT. Ids are never reused
-- (AUTOINCREMENT).

-- A device: its registration, notification state, latest session summaries
-- (JSON, latest first), MO inventory (JSON) and its per-device counters.
CREATE TABLE devices (
    dev_id TEXT PRIMARY KEY NOT NULL,
    registered_ms INTEGER NOT NULL,
    username TEXT UNIQUE,
    ha1_sha256 BLOB,
    ha1_md5 BLOB,
    certificate BLOB UNIQUE,
    notification_address TEXT,
    notification_secret BLOB,
    notification_auth_data BLOB,
    last_notification_id INTEGER,
    sessions TEXT,
    mos TEXT,
    -- How many of its commands finished so far: numbers them in the order
    -- they finished (`commands.finished`).
    finished_commands INTEGER NOT NULL DEFAULT 0,
    -- The issue time of the newest Digest nonce it forgot.
    digest_floor_ms INTEGER NOT NULL DEFAULT 0
);

-- Commands: pending ones (`finished` NULL) in queue order (id), finished
-- ones in the order they finished (`finished`, per device).
CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dev_id TEXT NOT NULL REFERENCES devices (dev_id) ON DELETE CASCADE,
    command TEXT NOT NULL,
    state TEXT NOT NULL,
    session BLOB,
    result TEXT,
    from_cache INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    queued_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    finished INTEGER
);
CREATE INDEX commands_by_device ON commands (dev_id, finished, id);

-- Alerts as their encoded JSON, oldest first (id).
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dev_id TEXT NOT NULL REFERENCES devices (dev_id) ON DELETE CASCADE,
    received_ms INTEGER NOT NULL,
    session BLOB,
    encoded BLOB NOT NULL
);
CREATE INDEX alerts_by_device ON alerts (dev_id, id);

-- Open sessions: the record as JSON, its version and deadline as columns;
-- a device's open sessions oldest first (id).
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token BLOB NOT NULL UNIQUE,
    dev_id TEXT NOT NULL REFERENCES devices (dev_id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    deadline_ms INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX sessions_by_device ON sessions (dev_id, id);
CREATE INDEX sessions_by_deadline ON sessions (deadline_ms);

-- MO instances kept for caching, as their MO serialization, least recently
-- received first (id).
CREATE TABLE cached_instances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dev_id TEXT NOT NULL REFERENCES devices (dev_id) ON DELETE CASCADE,
    moid TEXT NOT NULL,
    miid TEXT NOT NULL,
    encoded BLOB NOT NULL,
    UNIQUE (dev_id, moid, miid)
);

-- The Digest nonces a device used most recently, with their highest count.
CREATE TABLE digest_nonces (
    dev_id TEXT NOT NULL REFERENCES devices (dev_id) ON DELETE CASCADE,
    nonce TEXT NOT NULL,
    issued_ms INTEGER NOT NULL,
    last_nc INTEGER NOT NULL,
    PRIMARY KEY (dev_id, nonce)
) WITHOUT ROWID;

-- Repository objects; `owner` is the owning device, NULL for the server.
CREATE TABLE objects (
    path TEXT PRIMARY KEY NOT NULL,
    owner TEXT,
    body TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX objects_by_owner ON objects (owner) WHERE owner IS NOT NULL;

-- Store-wide counters: `open_sessions`, counted and changed in the same
-- statement as a session is opened.
CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('open_sessions', 0);

-- Store-wide secrets: `server_key`.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;
