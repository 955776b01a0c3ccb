//! Package#0: the binary DM notification (docs/protocol.md section 3.6).
//!
//! A notification is a 2-byte header (VER 4 bits, OC 5 bits option count, 7
//! reserved bits) followed by exactly OC options, each a 4-bit option delta, a
//! 4-bit length (15 means one extension byte follows and the length is 15 plus
//! that byte) and the value. Everything is big-endian.
//!
//! What this module offers, one concept per file:
//!
//! - [`decode`] and [`Received::decode`] read the binary form strictly; every
//!   [`Error::Notification`](crate::Error::Notification) carries the byte offset of the problem.
//! - [`Received::verify_digest`] (or [`verify_digest`]) checks the
//!   SHA256-DIGEST over the bytes exactly as received, without copying them.
//! - [`encode`] and [`encode_signed`] write the binary form (TIMESTAMP always
//!   in 8 bytes).
//! - [`check_timestamp`] and [`NotificationIdWindow`] are the replay defences;
//!   they take the time as an argument and never read a clock.
//! - [`to_json`], [`to_json_string`] and [`from_json`] convert the JSON form
//!   used for display and tooling.
//!
//! A client receiving a notification typically does this:
//!
//! ```
//! use dm_codec::notification::{self, DigestCheck, NotificationIdWindow, Received};
//! use dm_types::{ConnectionType, Notification, ServerId};
//!
//! // The server side, for the example.
//! let secret = b"s3cr3t";
//! let auth_data = b"srv-auth-data";
//! let mut sent = Notification::new(ServerId::new("dm.example.com")?, ConnectionType::Wlan);
//! sent.notification_id = Some(7);
//! sent.timestamp = Some(1_764_000_000);
//! let bytes = notification::encode_signed(&sent, secret, auth_data)?;
//!
//! // The client side.
//! let received = Received::decode(&bytes)?;
//! assert_eq!(received.verify_digest(secret, auth_data), DigestCheck::Valid);
//! let n = received.notification();
//! let timestamp = n.timestamp.ok_or("no TIMESTAMP: this client ignores it")?;
//! notification::check_timestamp(timestamp, 1_764_000_030, 300)?;
//! let id = n.notification_id.ok_or("no NOTIFICATION-ID: this client ignores it")?;
//! let mut seen = NotificationIdWindow::new(4, 64);
//! seen.accept(&n.server_id, id, timestamp, 1_764_000_030, 300)?;
//! // The same notification again is a replay.
//! assert!(seen.accept(&n.server_id, 7, timestamp, 1_764_000_040, 300).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod digest;
mod json;
mod replay;
#[cfg(test)]
mod tests;
mod wire;

pub use digest::{DigestCheck, encode_signed, verify_digest};
pub use json::{MAX_JSON_LEN, from_json, to_json, to_json_string};
pub use replay::{AcceptedId, NotificationIdWindow, Replay, check_timestamp};
pub use wire::{DIGEST_LEN, MAX_OPTION_LEN, Received, decode, encode};
