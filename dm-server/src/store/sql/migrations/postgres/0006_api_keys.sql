-- dm-server SQL store: API keys of the admin API (PostgreSQL). The record
-- is JSON TEXT with the SHA-256 of the secret, never the secret.

-- API keys by id (byte order), as their JSON record.
CREATE TABLE api_keys (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    record TEXT NOT NULL
);
