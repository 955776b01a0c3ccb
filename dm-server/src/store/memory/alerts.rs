//! Alerts as the store keeps them: their encoded JSON.

use dm_types::{DevId, JsonObject};

use super::{AlertRecord, SessionToken, wire};

/// An alert as kept: its encoded JSON (what [`AlertRecord::encoded_len`]
/// measures), so that what a device's alerts cost is what they are counted.
#[derive(Debug)]
pub(in crate::store) struct StoredAlert {
    pub(in crate::store) received_ms: u64,
    pub(in crate::store) session: Option<SessionToken>,
    pub(in crate::store) encoded: Box<[u8]>,
}

impl StoredAlert {
    /// Encodes an alert, replacing its `Data` by `{"truncated": <bytes>}`
    /// when the encoded form exceeds `max_bytes`; `None` when even that is
    /// too large.
    pub(in crate::store) fn new(
        dev_id: &DevId,
        record: AlertRecord,
        max_bytes: usize,
    ) -> Option<StoredAlert> {
        let mut encoded = dm_codec::encode_alert(&record.alert);
        if encoded.len() > max_bytes {
            let received = encoded.len();
            let mut alert = record.alert;
            let mut marker = JsonObject::new();
            marker.insert("truncated".to_owned(), received.into());
            alert.data = Some(marker);
            encoded = dm_codec::encode_alert(&alert);
            if encoded.len() > max_bytes {
                tracing::warn!(
                    %dev_id,
                    alert_type = %alert.alert_type.as_str(),
                    bytes = received,
                    max_bytes,
                    "alert too large even without its Data: not stored"
                );
                return None;
            }
            tracing::warn!(
                %dev_id,
                alert_type = %alert.alert_type.as_str(),
                bytes = received,
                max_bytes,
                "alert too large: stored with its Data truncated"
            );
        }
        Some(StoredAlert {
            received_ms: record.received_ms,
            session: record.session,
            encoded: encoded.into_boxed_slice(),
        })
    }

    /// The record, decoded (`None` if the bytes no longer decode, which the
    /// encoder never lets happen).
    pub(in crate::store) fn record(&self) -> Option<AlertRecord> {
        let alert = dm_codec::decode_alert(&self.encoded, &wire::stored_limits()).ok()?;
        Some(AlertRecord::new(alert, self.session, self.received_ms))
    }
}
