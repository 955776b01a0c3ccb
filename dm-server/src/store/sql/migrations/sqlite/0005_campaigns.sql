-- dm-server SQL store: campaigns (SQLite). Records are JSON TEXT; times are
-- Unix milliseconds; ids are never reused (AUTOINCREMENT).

-- A campaign: what was asked (spec, JSON), where it stands (status as
-- JSON, `finished` 1 once cancelled or completed, current stage), its
-- version (bumped by every change of status or stage) and the lease of
-- the node driving it.
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0,
    stage INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    lease_node TEXT,
    lease_until_ms INTEGER NOT NULL DEFAULT 0
);

-- One row per device of a campaign. No reference to `devices`: a removed
-- device's rows stay (history). `state` is the state's name, `commands`
-- the JSON array of the ids queued for the current attempt.
CREATE TABLE campaign_devices (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    dev_id TEXT NOT NULL,
    stage INTEGER NOT NULL,
    state TEXT NOT NULL,
    result INTEGER,
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    commands TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, dev_id)
) WITHOUT ROWID;
-- The driver's every tick: the due rows (pending, by stage, then
-- next attempt, then DevID) and the counts per stage and state.
CREATE INDEX campaign_devices_due
    ON campaign_devices (campaign_id, state, stage, next_attempt_ms, dev_id);
-- The rows in flight that stopped moving.
CREATE INDEX campaign_devices_stale ON campaign_devices (campaign_id, state, updated_ms);
-- A device's rows in every campaign (the campaign it is in now).
CREATE INDEX campaign_devices_by_device ON campaign_devices (dev_id, campaign_id);
