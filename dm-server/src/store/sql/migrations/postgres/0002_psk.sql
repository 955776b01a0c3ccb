-- dm-server SQL store, schema version 2 (PostgreSQL): PSK-TLS credentials
-- of a device (docs/protocol.md section 12). The identity names the device
-- as a certificate does, so it belongs to one device at most; the key is
-- secret.

ALTER TABLE devices ADD COLUMN psk_identity TEXT COLLATE "C";
ALTER TABLE devices ADD COLUMN psk_key BYTEA;
CREATE UNIQUE INDEX devices_by_psk_identity ON devices (psk_identity);
