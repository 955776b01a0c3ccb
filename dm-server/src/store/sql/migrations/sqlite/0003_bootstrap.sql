-- dm-server SQL store: the bootstrap role (SQLite). Records are JSON TEXT;
-- times are Unix milliseconds.

-- Bootstrap profiles by name, as their JSON form (no secret).
CREATE TABLE bootstrap_profiles (
    name TEXT PRIMARY KEY NOT NULL,
    profile TEXT NOT NULL
);

-- Devices of the bootstrap server: their PSK identity (unique) as a column
-- for the PSK-TLS lookup, the record (bootstrap notification secret, PSK)
-- as JSON.
CREATE TABLE bootstrap_devices (
    dev_id TEXT PRIMARY KEY NOT NULL,
    psk_identity TEXT UNIQUE,
    record TEXT NOT NULL
);

-- Open bootstrap sessions, with the DMAcc data they serve (removed with
-- the session).
CREATE TABLE bootstrap_sessions (
    token TEXT PRIMARY KEY NOT NULL,
    data_token TEXT NOT NULL UNIQUE,
    expires_ms INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX bootstrap_sessions_by_expiry ON bootstrap_sessions (expires_ms);

-- Bootstrap outcomes per device, oldest first (id).
CREATE TABLE bootstrap_outcomes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dev_id TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX bootstrap_outcomes_by_device ON bootstrap_outcomes (dev_id, id);
