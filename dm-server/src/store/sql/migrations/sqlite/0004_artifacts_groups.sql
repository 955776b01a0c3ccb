-- dm-server SQL store: artifacts, device groups, device tags and DevInfo
-- values (SQLite). Records are JSON TEXT; times are Unix milliseconds.

-- A device's tags (JSON array, NULL when none) and the DevInfo leaf values
-- the server has seen it report (JSON object, NULL when none).
ALTER TABLE devices ADD COLUMN tags TEXT;
ALTER TABLE devices ADD COLUMN devinfo TEXT;

-- Artifacts by id, as their JSON record.
CREATE TABLE artifacts (
    id TEXT PRIMARY KEY NOT NULL,
    record TEXT NOT NULL
);

-- The content of stored artifacts, in chunks of ARTIFACT_CHUNK bytes
-- (chunk `idx` holds bytes idx * ARTIFACT_CHUNK ..), the last one shorter.
CREATE TABLE artifact_chunks (
    artifact TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (artifact, idx)
);

-- Device groups by id, as their JSON record.
CREATE TABLE device_groups (
    id TEXT PRIMARY KEY NOT NULL,
    record TEXT NOT NULL
);
