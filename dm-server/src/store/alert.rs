//! A generic alert received from a device: [`AlertRecord`], and the
//! encoded form the stores keep it in (`StoredAlert`).

use serde::{Deserialize, Serialize};

use dm_types::{Alert, DevId, JsonObject};

use super::{SessionToken, wire};

/// A generic alert received from a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlertRecord {
    /// When it arrived (Unix milliseconds).
    pub received_ms: u64,
    /// The session it came in.
    pub session: Option<SessionToken>,
    /// The alert.
    #[serde(with = "wire::alert")]
    pub alert: Alert,
}

impl AlertRecord {
    /// An alert received at `received_ms` in `session`.
    pub fn new(alert: Alert, session: Option<SessionToken>, received_ms: u64) -> AlertRecord {
        AlertRecord {
            received_ms,
            session,
            alert,
        }
    }

    /// The size of the alert's encoded JSON (as `dm_codec::encode_alert`
    /// writes it): what stores count against a byte budget.
    ///
    /// ```
    /// use dm_server::AlertRecord;
    /// use dm_types::{Alert, DevId, JsonObject};
    ///
    /// let record = AlertRecord::new(Alert::client_initiated(), None, 0);
    /// assert_eq!(record.encoded_len(), dm_codec::encode_alert(&record.alert).len());
    /// ```
    pub fn encoded_len(&self) -> usize {
        dm_codec::encode_alert(&self.alert).len()
    }
}

/// An alert as kept: its encoded JSON (what [`AlertRecord::encoded_len`]
/// measures), so that what a device's alerts cost is what they are counted.
#[derive(Debug)]
pub(super) struct StoredAlert {
    pub(super) received_ms: u64,
    pub(super) session: Option<SessionToken>,
    pub(super) encoded: Box<[u8]>,
}

impl StoredAlert {
    /// Encodes an alert, replacing its `Data` by `{"truncated": <bytes>}`
    /// when the encoded form exceeds `max_bytes`; `None` when even that is
    /// too large.
    pub(super) fn new(
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
    pub(super) fn record(&self) -> Option<AlertRecord> {
        let alert = dm_codec::decode_alert(&self.encoded, &wire::stored_limits()).ok()?;
        Some(AlertRecord::new(alert, self.session, self.received_ms))
    }
}
