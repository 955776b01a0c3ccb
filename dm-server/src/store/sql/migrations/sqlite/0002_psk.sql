-- dm-server SQL store, schema version 2 (SQLite): PSK-TLS credentials of a
-- device (docs/protocol.md section 12). The identity names the device as a
-- certificate does, so it belongs to one device at most; the key is secret.

ALTER TABLE devices ADD COLUMN psk_identity TEXT;
ALTER TABLE devices ADD COLUMN psk_key BLOB;
CREATE UNIQUE INDEX devices_by_psk_identity ON devices (psk_identity);
