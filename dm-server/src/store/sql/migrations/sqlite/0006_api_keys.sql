-- dm-server SQL store: API keys of the admin API (SQLite). The record is
-- JSON TEXT with the SHA-256 of the secret, never the secret.

-- API keys by id, as their JSON record.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    record TEXT NOT NULL
);
