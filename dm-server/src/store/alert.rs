//! A generic alert received from a device: [`AlertRecord`].

use serde::{Deserialize, Serialize};

use dm_types::Alert;

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
    /// use dm_types::Alert;
    ///
    /// let record = AlertRecord::new(Alert::client_initiated(), None, 0);
    /// assert_eq!(record.encoded_len(), dm_codec::encode_alert(&record.alert).len());
    /// ```
    pub fn encoded_len(&self) -> usize {
        dm_codec::encode_alert(&self.alert).len()
    }
}
