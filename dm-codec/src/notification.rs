//! Package#0: the binary DM notification (docs/protocol.md section 3.6).
//!
//! A notification is a 2-byte header (VER 4 bits, OC 5 bits option count, 7
//! reserved bits) followed by exactly OC options, each a 4-bit option delta, a
//! 4-bit length (15 means one extension byte follows and the length is 15 plus
//! that byte) and the value. Everything is big-endian.
//!
//! What this module offers:
//!
//! - [`decode`] and [`Received::decode`] read the binary form strictly; every
//!   [`Error::Notification`] carries the byte offset of the problem.
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

use std::collections::HashSet;
use std::fmt;

use dm_types::{ConnectionType, NOTIFICATION_VERSION, Notification, ServerId};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use sha2::{Digest as _, Sha256};

use crate::Error;

/// Option number of SERVER-ID.
const OPT_SERVER_ID: u16 = 1;
/// Option number of PREFERRED-CON-TYPE.
const OPT_CON_TYPE: u16 = 2;
/// Option number of NOTIFICATION-ID.
const OPT_NOTIFICATION_ID: u16 = 3;
/// Option number of SHA256-DIGEST.
const OPT_DIGEST: u16 = 4;
/// Option number of TIMESTAMP.
const OPT_TIMESTAMP: u16 = 5;
/// Option number of REQ-MOS.
const OPT_REQ_MOS: u16 = 6;

/// Length of the SHA256-DIGEST option value.
///
/// ```
/// use dm_codec::notification::DIGEST_LEN;
///
/// let digest: Option<[u8; DIGEST_LEN]> = None;
/// assert_eq!(DIGEST_LEN, 32);
/// # let _ = digest;
/// ```
pub const DIGEST_LEN: usize = 32;

/// Longest option value the format can express: a length nibble of 15 plus
/// an extension byte of 255. It bounds SERVER-ID (and unknown options).
///
/// ```
/// use dm_codec::notification::MAX_OPTION_LEN;
///
/// assert_eq!(MAX_OPTION_LEN, dm_types::MAX_SERVER_ID_LEN);
/// ```
pub const MAX_OPTION_LEN: usize = 15 + 255;

/// Largest JSON form [`from_json`] reads, in bytes. A notification's JSON
/// form is far smaller (a 270-byte SERVER-ID written entirely with `\u`
/// escapes stays under 2 KiB); the rest is room for unknown members.
///
/// ```
/// use dm_codec::notification::{self, MAX_JSON_LEN};
///
/// let huge = vec![b' '; MAX_JSON_LEN + 1];
/// assert!(matches!(notification::from_json(&huge), Err(dm_codec::Error::TooLarge { .. })));
/// ```
pub const MAX_JSON_LEN: usize = 16 * 1024;

fn error(offset: usize, reason: &'static str) -> Error {
    Error::Notification { offset, reason }
}

/// A decoded notification together with the bytes it was decoded from, so
/// that its digest can be checked over exactly what was received.
///
/// ```
/// use dm_codec::notification::{DigestCheck, Received};
///
/// // VER 1, 2 options: SERVER-ID "a", PREFERRED-CON-TYPE 0.
/// let bytes = [0x11, 0x00, 0x11, b'a', 0x11, 0x00];
/// let received = Received::decode(&bytes)?;
/// assert_eq!(received.notification().server_id, "a");
/// assert_eq!(received.digest_offset(), None);
/// assert_eq!(received.verify_digest(b"secret", b""), DigestCheck::Missing);
/// # Ok::<(), dm_codec::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received<'a> {
    bytes: &'a [u8],
    notification: Notification,
    digest_offset: Option<usize>,
}

impl<'a> Received<'a> {
    /// Decodes `bytes` (see [`decode`] for the rules) and keeps them for
    /// [`Received::verify_digest`].
    ///
    /// ```
    /// use dm_codec::notification::Received;
    ///
    /// let err = Received::decode(&[0x11, 0x00, 0x11, b'a']).unwrap_err();
    /// assert_eq!(err.offset(), Some(4));
    /// ```
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        let fields = parse(bytes)?;
        let digest_offset = fields.digest_offset;
        Ok(Received {
            bytes,
            notification: fields.into_notification()?,
            digest_offset,
        })
    }

    /// The decoded notification.
    ///
    /// ```
    /// use dm_codec::notification::Received;
    /// use dm_types::ConnectionType;
    ///
    /// let received = Received::decode(&[0x11, 0x00, 0x11, b'a', 0x11, 0x03])?;
    /// assert_eq!(received.notification().preferred_con_type, ConnectionType::Wireline);
    /// # Ok::<(), dm_codec::Error>(())
    /// ```
    pub fn notification(&self) -> &Notification {
        &self.notification
    }

    /// The decoded notification, dropping the bytes.
    ///
    /// ```
    /// use dm_codec::notification::Received;
    ///
    /// let n = Received::decode(&[0x11, 0x00, 0x11, b'a', 0x11, 0x00])?.into_notification();
    /// assert!(!n.req_mos);
    /// # Ok::<(), dm_codec::Error>(())
    /// ```
    pub fn into_notification(self) -> Notification {
        self.notification
    }

    /// The bytes the notification was decoded from.
    ///
    /// ```
    /// use dm_codec::notification::Received;
    ///
    /// let bytes = [0x11, 0x00, 0x11, b'a', 0x11, 0x00];
    /// assert_eq!(Received::decode(&bytes)?.bytes(), &bytes);
    /// # Ok::<(), dm_codec::Error>(())
    /// ```
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Offset of the SHA256-DIGEST option's 32-byte value in
    /// [`Received::bytes`], when the option is present.
    ///
    /// ```
    /// use dm_codec::notification::{self, Received};
    /// use dm_types::{ConnectionType, Notification, ServerId};
    ///
    /// let mut n = Notification::new(ServerId::new("a")?, ConnectionType::Any);
    /// n.digest = Some([0xab; 32]);
    /// let bytes = notification::encode(&n)?;
    /// let offset = Received::decode(&bytes)?.digest_offset().unwrap_or(0);
    /// assert_eq!(offset, 8);
    /// assert_eq!(&bytes[offset..offset + 32], &[0xab; 32]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn digest_offset(&self) -> Option<usize> {
        self.digest_offset
    }

    /// Checks the SHA256-DIGEST: it must equal
    /// `SHA-256(secret || bytes with the digest value zeroed || auth_data)`,
    /// computed over the bytes as received (reserved bits, unknown options
    /// and a 4-byte TIMESTAMP included). The comparison takes the same time
    /// wherever the digests differ.
    ///
    /// `secret` and `auth_data` are the server's DMAcc `Auth/Noti/Secret` and
    /// `Auth/Noti/Data`. Policy (docs/protocol.md section 3.6): a client whose
    /// DMAcc has a secret ignores anything but [`DigestCheck::Valid`]; one
    /// whose DMAcc has no `Auth/Noti` ignores a notification that carries a
    /// digest.
    ///
    /// ```
    /// use dm_codec::notification::{self, DigestCheck, Received};
    /// use dm_types::{ConnectionType, Notification, ServerId};
    ///
    /// let mut n = Notification::new(ServerId::new("dm.example")?, ConnectionType::Any);
    /// n.notification_id = Some(1);
    /// n.timestamp = Some(1_764_000_000);
    /// let bytes = notification::encode_signed(&n, b"key", b"data")?;
    /// let received = Received::decode(&bytes)?;
    /// assert_eq!(received.verify_digest(b"key", b"data"), DigestCheck::Valid);
    /// assert_eq!(received.verify_digest(b"other", b"data"), DigestCheck::Invalid);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_digest(&self, secret: &[u8], auth_data: &[u8]) -> DigestCheck {
        check_digest(
            self.bytes,
            self.digest_offset,
            self.notification.digest,
            secret,
            auth_data,
        )
    }
}

/// Compares the received digest with the one computed over `bytes`.
fn check_digest(
    bytes: &[u8],
    digest_offset: Option<usize>,
    digest: Option<[u8; DIGEST_LEN]>,
    secret: &[u8],
    auth_data: &[u8],
) -> DigestCheck {
    let (Some(offset), Some(received)) = (digest_offset, digest) else {
        return DigestCheck::Missing;
    };
    match digest_over(bytes, offset, secret, auth_data) {
        Some(computed) if digests_equal(&computed, &received) => DigestCheck::Valid,
        _ => DigestCheck::Invalid,
    }
}

/// The outcome of checking a notification's SHA256-DIGEST.
///
/// ```
/// use dm_codec::notification::DigestCheck;
///
/// assert!(DigestCheck::Valid.is_valid());
/// assert!(!DigestCheck::Missing.is_valid());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestCheck {
    /// The digest is present and verifies.
    Valid,
    /// The digest is present and does not verify (wrong secret or auth data,
    /// or bytes changed on the way).
    Invalid,
    /// The notification has no SHA256-DIGEST option. A client with a
    /// secret must treat this as a failure: changing one option delta can
    /// turn the digest and the options after it into skipped unknown
    /// options, so a missing digest proves nothing.
    Missing,
}

impl DigestCheck {
    /// Whether the digest is present and verifies.
    ///
    /// ```
    /// use dm_codec::notification::DigestCheck;
    ///
    /// assert!(!DigestCheck::Invalid.is_valid());
    /// ```
    pub fn is_valid(self) -> bool {
        self == DigestCheck::Valid
    }
}

/// Decodes a binary Package#0 notification (docs/protocol.md section 3.6).
///
/// Rules: VER must be 1; the 7 reserved bits are ignored; exactly OC options
/// follow and nothing after them; option numbers strictly increase from 1
/// (a delta of 0 is invalid); options above 6 are skipped but their length is
/// still checked; SERVER-ID (1..270 bytes of UTF-8 without control
/// characters) and PREFERRED-CON-TYPE (1 byte, 0..3) are mandatory;
/// NOTIFICATION-ID is 2 bytes, SHA256-DIGEST 32, TIMESTAMP 4 or 8, REQ-MOS 0.
///
/// Errors are [`Error::Notification`] with the offset where reading stopped:
/// the option's first byte for a wrong length or delta, the offending value
/// byte for a bad value, the end of the input for a truncation or a missing
/// mandatory option.
///
/// To check the digest as well, use [`Received::decode`].
///
/// ```
/// use dm_codec::notification;
/// use dm_types::ConnectionType;
///
/// // VER 1, OC 3: SERVER-ID "dm", PREFERRED-CON-TYPE 2, REQ-MOS.
/// let n = notification::decode(&[0x11, 0x80, 0x12, b'd', b'm', 0x11, 0x02, 0x40])?;
/// assert_eq!(n.server_id, "dm");
/// assert_eq!(n.preferred_con_type, ConnectionType::Wlan);
/// assert!(n.req_mos);
///
/// // A PREFERRED-CON-TYPE of 9: the error points at the value byte.
/// let err = notification::decode(&[0x11, 0x00, 0x12, b'd', b'm', 0x11, 0x09]).unwrap_err();
/// assert_eq!(err.offset(), Some(6));
/// # Ok::<(), dm_codec::Error>(())
/// ```
pub fn decode(bytes: &[u8]) -> Result<Notification, Error> {
    parse(bytes)?.into_notification()
}

/// Verifies the digest of received `bytes` in one call: decodes them and
/// applies [`Received::verify_digest`].
///
/// ```
/// use dm_codec::notification::{self, DigestCheck};
/// use dm_types::{ConnectionType, Notification, ServerId};
///
/// let mut n = Notification::new(ServerId::new("dm.example")?, ConnectionType::Cellular);
/// n.notification_id = Some(9);
/// n.timestamp = Some(1_764_000_000);
/// let mut bytes = notification::encode_signed(&n, b"key", b"")?;
/// assert_eq!(notification::verify_digest(&bytes, b"key", b"")?, DigestCheck::Valid);
/// // Any changed byte breaks the digest. Byte 14 is the PREFERRED-CON-TYPE
/// // value (2 header bytes, SERVER-ID in 1 + 10 bytes, then its option head).
/// assert_eq!(bytes[14], 0x01);
/// bytes[14] = 0x03;
/// assert_eq!(notification::verify_digest(&bytes, b"key", b"")?, DigestCheck::Invalid);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify_digest(bytes: &[u8], secret: &[u8], auth_data: &[u8]) -> Result<DigestCheck, Error> {
    // Validates the whole notification without building it (no allocation).
    let fields = parse(bytes)?;
    Ok(check_digest(
        bytes,
        fields.digest_offset,
        fields.digest,
        secret,
        auth_data,
    ))
}

/// The fields of a checked notification, borrowed from its bytes.
struct Fields<'a> {
    server_id: &'a str,
    preferred_con_type: ConnectionType,
    notification_id: Option<u16>,
    digest: Option<[u8; DIGEST_LEN]>,
    digest_offset: Option<usize>,
    timestamp: Option<u64>,
    req_mos: bool,
}

impl Fields<'_> {
    fn into_notification(self) -> Result<Notification, Error> {
        // `parse_server_id` applied the ServerID rules already.
        let server_id = ServerId::new(self.server_id)
            .map_err(|_| error(2, "SERVER-ID is not a valid ServerID"))?;
        Ok(Notification {
            version: NOTIFICATION_VERSION,
            server_id,
            preferred_con_type: self.preferred_con_type,
            notification_id: self.notification_id,
            digest: self.digest,
            timestamp: self.timestamp,
            req_mos: self.req_mos,
        })
    }
}

/// Reads and checks every field, and the offset of the digest value.
fn parse(bytes: &[u8]) -> Result<Fields<'_>, Error> {
    let [first, second, ..] = *bytes else {
        return Err(error(
            bytes.len(),
            "truncated header: a notification starts with 2 bytes",
        ));
    };
    if first >> 4 != NOTIFICATION_VERSION {
        return Err(error(0, "unknown notification version"));
    }
    let count = ((first & 0x0f) << 1) | (second >> 7);

    let mut server_id = None;
    let mut con_type = None;
    let mut notification_id = None;
    let mut digest = None;
    let mut digest_offset = None;
    let mut timestamp = None;
    let mut req_mos = false;

    let mut pos = 2;
    let mut number: u16 = 0;
    for index in 0..count {
        let option_start = pos;
        let Some(&head) = bytes.get(pos) else {
            return Err(error(pos, "truncated: fewer options than the option count"));
        };
        let delta = u16::from(head >> 4);
        if delta == 0 {
            return Err(error(
                pos,
                if index == 0 {
                    "option number 0 is invalid (first option delta is 0)"
                } else {
                    "option repeated (option delta 0)"
                },
            ));
        }
        number += delta;
        pos += 1;
        let mut length = usize::from(head & 0x0f);
        if length == 15 {
            let Some(&extension) = bytes.get(pos) else {
                return Err(error(pos, "truncated: extended length byte missing"));
            };
            length += usize::from(extension);
            pos += 1;
        }
        let value_start = pos;
        let Some(value) = bytes.get(value_start..value_start + length) else {
            return Err(error(
                bytes.len(),
                "truncated: option value runs past the end of the input",
            ));
        };
        pos += length;

        match number {
            OPT_SERVER_ID => {
                server_id = Some(parse_server_id(value, option_start, value_start)?);
            }
            OPT_CON_TYPE => {
                let [byte] = *value else {
                    return Err(error(option_start, "PREFERRED-CON-TYPE must be 1 byte"));
                };
                let Some(parsed) = ConnectionType::from_byte(byte) else {
                    return Err(error(value_start, "PREFERRED-CON-TYPE must be 0 to 3"));
                };
                con_type = Some(parsed);
            }
            OPT_NOTIFICATION_ID => {
                let [high, low] = *value else {
                    return Err(error(option_start, "NOTIFICATION-ID must be 2 bytes"));
                };
                notification_id = Some(u16::from_be_bytes([high, low]));
            }
            OPT_DIGEST => {
                let Ok(value) = <[u8; DIGEST_LEN]>::try_from(value) else {
                    return Err(error(option_start, "SHA256-DIGEST must be 32 bytes"));
                };
                digest = Some(value);
                digest_offset = Some(value_start);
            }
            OPT_TIMESTAMP => {
                timestamp = Some(if let Ok(four) = <[u8; 4]>::try_from(value) {
                    u64::from(u32::from_be_bytes(four))
                } else if let Ok(eight) = <[u8; 8]>::try_from(value) {
                    u64::from_be_bytes(eight)
                } else {
                    return Err(error(option_start, "TIMESTAMP must be 4 or 8 bytes"));
                });
            }
            OPT_REQ_MOS => {
                if !value.is_empty() {
                    return Err(error(option_start, "REQ-MOS must be empty"));
                }
                req_mos = true;
            }
            // Above 6: a later version's option, skipped.
            _ => {}
        }
    }
    if pos != bytes.len() {
        return Err(error(pos, "trailing bytes after the last option"));
    }
    let Some(server_id) = server_id else {
        return Err(error(pos, "SERVER-ID is missing"));
    };
    let Some(preferred_con_type) = con_type else {
        return Err(error(pos, "PREFERRED-CON-TYPE is missing"));
    };
    Ok(Fields {
        server_id,
        preferred_con_type,
        notification_id,
        digest,
        digest_offset,
        timestamp,
        req_mos,
    })
}

/// Checks the ServerID rules (non-empty, UTF-8, no control characters; the
/// option length already bounds it to 270 bytes) without allocating.
fn parse_server_id(value: &[u8], option_start: usize, value_start: usize) -> Result<&str, Error> {
    if value.is_empty() {
        return Err(error(option_start, "SERVER-ID must not be empty"));
    }
    let text = std::str::from_utf8(value).map_err(|e| {
        error(
            value_start + e.valid_up_to(),
            "SERVER-ID is not valid UTF-8",
        )
    })?;
    if let Some((at, _)) = text.char_indices().find(|(_, c)| c.is_control()) {
        return Err(error(
            value_start + at,
            "SERVER-ID contains a control character",
        ));
    }
    Ok(text)
}

/// `SHA-256(secret || bytes with the 32 bytes at digest_offset zeroed ||
/// auth_data)`, hashing the slices around the digest; `None` when the digest
/// does not fit in `bytes`.
fn digest_over(
    bytes: &[u8],
    digest_offset: usize,
    secret: &[u8],
    auth_data: &[u8],
) -> Option<[u8; DIGEST_LEN]> {
    let end = digest_offset.checked_add(DIGEST_LEN)?;
    let before = bytes.get(..digest_offset)?;
    let after = bytes.get(end..)?;
    let mut hasher = Sha256::new();
    hasher.update(secret);
    // Typical notifications fit a small stack copy: one update instead of three.
    let mut copy = [0u8; 512];
    if let Some(message) = copy.get_mut(..bytes.len()) {
        message[..digest_offset].copy_from_slice(before);
        message[end..].copy_from_slice(after);
        hasher.update(message);
    } else {
        hasher.update(before);
        hasher.update([0u8; DIGEST_LEN]);
        hasher.update(after);
    }
    hasher.update(auth_data);
    Some(hasher.finalize().into())
}

/// Compares two digests without stopping at the first difference.
fn digests_equal(a: &[u8; DIGEST_LEN], b: &[u8; DIGEST_LEN]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// Encodes a notification in the binary form: options in increasing number,
/// absent ones left out, TIMESTAMP always in 8 bytes, reserved bits zero. The
/// digest, when present, is written as given (see [`encode_signed`] to
/// compute it).
///
/// Fails with [`Error::Notification`] (offset 0) when `version` is not
/// [`NOTIFICATION_VERSION`].
///
/// ```
/// use dm_codec::notification;
/// use dm_types::{ConnectionType, Notification, ServerId};
///
/// let mut n = Notification::new(ServerId::new("dm")?, ConnectionType::Wlan);
/// n.req_mos = true;
/// let bytes = notification::encode(&n)?;
/// assert_eq!(bytes, [0x11, 0x80, 0x12, b'd', b'm', 0x11, 0x02, 0x40]);
/// assert_eq!(notification::decode(&bytes)?, n);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode(notification: &Notification) -> Result<Vec<u8>, Error> {
    encode_with_digest(notification, notification.digest).map(|(bytes, _)| bytes)
}

/// Encodes a notification the way a server sends it: with a SHA256-DIGEST
/// computed as `SHA-256(secret || notification with the digest zeroed ||
/// auth_data)`. `secret` and `auth_data` are the device's DMAcc
/// `Auth/Noti/Secret` and `Auth/Noti/Data`.
///
/// A server always sends NOTIFICATION-ID and TIMESTAMP with the digest, and
/// this function does not invent them (it knows neither the clock nor the
/// server's id sequence): it fails with [`Error::Notification`] (offset 0)
/// when either is `None`, or when `version` is unknown. Any `digest` already
/// in `notification` is replaced.
///
/// ```
/// use dm_codec::notification::{self, DigestCheck};
/// use dm_types::{ConnectionType, Notification, ServerId};
///
/// let mut n = Notification::new(ServerId::new("dm.example")?, ConnectionType::Any);
/// assert!(notification::encode_signed(&n, b"key", b"").is_err());
/// n.notification_id = Some(0x1234);
/// n.timestamp = Some(1_764_000_000);
/// let bytes = notification::encode_signed(&n, b"key", b"")?;
/// assert_eq!(notification::verify_digest(&bytes, b"key", b"")?, DigestCheck::Valid);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_signed(
    notification: &Notification,
    secret: &[u8],
    auth_data: &[u8],
) -> Result<Vec<u8>, Error> {
    if notification.notification_id.is_none() {
        return Err(error(0, "a signed notification needs a NOTIFICATION-ID"));
    }
    if notification.timestamp.is_none() {
        return Err(error(0, "a signed notification needs a TIMESTAMP"));
    }
    let (mut bytes, digest_offset) = encode_with_digest(notification, Some([0; DIGEST_LEN]))?;
    // encode_with_digest wrote 32 zero bytes at `offset`, so both steps
    // succeed; the error only keeps this function free of panics.
    let written = digest_offset.and_then(|offset| {
        let digest = digest_over(&bytes, offset, secret, auth_data)?;
        bytes
            .get_mut(offset..offset + DIGEST_LEN)?
            .copy_from_slice(&digest);
        Some(())
    });
    written.ok_or_else(|| error(0, "internal error: digest slot missing"))?;
    Ok(bytes)
}

/// Writes the binary form with `digest` as the SHA256-DIGEST value; returns
/// the bytes and the offset of the digest value.
fn encode_with_digest(
    notification: &Notification,
    digest: Option<[u8; DIGEST_LEN]>,
) -> Result<(Vec<u8>, Option<usize>), Error> {
    if notification.version != NOTIFICATION_VERSION {
        return Err(error(0, "unknown notification version"));
    }
    let mut writer = Writer {
        // Header + the largest value of every option with its head bytes.
        bytes: Vec::with_capacity(2 + (2 + MAX_OPTION_LEN) + 2 + 3 + 2 + DIGEST_LEN + 9 + 1),
        last: 0,
        count: 0,
    };
    writer.bytes.extend_from_slice(&[0, 0]);
    writer.option(OPT_SERVER_ID, notification.server_id.as_str().as_bytes())?;
    writer.option(OPT_CON_TYPE, &[notification.preferred_con_type as u8])?;
    if let Some(id) = notification.notification_id {
        writer.option(OPT_NOTIFICATION_ID, &id.to_be_bytes())?;
    }
    let mut digest_offset = None;
    if let Some(digest) = &digest {
        digest_offset = Some(writer.option(OPT_DIGEST, digest)?);
    }
    if let Some(timestamp) = notification.timestamp {
        writer.option(OPT_TIMESTAMP, &timestamp.to_be_bytes())?;
    }
    if notification.req_mos {
        writer.option(OPT_REQ_MOS, &[])?;
    }
    let Writer {
        mut bytes, count, ..
    } = writer;
    if let [first, second, ..] = bytes.as_mut_slice() {
        *first = (NOTIFICATION_VERSION << 4) | (count >> 1);
        *second = (count & 1) << 7;
    }
    Ok((bytes, digest_offset))
}

/// Appends options in increasing number.
struct Writer {
    bytes: Vec<u8>,
    last: u16,
    count: u8,
}

impl Writer {
    /// Appends one option (numbers 1..6, increasing); returns the offset of
    /// its value.
    fn option(&mut self, number: u16, value: &[u8]) -> Result<usize, Error> {
        let delta = number
            .checked_sub(self.last)
            .and_then(|d| u8::try_from(d).ok())
            .filter(|d| (1..15).contains(d))
            .ok_or_else(|| error(0, "internal error: options out of order"))?;
        let length = value.len();
        if length < 15 {
            // length < 15 fits in the low nibble.
            let nibble = u8::try_from(length).unwrap_or(0);
            self.bytes.push((delta << 4) | nibble);
        } else {
            let extension = u8::try_from(length - 15)
                .map_err(|_| error(self.bytes.len(), "option value longer than 270 bytes"))?;
            self.bytes.push((delta << 4) | 15);
            self.bytes.push(extension);
        }
        let offset = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.last = number;
        self.count += 1;
        Ok(offset)
    }
}

/// Why a notification is taken for a replay (docs/protocol.md sections 3.6 and
/// 12). A client ignores such a notification; it is not a decoding error and
/// nothing is reported to the server, hence a type of its own rather than an
/// [`Error`] variant.
///
/// ```
/// use dm_codec::notification::{check_timestamp, Replay};
///
/// assert_eq!(check_timestamp(100, 500, 60), Err(Replay::TooOld { age_secs: 400 }));
/// assert_eq!(Replay::TooOld { age_secs: 400 }.to_string(), "TIMESTAMP is 400 s old, outside the window");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Replay {
    /// The TIMESTAMP is older than the acceptance window.
    #[error("TIMESTAMP is {age_secs} s old, outside the window")]
    TooOld {
        /// How many seconds before `now` the TIMESTAMP lies.
        age_secs: u64,
    },
    /// The TIMESTAMP lies further in the future than the window allows.
    #[error("TIMESTAMP is {ahead_secs} s in the future, outside the window")]
    InFuture {
        /// How many seconds after `now` the TIMESTAMP lies.
        ahead_secs: u64,
    },
    /// This server's NOTIFICATION-ID was already accepted, and its
    /// TIMESTAMP is still inside the window.
    #[error("NOTIFICATION-ID {id} was already seen")]
    Duplicate {
        /// The repeated NOTIFICATION-ID.
        id: u16,
    },
    /// The TIMESTAMP is not newer than that of an id already forgotten
    /// (possible only when the clock was set back): whether the
    /// notification was seen cannot be told.
    #[error(
        "TIMESTAMP {timestamp} is not newer than the NOTIFICATION-IDs already forgotten \
         (up to {forgotten_up_to})"
    )]
    Forgotten {
        /// The notification's TIMESTAMP.
        timestamp: u64,
        /// The newest TIMESTAMP of a forgotten id.
        forgotten_up_to: u64,
    },
    /// This server already had `limit` notifications accepted inside the
    /// window (the rate limit).
    #[error("more than {limit} notifications of this server inside the window")]
    TooMany {
        /// Most notifications accepted per server inside the window.
        limit: usize,
    },
    /// `limit` other servers have notifications inside the window.
    #[error("more than {limit} servers with notifications inside the window")]
    TooManyServers {
        /// Most servers remembered.
        limit: usize,
    },
}

/// Checks a TIMESTAMP against the acceptance window: it passes when it lies
/// at most `window_secs` before or after `now_unix_secs` (the window covers
/// clock skew in both directions). The caller supplies the time; nothing here
/// reads a clock.
///
/// ```
/// use dm_codec::notification::{check_timestamp, Replay};
///
/// let now = 1_764_000_000;
/// assert!(check_timestamp(now - 300, now, 300).is_ok());
/// assert_eq!(check_timestamp(now - 301, now, 300), Err(Replay::TooOld { age_secs: 301 }));
/// assert_eq!(check_timestamp(now + 400, now, 300), Err(Replay::InFuture { ahead_secs: 400 }));
/// ```
pub fn check_timestamp(timestamp: u64, now_unix_secs: u64, window_secs: u64) -> Result<(), Replay> {
    if timestamp <= now_unix_secs {
        let age_secs = now_unix_secs - timestamp;
        if age_secs > window_secs {
            return Err(Replay::TooOld { age_secs });
        }
    } else {
        let ahead_secs = timestamp - now_unix_secs;
        if ahead_secs > window_secs {
            return Err(Replay::InFuture { ahead_secs });
        }
    }
    Ok(())
}

/// Remembers every NOTIFICATION-ID accepted while its TIMESTAMP is inside
/// the acceptance window, per server, so that no notification is accepted
/// twice (docs/protocol.md sections 3.6 and 12).
///
/// [`NotificationIdWindow::accept`] is the whole replay policy:
///
/// 1. the TIMESTAMP must pass [`check_timestamp`];
/// 2. ids whose TIMESTAMP has left the window (too old) are forgotten —
///    the same notification would now fail step 1 — and the newest
///    forgotten TIMESTAMP is kept: a notification not newer than it is
///    refused ([`Replay::Forgotten`]), so a clock set back cannot revive a
///    forgotten id;
/// 3. an id remembered for this server is a [`Replay::Duplicate`];
/// 4. at most `max_per_window` ids are remembered per server: beyond, a
///    notification is refused ([`Replay::TooMany`]) until older ones leave
///    the window — a rate limit, never an eviction, so no id is forgotten
///    early;
/// 5. at most `max_servers` servers are remembered; a new server beyond
///    takes the place of one with no id left inside the window, else it is
///    refused ([`Replay::TooManyServers`]).
///
/// Memory is bounded by `max_servers × max_per_window` entries of 10
/// bytes; nothing is allocated up front. Accept an id only after the
/// notification passed its digest check, so that forged notifications
/// cannot use up the rate limit.
///
/// ```
/// use dm_codec::notification::{NotificationIdWindow, Replay};
/// use dm_types::ServerId;
///
/// let a = ServerId::new("a.example")?;
/// let b = ServerId::new("b.example")?;
/// let now = 1_764_000_000;
/// let mut window = NotificationIdWindow::new(8, 2);
/// window.accept(&a, 1, now, now, 300)?;
/// window.accept(&b, 1, now, now, 300)?; // ids are per server
/// assert_eq!(window.accept(&a, 1, now, now + 10, 300), Err(Replay::Duplicate { id: 1 }));
/// window.accept(&a, 2, now + 1, now + 1, 300)?;
/// // Two ids per window: a third is refused, nothing is forgotten early.
/// assert_eq!(window.accept(&a, 3, now + 2, now + 2, 300), Err(Replay::TooMany { limit: 2 }));
/// // Once id 1's TIMESTAMP left the window, the id may come again.
/// window.accept(&a, 1, now + 301, now + 301, 300)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationIdWindow {
    max_servers: usize,
    max_per_window: usize,
    /// In the order first seen.
    servers: Vec<ServerIds>,
}

/// What a window remembers of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerIds {
    server_id: ServerId,
    /// Accepted first first.
    accepted: Vec<AcceptedId>,
    /// The newest TIMESTAMP of an id forgotten.
    forgotten_up_to: Option<u64>,
}

/// A NOTIFICATION-ID a [`NotificationIdWindow`] remembers, with the
/// TIMESTAMP of the notification that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcceptedId {
    /// The NOTIFICATION-ID.
    pub id: u16,
    /// Its notification's TIMESTAMP (Unix seconds).
    pub timestamp: u64,
}

impl ServerIds {
    /// Forgets the ids whose TIMESTAMP is too old at `now_unix_secs`.
    fn forget_old(&mut self, now_unix_secs: u64, window_secs: u64) {
        let mut forgotten = self.forgotten_up_to;
        self.accepted.retain(|a| {
            let old = matches!(
                check_timestamp(a.timestamp, now_unix_secs, window_secs),
                Err(Replay::TooOld { .. })
            );
            if old {
                forgotten = forgotten.max(Some(a.timestamp));
            }
            !old
        });
        self.forgotten_up_to = forgotten;
    }
}

impl NotificationIdWindow {
    /// A window for up to `max_servers` servers with at most
    /// `max_per_window` ids accepted per server inside the window (both at
    /// least 1; 0 is taken as 1).
    ///
    /// ```
    /// use dm_codec::notification::NotificationIdWindow;
    /// use dm_types::ServerId;
    ///
    /// let window = NotificationIdWindow::new(4, 64);
    /// assert!(!window.contains(&ServerId::new("dm")?, 1));
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn new(max_servers: usize, max_per_window: usize) -> Self {
        NotificationIdWindow {
            max_servers: max_servers.max(1),
            max_per_window: max_per_window.max(1),
            servers: Vec::new(),
        }
    }

    /// Whether `id` is among the remembered ids of `server_id`.
    ///
    /// ```
    /// use dm_codec::notification::NotificationIdWindow;
    /// use dm_types::ServerId;
    ///
    /// let dm = ServerId::new("dm")?;
    /// let mut window = NotificationIdWindow::new(1, 1);
    /// window.accept(&dm, 5, 100, 100, 60)?;
    /// assert!(window.contains(&dm, 5));
    /// assert!(!window.contains(&dm, 6));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn contains(&self, server_id: &ServerId, id: u16) -> bool {
        self.server(server_id)
            .is_some_and(|s| s.accepted.iter().any(|a| a.id == id))
    }

    /// Applies the replay policy (see the type) to a notification of
    /// `server_id` carrying `id` and `timestamp`, received at
    /// `now_unix_secs` with an acceptance window of `window_secs`: records
    /// the id and returns `Ok` when the notification may be acted on; when
    /// it is refused, only ids that left the window are forgotten.
    ///
    /// A notification without TIMESTAMP (allowed only unauthenticated) can
    /// pass its time of reception as `timestamp`.
    ///
    /// ```
    /// use dm_codec::notification::{NotificationIdWindow, Replay};
    /// use dm_types::ServerId;
    ///
    /// let dm = ServerId::new("dm")?;
    /// let mut window = NotificationIdWindow::new(1, 64);
    /// assert_eq!(window.accept(&dm, 1, 1_000, 1_400, 300), Err(Replay::TooOld { age_secs: 400 }));
    /// window.accept(&dm, 1, 1_000, 1_000, 300)?;
    /// assert_eq!(window.accept(&dm, 1, 1_000, 1_200, 300), Err(Replay::Duplicate { id: 1 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accept(
        &mut self,
        server_id: &ServerId,
        id: u16,
        timestamp: u64,
        now_unix_secs: u64,
        window_secs: u64,
    ) -> Result<(), Replay> {
        check_timestamp(timestamp, now_unix_secs, window_secs)?;
        let known = self.servers.iter().position(|s| s.server_id == *server_id);
        let index = if let Some(index) = known {
            index
        } else {
            if self.servers.len() >= self.max_servers {
                for server in &mut self.servers {
                    server.forget_old(now_unix_secs, window_secs);
                }
                let idle = self.servers.iter().position(|s| s.accepted.is_empty());
                let Some(idle) = idle else {
                    return Err(Replay::TooManyServers {
                        limit: self.max_servers,
                    });
                };
                self.servers.remove(idle);
            }
            self.servers.push(ServerIds {
                server_id: server_id.clone(),
                accepted: Vec::new(),
                forgotten_up_to: None,
            });
            self.servers.len() - 1
        };
        let max_per_window = self.max_per_window;
        let Some(server) = self.servers.get_mut(index) else {
            return Err(Replay::TooManyServers {
                limit: self.max_servers,
            });
        };
        server.forget_old(now_unix_secs, window_secs);
        if let Some(forgotten_up_to) = server.forgotten_up_to
            && timestamp <= forgotten_up_to
        {
            return Err(Replay::Forgotten {
                timestamp,
                forgotten_up_to,
            });
        }
        if server.accepted.iter().any(|a| a.id == id) {
            return Err(Replay::Duplicate { id });
        }
        if server.accepted.len() >= max_per_window {
            return Err(Replay::TooMany {
                limit: max_per_window,
            });
        }
        server.accepted.push(AcceptedId { id, timestamp });
        Ok(())
    }

    /// Changes how many ids are accepted per server inside the window. Ids
    /// already remembered are kept until they leave the window; while as
    /// many or more are remembered, new ones are refused.
    ///
    /// ```
    /// use dm_codec::notification::{NotificationIdWindow, Replay};
    /// use dm_types::ServerId;
    ///
    /// let dm = ServerId::new("dm")?;
    /// let mut window = NotificationIdWindow::new(1, 4);
    /// window.accept(&dm, 1, 100, 100, 60)?;
    /// window.set_max_per_window(1);
    /// assert!(window.contains(&dm, 1));
    /// assert_eq!(window.accept(&dm, 2, 100, 100, 60), Err(Replay::TooMany { limit: 1 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_max_per_window(&mut self, max_per_window: usize) {
        self.max_per_window = max_per_window.max(1);
    }

    /// The servers remembered, in the order first seen (to persist the
    /// window with [`NotificationIdWindow::accepted`] and
    /// [`NotificationIdWindow::forgotten_up_to`]).
    pub fn servers(&self) -> impl Iterator<Item = &ServerId> {
        self.servers.iter().map(|s| &s.server_id)
    }

    /// The ids remembered for `server_id`, accepted first first.
    pub fn accepted(&self, server_id: &ServerId) -> &[AcceptedId] {
        self.server(server_id)
            .map_or(&[], |s| s.accepted.as_slice())
    }

    /// The newest TIMESTAMP of an id forgotten for `server_id`:
    /// notifications not newer than it are refused.
    pub fn forgotten_up_to(&self, server_id: &ServerId) -> Option<u64> {
        self.server(server_id).and_then(|s| s.forgotten_up_to)
    }

    /// Puts back what [`NotificationIdWindow::accepted`] and
    /// [`NotificationIdWindow::forgotten_up_to`] gave for `server_id` (read
    /// from storage), replacing what the window held for it. The window's
    /// bounds still hold: a repeated id is kept once, ids beyond
    /// `max_per_window` are dropped (the oldest first; `forgotten_up_to`
    /// then covers them), and a server beyond `max_servers` is ignored.
    /// Restoring what a window gave back leaves it equal.
    ///
    /// ```
    /// use dm_codec::notification::{AcceptedId, NotificationIdWindow, Replay};
    /// use dm_types::ServerId;
    ///
    /// let dm = ServerId::new("dm")?;
    /// let mut window = NotificationIdWindow::new(4, 64);
    /// window.accept(&dm, 7, 1_000, 1_000, 300)?;
    /// let mut restored = NotificationIdWindow::new(4, 64);
    /// restored.restore(&dm, window.accepted(&dm).iter().copied(), window.forgotten_up_to(&dm));
    /// assert_eq!(restored, window);
    /// assert_eq!(restored.accept(&dm, 7, 1_000, 1_100, 300), Err(Replay::Duplicate { id: 7 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restore(
        &mut self,
        server_id: &ServerId,
        accepted: impl IntoIterator<Item = AcceptedId>,
        forgotten_up_to: Option<u64>,
    ) {
        let mut kept: Vec<AcceptedId> = Vec::new();
        for entry in accepted {
            if !kept.iter().any(|a| a.id == entry.id) {
                kept.push(entry);
            }
        }
        let mut forgotten_up_to = forgotten_up_to;
        if kept.len() > self.max_per_window {
            let dropped = kept.len() - self.max_per_window;
            for entry in kept.drain(..dropped) {
                forgotten_up_to = forgotten_up_to.max(Some(entry.timestamp));
            }
        }
        let entry = ServerIds {
            server_id: server_id.clone(),
            accepted: kept,
            forgotten_up_to,
        };
        let full = self.servers.len() >= self.max_servers;
        match self.servers.iter_mut().find(|s| s.server_id == *server_id) {
            Some(existing) => *existing = entry,
            None if !full => self.servers.push(entry),
            None => {}
        }
    }

    fn server(&self, server_id: &ServerId) -> Option<&ServerIds> {
        self.servers.iter().find(|s| s.server_id == *server_id)
    }
}

/// The JSON form of a notification (docs/protocol.md section 3.6), for display
/// and tooling: absent options left out, the digest as lowercase hex,
/// `REQ-MOS` present (as `true`) only when set.
///
/// Member order in the `Value` follows `serde_json`'s map; use
/// [`to_json_string`] for text in the order of the option table.
///
/// ```
/// use dm_codec::notification;
/// use dm_types::{ConnectionType, Notification, ServerId};
///
/// let mut n = Notification::new(ServerId::new("dm.example")?, ConnectionType::Wlan);
/// n.notification_id = Some(4660);
/// let json = notification::to_json(&n);
/// assert_eq!(json, serde_json::json!({
///     "VER": 1, "SERVER-ID": "dm.example", "PREFERRED-CON-TYPE": 2, "NOTIFICATION-ID": 4660
/// }));
/// # Ok::<(), dm_types::Error>(())
/// ```
pub fn to_json(notification: &Notification) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert("VER".into(), notification.version.into());
    map.insert("SERVER-ID".into(), notification.server_id.as_str().into());
    map.insert(
        "PREFERRED-CON-TYPE".into(),
        (notification.preferred_con_type as u8).into(),
    );
    if let Some(id) = notification.notification_id {
        map.insert("NOTIFICATION-ID".into(), id.into());
    }
    if let Some(digest) = &notification.digest {
        map.insert("SHA256-DIGEST".into(), hex_lower(digest).into());
    }
    if let Some(timestamp) = notification.timestamp {
        map.insert("TIMESTAMP".into(), timestamp.into());
    }
    if notification.req_mos {
        map.insert("REQ-MOS".into(), true.into());
    }
    serde_json::Value::Object(map)
}

/// The JSON form (see [`to_json`]) as one line of text, members in the
/// order of the option table (`VER` first).
///
/// ```
/// use dm_codec::notification;
/// use dm_types::{ConnectionType, Notification, ServerId};
///
/// let mut n = Notification::new(ServerId::new("dm.example")?, ConnectionType::Wlan);
/// n.timestamp = Some(1_764_000_000);
/// n.req_mos = true;
/// assert_eq!(
///     notification::to_json_string(&n),
///     r#"{"VER":1,"SERVER-ID":"dm.example","PREFERRED-CON-TYPE":2,"TIMESTAMP":1764000000,"REQ-MOS":true}"#
/// );
/// # Ok::<(), dm_types::Error>(())
/// ```
pub fn to_json_string(notification: &Notification) -> String {
    use std::fmt::Write as _;
    let server_id = serde_json::Value::from(notification.server_id.as_str());
    let mut text = format!(
        r#"{{"VER":{},"SERVER-ID":{server_id},"PREFERRED-CON-TYPE":{}"#,
        notification.version, notification.preferred_con_type as u8
    );
    // Writing to a String cannot fail.
    if let Some(id) = notification.notification_id {
        let _ = write!(text, r#","NOTIFICATION-ID":{id}"#);
    }
    if let Some(digest) = &notification.digest {
        let _ = write!(text, r#","SHA256-DIGEST":"{}""#, hex_lower(digest));
    }
    if let Some(timestamp) = notification.timestamp {
        let _ = write!(text, r#","TIMESTAMP":{timestamp}"#);
    }
    if notification.req_mos {
        text.push_str(r#","REQ-MOS":true"#);
    }
    text.push('}');
    text
}

/// Reads the JSON form (see [`to_json`]).
///
/// Strict: `VER` (must be 1), `SERVER-ID` and `PREFERRED-CON-TYPE` are
/// required; numbers must be non-negative integers in range
/// (`PREFERRED-CON-TYPE` 0..3, `NOTIFICATION-ID` 0..65535); `SHA256-DIGEST`
/// is 64 lowercase hex digits; `REQ-MOS`, when present, is `true`. Unknown
/// members are ignored; as for every JSON document of the protocol, a
/// duplicate member name (at any depth), invalid UTF-8, a lone surrogate or
/// trailing bytes make it invalid. Inputs over [`MAX_JSON_LEN`] bytes fail
/// with [`Error::TooLarge`].
///
/// Errors: [`Error::Syntax`] for malformed JSON, [`Error::Invalid`] with the
/// member's path (such as `$.TIMESTAMP`) for a wrong value, both with the
/// byte offset where reading stopped.
///
/// ```
/// use dm_codec::{notification, Error};
///
/// let n = notification::from_json(br#"{"VER":1,"SERVER-ID":"dm","PREFERRED-CON-TYPE":0,"x":[]}"#)?;
/// assert_eq!(n.server_id, "dm");
///
/// let err = notification::from_json(br#"{"VER":1,"SERVER-ID":"dm","PREFERRED-CON-TYPE":"2"}"#).unwrap_err();
/// assert!(matches!(err, Error::Invalid { ref path, .. } if path == "$.PREFERRED-CON-TYPE"));
/// # Ok::<(), dm_codec::Error>(())
/// ```
pub fn from_json(json: &[u8]) -> Result<Notification, Error> {
    if json.len() > MAX_JSON_LEN {
        return Err(Error::TooLarge {
            what: "notification JSON form",
            size: json.len(),
            limit: MAX_JSON_LEN,
        });
    }
    let mut path = None;
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let result = JsonForm { path: &mut path }
        .deserialize(&mut deserializer)
        .and_then(|notification| deserializer.end().map(|()| notification));
    result.map_err(|e| json_error(json, &e, path))
}

/// Turns a `serde_json` error into ours, with a byte offset.
fn json_error(json: &[u8], e: &serde_json::Error, path: Option<String>) -> Error {
    let offset = byte_offset(json, e.line(), e.column());
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    match e.classify() {
        serde_json::error::Category::Data => Error::Invalid {
            path: path.unwrap_or_else(|| "$".to_owned()),
            offset,
            message,
        },
        _ => Error::Syntax { offset, message },
    }
}

/// The byte offset of a `serde_json` line (1-based) and column (bytes since
/// the line's start).
fn byte_offset(json: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        json.iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(json.len(), |(i, _)| i + 1)
    };
    line_start.saturating_add(column).min(json.len())
}

/// Reads the top-level object of the JSON form; records the path of the
/// member being read, for errors.
struct JsonForm<'p> {
    path: &'p mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for JsonForm<'_> {
    type Value = Notification;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Notification, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonForm<'_> {
    type Value = Notification;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (the notification's JSON form)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Notification, A::Error> {
        let mut names = HashSet::new();
        let mut version = None;
        let mut server_id = None;
        let mut con_type = None;
        let mut notification_id = None;
        let mut digest = None;
        let mut timestamp = None;
        let mut req_mos = false;
        loop {
            *self.path = Some("$".to_owned());
            let Some(name) = map.next_key_seed(Name { seen: &mut names })? else {
                break;
            };
            let member = Member::for_name(&name);
            *self.path = Some(format!("$.{name}"));
            match map.next_value_seed(member)? {
                Field::Version => version = Some(NOTIFICATION_VERSION),
                Field::ServerId(id) => server_id = Some(id),
                Field::ConType(value) => con_type = Some(value),
                Field::NotificationId(id) => notification_id = Some(id),
                Field::Digest(value) => digest = Some(value),
                Field::Timestamp(value) => timestamp = Some(value),
                Field::ReqMos => req_mos = true,
                Field::Ignored => {}
            }
        }
        let missing = |name| de::Error::custom(format_args!("missing member `{name}`"));
        let Some(version) = version else {
            return Err(missing("VER"));
        };
        let Some(server_id) = server_id else {
            return Err(missing("SERVER-ID"));
        };
        let Some(preferred_con_type) = con_type else {
            return Err(missing("PREFERRED-CON-TYPE"));
        };
        Ok(Notification {
            version,
            server_id,
            preferred_con_type,
            notification_id,
            digest,
            timestamp,
            req_mos,
        })
    }
}

/// Reads a member name, rejecting one already seen in the same object (the
/// error is raised while the name is read, so it points there).
struct Name<'s> {
    seen: &'s mut HashSet<String>,
}

impl<'de> DeserializeSeed<'de> for Name<'_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Name<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<String, E> {
        if self.seen.contains(name) {
            return Err(E::custom(format_args!("duplicate member name `{name}`")));
        }
        self.seen.insert(name.to_owned());
        Ok(name.to_owned())
    }
}

/// What a member of the JSON form holds; [`Member::Unknown`] reads any value
/// strictly (duplicate names rejected at any depth) and drops it. Checks run
/// while the value is read, so errors point just after it. Nesting is bounded
/// by `serde_json`'s recursion limit.
#[derive(Clone, Copy)]
enum Member {
    Version,
    ServerId,
    ConType,
    NotificationId,
    Digest,
    Timestamp,
    ReqMos,
    Unknown,
}

/// A member's value, checked.
enum Field {
    Version,
    ServerId(ServerId),
    ConType(ConnectionType),
    NotificationId(u16),
    Digest([u8; DIGEST_LEN]),
    Timestamp(u64),
    ReqMos,
    Ignored,
}

impl Member {
    fn for_name(name: &str) -> Member {
        match name {
            "VER" => Member::Version,
            "SERVER-ID" => Member::ServerId,
            "PREFERRED-CON-TYPE" => Member::ConType,
            "NOTIFICATION-ID" => Member::NotificationId,
            "SHA256-DIGEST" => Member::Digest,
            "TIMESTAMP" => Member::Timestamp,
            "REQ-MOS" => Member::ReqMos,
            _ => Member::Unknown,
        }
    }

    /// What the value must be, for error messages.
    fn expected(self) -> &'static str {
        match self {
            Member::Version => "VER must be the integer 1",
            Member::ServerId => "SERVER-ID must be a string",
            Member::ConType => "PREFERRED-CON-TYPE must be an integer from 0 to 3",
            Member::NotificationId => "NOTIFICATION-ID must be an integer from 0 to 65535",
            Member::Digest => "SHA256-DIGEST must be a string of 64 lowercase hex digits",
            Member::Timestamp => "TIMESTAMP must be an unsigned 64-bit integer",
            Member::ReqMos => "REQ-MOS must be true when present",
            Member::Unknown => "any JSON value",
        }
    }

    /// The value is of the wrong kind (or an ignored member).
    fn other<E: de::Error>(self, found: fmt::Arguments<'_>) -> Result<Field, E> {
        match self {
            Member::Unknown => Ok(Field::Ignored),
            _ => Err(E::custom(format_args!(
                "{}, found {found}",
                self.expected()
            ))),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Member {
    type Value = Field;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Field, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Member {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Field, E> {
        match (self, v) {
            (Member::ReqMos, true) => Ok(Field::ReqMos),
            _ => self.other(format_args!("{v}")),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field, E> {
        let field = match self {
            Member::Version if v == u64::from(NOTIFICATION_VERSION) => Some(Field::Version),
            Member::ConType => u8::try_from(v)
                .ok()
                .and_then(ConnectionType::from_byte)
                .map(Field::ConType),
            Member::NotificationId => u16::try_from(v).ok().map(Field::NotificationId),
            Member::Timestamp => Some(Field::Timestamp(v)),
            _ => None,
        };
        field.map_or_else(|| self.other(format_args!("{v}")), Ok)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => self.other(format_args!("{v}")),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Field, E> {
        self.other(format_args!("the non-integer number {v}"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        match self {
            Member::ServerId => ServerId::new(v)
                .map(Field::ServerId)
                .map_err(|e| E::custom(format_args!("invalid SERVER-ID: {e}"))),
            Member::Digest => parse_hex_digest(v)
                .map(Field::Digest)
                .ok_or_else(|| E::custom(self.expected())),
            _ => self.other(format_args!("a string")),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Field, E> {
        self.other(format_args!("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field, A::Error> {
        if let Member::Unknown = self {
            while seq.next_element_seed(Member::Unknown)?.is_some() {}
        }
        self.other(format_args!("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
        if let Member::Unknown = self {
            let mut names = HashSet::new();
            while map.next_key_seed(Name { seen: &mut names })?.is_some() {
                map.next_value_seed(Member::Unknown)?;
            }
        }
        self.other(format_args!("an object"))
    }
}

/// Lowercase hex of `bytes`.
fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    text
}

/// 64 lowercase hex digits as 32 bytes.
fn parse_hex_digest(text: &str) -> Option<[u8; DIGEST_LEN]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    if text.len() != 2 * DIGEST_LEN {
        return None;
    }
    let mut out = [0u8; DIGEST_LEN];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_over_is_the_same_for_small_and_large_messages() {
        for len in [42, 511, 512, 513, 2000] {
            let bytes: Vec<u8> = (0..len)
                .map(|i| u8::try_from(i % 251).unwrap_or(0))
                .collect();
            let offset = 10;
            let mut zeroed = bytes.clone();
            zeroed[offset..offset + DIGEST_LEN].fill(0);
            let mut hasher = Sha256::new();
            hasher.update(b"secret");
            hasher.update(&zeroed);
            hasher.update(b"auth");
            let expected: [u8; DIGEST_LEN] = hasher.finalize().into();
            assert_eq!(
                digest_over(&bytes, offset, b"secret", b"auth"),
                Some(expected),
                "{len}"
            );
        }
        assert_eq!(
            digest_over(&[0; 40], 20, b"", b""),
            None,
            "digest past the end"
        );
    }

    fn reason(bytes: &[u8]) -> (usize, &'static str) {
        match decode(bytes) {
            Err(Error::Notification { offset, reason }) => (offset, reason),
            other => (
                usize::MAX,
                if other.is_ok() {
                    "decoded"
                } else {
                    "other error"
                },
            ),
        }
    }

    /// SERVER-ID "dm", PREFERRED-CON-TYPE 2, with a header for `count` options.
    fn minimal(count: u8) -> Vec<u8> {
        vec![
            0x10 | (count >> 1),
            (count & 1) << 7,
            0x12,
            b'd',
            b'm',
            0x11,
            0x02,
        ]
    }

    #[test]
    fn decodes_minimal() {
        let n = decode(&minimal(2)).expect("valid");
        assert_eq!(n.server_id, "dm");
        assert_eq!(n.preferred_con_type, ConnectionType::Wlan);
        assert_eq!(n.notification_id, None);
        assert_eq!(n.digest, None);
        assert_eq!(n.timestamp, None);
        assert!(!n.req_mos);
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            reason(&[]),
            (0, "truncated header: a notification starts with 2 bytes")
        );
        assert_eq!(
            reason(&[0x11]),
            (1, "truncated header: a notification starts with 2 bytes")
        );
        let mut bytes = minimal(2);
        bytes[0] = 0x21;
        assert_eq!(reason(&bytes), (0, "unknown notification version"));
        bytes[0] = 0x01;
        assert_eq!(reason(&bytes), (0, "unknown notification version"));
    }

    #[test]
    fn reserved_bits_ignored() {
        let mut bytes = minimal(2);
        bytes[1] = 0x7f;
        assert!(decode(&bytes).is_ok());
        // The low bit of OC is the high bit of byte 1: OC 3 with one option missing.
        bytes[1] = 0xff;
        assert_eq!(
            reason(&bytes),
            (7, "truncated: fewer options than the option count")
        );
    }

    #[test]
    fn option_count_must_match() {
        assert_eq!(
            reason(&minimal(3)),
            (7, "truncated: fewer options than the option count")
        );
        let mut bytes = minimal(1);
        assert_eq!(reason(&bytes), (5, "trailing bytes after the last option"));
        bytes = minimal(2);
        bytes.push(0x40);
        assert_eq!(reason(&bytes), (7, "trailing bytes after the last option"));
        assert_eq!(reason(&[0x10, 0x00]), (2, "SERVER-ID is missing"));
    }

    #[test]
    fn delta_rules() {
        // First delta 0.
        assert_eq!(
            reason(&[0x10, 0x80, 0x01, b'a']),
            (2, "option number 0 is invalid (first option delta is 0)")
        );
        // SERVER-ID twice.
        let mut bytes = vec![0x11, 0x80, 0x11, b'a', 0x01, b'b', 0x11, 0x00];
        assert_eq!(reason(&bytes), (4, "option repeated (option delta 0)"));
        // Out of order cannot be written (deltas are unsigned): REQ-MOS then SERVER-ID
        // is SERVER-ID missing.
        bytes = vec![0x11, 0x00, 0x60, 0x11, b'a'];
        assert_eq!(reason(&bytes), (5, "SERVER-ID is missing"));
    }

    #[test]
    fn missing_con_type() {
        assert_eq!(
            reason(&[0x10, 0x80, 0x11, b'a']),
            (4, "PREFERRED-CON-TYPE is missing")
        );
        // Skipped option 7 does not stand in for it.
        assert_eq!(
            reason(&[0x11, 0x00, 0x11, b'a', 0x60]),
            (5, "PREFERRED-CON-TYPE is missing")
        );
    }

    #[test]
    fn truncations() {
        let full = {
            let mut n = Notification::new(
                ServerId::new("x".repeat(20)).expect("valid"),
                ConnectionType::Any,
            );
            n.notification_id = Some(1);
            n.digest = Some([7; 32]);
            n.timestamp = Some(2);
            n.req_mos = true;
            encode(&n).expect("encodes")
        };
        assert!(decode(&full).is_ok());
        for len in 0..full.len() {
            let err = decode(&full[..len]).expect_err("truncated");
            let offset = err.offset().expect("has an offset");
            assert!(offset <= len, "offset {offset} beyond the input of {len}");
        }
        // Extended length byte missing.
        assert_eq!(
            reason(&[0x10, 0x80, 0x1f]),
            (3, "truncated: extended length byte missing")
        );
        // Value shorter than its length.
        assert_eq!(
            reason(&[0x10, 0x80, 0x13, b'a']),
            (4, "truncated: option value runs past the end of the input")
        );
    }

    #[test]
    fn extended_length() {
        for len in [14usize, 15, 16, 200, 270] {
            let id = "s".repeat(len);
            let n = Notification::new(
                ServerId::new(id.clone()).expect("valid"),
                ConnectionType::Any,
            );
            let bytes = encode(&n).expect("encodes");
            if len >= 15 {
                assert_eq!(bytes[2], 0x1f);
                assert_eq!(usize::from(bytes[3]), len - 15);
            } else {
                assert_eq!(usize::from(bytes[2] & 0x0f), len);
            }
            assert_eq!(decode(&bytes).expect("decodes").server_id, *id);
        }
        // Extension byte 0: length 15.
        let mut bytes = vec![0x11, 0x00, 0x1f, 0x00];
        bytes.extend_from_slice(&[b'a'; 15]);
        bytes.extend_from_slice(&[0x11, 0x01]);
        assert_eq!(
            decode(&bytes).expect("decodes").server_id.as_str().len(),
            15
        );
    }

    #[test]
    fn server_id_values() {
        assert_eq!(
            reason(&[0x11, 0x00, 0x10, 0x11, 0x00]),
            (2, "SERVER-ID must not be empty")
        );
        assert_eq!(
            reason(&[0x11, 0x00, 0x13, b'a', 0xff, b'b', 0x11, 0x00]),
            (4, "SERVER-ID is not valid UTF-8")
        );
        assert_eq!(
            reason(&[0x11, 0x00, 0x13, b'a', b'b', 0x07, 0x11, 0x00]),
            (5, "SERVER-ID contains a control character")
        );
        let n = decode(&[0x11, 0x00, 0x12, 0xc3, 0xa9, 0x11, 0x00]).expect("UTF-8 accepted");
        assert_eq!(n.server_id, "é");
    }

    #[test]
    fn fixed_lengths() {
        let with = |option: &[u8]| {
            let mut bytes = minimal(3);
            bytes.extend_from_slice(option);
            reason(&bytes)
        };
        assert_eq!(with(&[0x11, 0x00]), (7, "NOTIFICATION-ID must be 2 bytes"));
        assert_eq!(
            with(&[0x13, 0, 0, 0]),
            (7, "NOTIFICATION-ID must be 2 bytes")
        );
        assert_eq!(with(&[0x12, 0x12, 0x34]).1, "decoded");
        let mut digest = vec![0x2f, 31 - 15];
        digest.extend_from_slice(&[0; 31]);
        assert_eq!(with(&digest), (7, "SHA256-DIGEST must be 32 bytes"));
        assert_eq!(with(&[0x30]), (7, "TIMESTAMP must be 4 or 8 bytes"));
        assert_eq!(
            with(&[0x33, 0, 0, 0]),
            (7, "TIMESTAMP must be 4 or 8 bytes")
        );
        assert_eq!(
            with(&[0x35, 0, 0, 0, 0, 0]),
            (7, "TIMESTAMP must be 4 or 8 bytes")
        );
        assert_eq!(with(&[0x34, 0, 0, 0, 1]).1, "decoded");
        assert_eq!(with(&[0x41, 0x00]), (7, "REQ-MOS must be empty"));
        // Byte at 6 is PREFERRED-CON-TYPE; make it 2 bytes long.
        let bytes = [0x11, 0x00, 0x12, b'd', b'm', 0x12, 0x02, 0x02];
        assert_eq!(reason(&bytes), (5, "PREFERRED-CON-TYPE must be 1 byte"));
        let bytes = [0x11, 0x00, 0x12, b'd', b'm', 0x10];
        assert_eq!(reason(&bytes), (5, "PREFERRED-CON-TYPE must be 1 byte"));
    }

    #[test]
    fn con_type_range() {
        for b in 0..=3u8 {
            let mut bytes = minimal(2);
            bytes[6] = b;
            assert!(decode(&bytes).is_ok());
        }
        for b in [4u8, 0x80, 0xff] {
            let mut bytes = minimal(2);
            bytes[6] = b;
            assert_eq!(reason(&bytes), (6, "PREFERRED-CON-TYPE must be 0 to 3"));
        }
    }

    #[test]
    fn timestamps_four_and_eight_bytes() {
        let mut bytes = minimal(3);
        bytes.extend_from_slice(&[0x34, 0x69, 0x24, 0x81, 0x00]);
        assert_eq!(
            decode(&bytes).expect("decodes").timestamp,
            Some(1_764_000_000)
        );
        let mut bytes = minimal(3);
        bytes.extend_from_slice(&[0x38, 0xff, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            decode(&bytes).expect("decodes").timestamp,
            Some(0xff00_0000_0000_0001)
        );
    }

    #[test]
    fn unknown_options_skipped_but_checked() {
        // Option 7 (delta 5 after PREFERRED-CON-TYPE) with 3 bytes, then option 22.
        let mut bytes = minimal(4);
        bytes.extend_from_slice(&[0x53, 1, 2, 3, 0xf0]);
        assert!(decode(&bytes).is_ok());
        // Its length is still checked.
        let mut bytes = minimal(3);
        bytes.extend_from_slice(&[0x53, 1, 2]);
        assert_eq!(
            reason(&bytes).1,
            "truncated: option value runs past the end of the input"
        );
        // Repeating it is still a delta 0.
        let mut bytes = minimal(4);
        bytes.extend_from_slice(&[0x50, 0x00]);
        assert_eq!(reason(&bytes), (8, "option repeated (option delta 0)"));
        // 31 options: the largest count; option numbers up to 2 + 29 * 15.
        let mut bytes = minimal(31);
        bytes.extend_from_slice(&[0xf0; 29]);
        assert!(decode(&bytes).is_ok());
        // A long unknown option with an extended length.
        let mut bytes = minimal(3);
        bytes.extend_from_slice(&[0x5f, 0xff]);
        bytes.extend_from_slice(&[0; 270]);
        assert!(decode(&bytes).is_ok());
    }

    #[test]
    fn encode_round_trip_and_layout() {
        let mut n = Notification::new(
            ServerId::new("dm.example.com").expect("valid"),
            ConnectionType::Wlan,
        );
        n.notification_id = Some(0x1234);
        n.digest = Some([0x5a; 32]);
        n.timestamp = Some(1_764_000_000);
        n.req_mos = true;
        let bytes = encode(&n).expect("encodes");
        assert_eq!(&bytes[..2], &[0x13, 0x00]);
        assert_eq!(bytes.len(), 2 + 15 + 2 + 3 + 34 + 9 + 1);
        let received = Received::decode(&bytes).expect("decodes");
        assert_eq!(received.notification(), &n);
        assert_eq!(received.digest_offset(), Some(2 + 15 + 2 + 3 + 2));
        // 4-byte timestamps are widened to 8 on re-encoding.
        let mut four = minimal(3);
        four.extend_from_slice(&[0x34, 0, 0, 0, 9]);
        let reencoded = encode(&decode(&four).expect("decodes")).expect("encodes");
        assert_eq!(&reencoded[7..], &[0x38, 0, 0, 0, 0, 0, 0, 0, 9]);
    }

    #[test]
    fn encode_rejects_unknown_version() {
        let mut n = Notification::new(ServerId::new("a").expect("valid"), ConnectionType::Any);
        n.version = 2;
        assert_eq!(encode(&n), Err(error(0, "unknown notification version")));
        n.notification_id = Some(1);
        n.timestamp = Some(1);
        assert!(encode_signed(&n, b"k", b"").is_err());
    }

    #[test]
    fn signed_requires_id_and_timestamp() {
        let mut n = Notification::new(ServerId::new("a").expect("valid"), ConnectionType::Any);
        n.timestamp = Some(1);
        assert_eq!(
            encode_signed(&n, b"k", b""),
            Err(error(0, "a signed notification needs a NOTIFICATION-ID"))
        );
        n.timestamp = None;
        n.notification_id = Some(1);
        assert_eq!(
            encode_signed(&n, b"k", b""),
            Err(error(0, "a signed notification needs a TIMESTAMP"))
        );
    }

    #[test]
    fn signed_digest_matches_definition() {
        let mut n = Notification::new(
            ServerId::new("dm.example").expect("valid"),
            ConnectionType::Any,
        );
        n.notification_id = Some(3);
        n.timestamp = Some(4);
        n.digest = Some([0xee; 32]); // replaced
        let bytes = encode_signed(&n, b"secret", b"auth").expect("encodes");
        let received = Received::decode(&bytes).expect("decodes");
        let offset = received.digest_offset().expect("digest present");
        let mut zeroed = bytes.clone();
        zeroed[offset..offset + 32].fill(0);
        let mut hasher = Sha256::new();
        hasher.update(b"secret");
        hasher.update(&zeroed);
        hasher.update(b"auth");
        let expected: [u8; 32] = hasher.finalize().into();
        assert_eq!(received.notification().digest, Some(expected));
        assert_eq!(
            received.verify_digest(b"secret", b"auth"),
            DigestCheck::Valid
        );
        assert_eq!(
            received.verify_digest(b"secret", b"other"),
            DigestCheck::Invalid
        );
        assert_eq!(received.verify_digest(b"", b""), DigestCheck::Invalid);
        // Secret and auth data are not interchangeable at their boundary.
        assert_eq!(
            received.verify_digest(b"secre", b"tauth"),
            DigestCheck::Invalid
        );
    }

    #[test]
    fn digest_missing() {
        assert_eq!(
            verify_digest(&minimal(2), b"k", b""),
            Ok(DigestCheck::Missing)
        );
        assert!(verify_digest(&[], b"k", b"").is_err());
    }

    #[test]
    fn constant_time_compare() {
        assert!(digests_equal(&[1; 32], &[1; 32]));
        let mut other = [1; 32];
        other[31] = 0;
        assert!(!digests_equal(&[1; 32], &other));
    }

    #[test]
    fn timestamp_window() {
        assert_eq!(check_timestamp(10, 10, 0), Ok(()));
        assert_eq!(
            check_timestamp(9, 10, 0),
            Err(Replay::TooOld { age_secs: 1 })
        );
        assert_eq!(
            check_timestamp(11, 10, 0),
            Err(Replay::InFuture { ahead_secs: 1 })
        );
        assert_eq!(check_timestamp(0, u64::MAX, u64::MAX), Ok(()));
        assert_eq!(
            check_timestamp(u64::MAX, 0, 5),
            Err(Replay::InFuture {
                ahead_secs: u64::MAX
            })
        );
        assert_eq!(
            check_timestamp(0, u64::MAX, 5),
            Err(Replay::TooOld { age_secs: u64::MAX })
        );
    }

    #[test]
    fn id_window_remembers_every_id_inside_the_window() {
        const NOW: u64 = 1_764_000_000;
        let a = ServerId::new("a").expect("valid");
        let mut window = NotificationIdWindow::new(4, 64);
        window.accept(&a, 1, NOW, NOW, 300).expect("new");
        // 40 distinct notifications, then the first again: still a replay.
        for id in 2..=41u16 {
            let at = NOW + u64::from(id);
            window.accept(&a, id, at, at, 300).expect("new");
        }
        assert_eq!(
            window.accept(&a, 1, NOW, NOW + 100, 300),
            Err(Replay::Duplicate { id: 1 })
        );
        assert_eq!(window.accepted(&a).len(), 41);
        // Once its TIMESTAMP left the window, the id may be used again
        // (with a new TIMESTAMP); the old notification is too old.
        let later = NOW + 301;
        assert_eq!(
            window.accept(&a, 1, NOW, later, 300),
            Err(Replay::TooOld { age_secs: 301 })
        );
        window.accept(&a, 1, later, later, 300).expect("reused");
        assert_eq!(window.forgotten_up_to(&a), Some(NOW));
        // Ids 2.. are still inside the window.
        assert_eq!(
            window.accept(&a, 2, NOW + 2, later, 300),
            Err(Replay::Duplicate { id: 2 })
        );
    }

    #[test]
    fn id_window_rate_limit_refuses_without_forgetting() {
        const NOW: u64 = 1_764_000_000;
        let a = ServerId::new("a").expect("valid");
        let mut window = NotificationIdWindow::new(1, 8);
        for id in 0..8 {
            window.accept(&a, id, NOW, NOW, 300).expect("new");
        }
        for id in 8..100 {
            assert_eq!(
                window.accept(&a, id, NOW, NOW + 1, 300),
                Err(Replay::TooMany { limit: 8 })
            );
        }
        // Nothing was forgotten to make room.
        assert!((0..8).all(|id| window.contains(&a, id)));
        assert_eq!(
            window.accept(&a, 0, NOW, NOW + 2, 300),
            Err(Replay::Duplicate { id: 0 })
        );
        // Room again once the first ones left the window.
        window
            .accept(&a, 8, NOW + 301, NOW + 301, 300)
            .expect("room");
        assert_eq!(window.accepted(&a).len(), 1);
        // A future TIMESTAMP keeps its id until it is too old itself.
        let b = ServerId::new("b").expect("valid");
        let mut window = NotificationIdWindow::new(1, 8);
        window.accept(&b, 1, NOW + 300, NOW, 300).expect("new");
        assert_eq!(
            window.accept(&b, 1, NOW + 300, NOW + 599, 300),
            Err(Replay::Duplicate { id: 1 })
        );
    }

    #[test]
    fn id_window_survives_a_clock_set_back() {
        const NOW: u64 = 1_764_000_000;
        let a = ServerId::new("a").expect("valid");
        let mut window = NotificationIdWindow::new(1, 8);
        window.accept(&a, 1, NOW, NOW, 300).expect("new");
        window
            .accept(&a, 2, NOW + 400, NOW + 400, 300)
            .expect("new");
        assert!(!window.contains(&a, 1), "forgotten");
        // The clock goes back: the forgotten notification is inside the
        // window again, but not newer than what was forgotten.
        assert_eq!(
            window.accept(&a, 1, NOW, NOW + 100, 300),
            Err(Replay::Forgotten {
                timestamp: NOW,
                forgotten_up_to: NOW
            })
        );
        window
            .accept(&a, 3, NOW + 101, NOW + 101, 300)
            .expect("newer");
    }

    #[test]
    fn id_window_bounds_servers() {
        const NOW: u64 = 1_764_000_000;
        let servers: Vec<ServerId> = (0..3)
            .map(|i| ServerId::new(format!("s{i}")).expect("valid"))
            .collect();
        let mut window = NotificationIdWindow::new(2, 4);
        window.accept(&servers[0], 1, NOW, NOW, 300).expect("new");
        window.accept(&servers[1], 1, NOW, NOW, 300).expect("new");
        assert_eq!(
            window.accept(&servers[2], 1, NOW, NOW, 300),
            Err(Replay::TooManyServers { limit: 2 })
        );
        // A server whose ids all left the window makes room.
        window
            .accept(&servers[1], 2, NOW + 200, NOW + 200, 300)
            .expect("new");
        window
            .accept(&servers[2], 1, NOW + 301, NOW + 301, 300)
            .expect("room");
        assert!(window.servers().all(|s| *s != servers[0]));
        assert!(window.contains(&servers[1], 2));
        let mut zero = NotificationIdWindow::new(0, 0);
        zero.accept(&servers[0], 1, NOW, NOW, 0).expect("one");
        assert_eq!(
            zero.accept(&servers[0], 2, NOW, NOW, 0),
            Err(Replay::TooMany { limit: 1 })
        );
    }

    #[test]
    fn id_window_restores_within_its_bounds() {
        let a = ServerId::new("a").expect("valid");
        let b = ServerId::new("b").expect("valid");
        let entry = |id, timestamp| AcceptedId { id, timestamp };
        let mut window = NotificationIdWindow::new(1, 2);
        window.restore(
            &a,
            [entry(1, 10), entry(1, 11), entry(2, 12), entry(3, 13)],
            Some(5),
        );
        assert_eq!(window.accepted(&a), [entry(2, 12), entry(3, 13)]);
        assert_eq!(window.forgotten_up_to(&a), Some(10));
        window.restore(&b, [entry(1, 1)], None);
        assert_eq!(window.servers().count(), 1, "one server at most");
        let mut again = NotificationIdWindow::new(1, 2);
        again.restore(
            &a,
            window.accepted(&a).iter().copied(),
            window.forgotten_up_to(&a),
        );
        assert_eq!(again, window);
    }

    #[test]
    fn json_round_trip() {
        let mut n = Notification::new(
            ServerId::new("dm \"é\" \\").expect("valid"),
            ConnectionType::Wireline,
        );
        n.notification_id = Some(65535);
        n.digest = Some([0xa5; 32]);
        n.timestamp = Some(u64::MAX);
        n.req_mos = true;
        let text = to_json_string(&n);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).ok(),
            Some(to_json(&n))
        );
        assert_eq!(from_json(text.as_bytes()), Ok(n.clone()));
        assert_eq!(from_json(to_json(&n).to_string().as_bytes()), Ok(n));
    }

    fn json_err(json: &str) -> (String, String) {
        match from_json(json.as_bytes()) {
            Err(Error::Invalid {
                path,
                message,
                offset,
            }) => {
                assert!(offset <= json.len());
                (path, message)
            }
            Err(Error::Syntax { message, offset }) => {
                assert!(offset <= json.len());
                ("syntax".to_owned(), message)
            }
            other => ("unexpected".to_owned(), format!("{other:?}")),
        }
    }

    #[test]
    fn json_errors() {
        const BASE: &str = r#""VER":1,"SERVER-ID":"dm","PREFERRED-CON-TYPE":1"#;
        let with = |extra: &str| json_err(&format!("{{{BASE},{extra}}}"));
        let pair = |path: &str, message: &str| (path.to_owned(), message.to_owned());
        assert_eq!(json_err("[]").0, "$");
        assert_eq!(json_err("{}"), pair("$", "missing member `VER`"));
        assert_eq!(
            json_err(r#"{"VER":1,"PREFERRED-CON-TYPE":1}"#),
            pair("$", "missing member `SERVER-ID`")
        );
        assert_eq!(
            json_err(r#"{"VER":1,"SERVER-ID":"a"}"#),
            pair("$", "missing member `PREFERRED-CON-TYPE`")
        );
        assert_eq!(
            json_err(r#"{"VER":2,"SERVER-ID":"dm","PREFERRED-CON-TYPE":1}"#),
            pair("$.VER", "VER must be the integer 1, found 2")
        );
        assert_eq!(with(r#""VER":1"#), pair("$", "duplicate member name `VER`"));
        assert_eq!(
            with(r#""x":{"a":1,"a":2}"#),
            pair("$.x", "duplicate member name `a`")
        );
        assert_eq!(
            with(r#""x":[{"a":1,"a":2}]"#),
            pair("$.x", "duplicate member name `a`")
        );
        assert_eq!(
            with(r#""NOTIFICATION-ID":65536"#),
            pair(
                "$.NOTIFICATION-ID",
                "NOTIFICATION-ID must be an integer from 0 to 65535, found 65536"
            )
        );
        assert_eq!(
            with(r#""NOTIFICATION-ID":-1"#).1,
            "NOTIFICATION-ID must be an integer from 0 to 65535, found -1"
        );
        assert_eq!(
            with(r#""TIMESTAMP":1.5"#).1,
            "TIMESTAMP must be an unsigned 64-bit integer, found the non-integer number 1.5"
        );
        assert_eq!(
            with(r#""TIMESTAMP":null"#).1,
            "TIMESTAMP must be an unsigned 64-bit integer, found null"
        );
        assert_eq!(
            with(r#""TIMESTAMP":"1""#).1,
            "TIMESTAMP must be an unsigned 64-bit integer, found a string"
        );
        assert_eq!(
            with(r#""REQ-MOS":false"#),
            pair(
                "$.REQ-MOS",
                "REQ-MOS must be true when present, found false"
            )
        );
        assert_eq!(
            with(r#""REQ-MOS":[]"#).1,
            "REQ-MOS must be true when present, found an array"
        );
        let upper = "AB".repeat(32);
        assert_eq!(
            with(&format!(r#""SHA256-DIGEST":"{upper}""#)),
            pair(
                "$.SHA256-DIGEST",
                "SHA256-DIGEST must be a string of 64 lowercase hex digits"
            )
        );
        assert_eq!(with(r#""SHA256-DIGEST":"00""#).0, "$.SHA256-DIGEST");
        assert_eq!(
            with(r#""SHA256-DIGEST":{}"#).1,
            "SHA256-DIGEST must be a string of 64 lowercase hex digits, found an object"
        );
        assert_eq!(
            json_err(r#"{"VER":1,"SERVER-ID":"","PREFERRED-CON-TYPE":1}"#).0,
            "$.SERVER-ID"
        );
        assert_eq!(
            json_err(r#"{"VER":1,"SERVER-ID":"a","PREFERRED-CON-TYPE":4}"#),
            pair(
                "$.PREFERRED-CON-TYPE",
                "PREFERRED-CON-TYPE must be an integer from 0 to 3, found 4"
            )
        );
        assert_eq!(
            json_err(r#"{"VER":1,"SERVER-ID":7,"PREFERRED-CON-TYPE":1}"#),
            pair("$.SERVER-ID", "SERVER-ID must be a string, found 7")
        );
        assert_eq!(json_err(&format!("{{{BASE}}} x")).0, "syntax");
        assert_eq!(json_err(&format!("{{{BASE}")).0, "syntax");
        assert_eq!(
            json_err(&format!("{{{BASE},\"x\":\"\\ud800\"}}")).0,
            "syntax"
        );
        assert_eq!(json_err(&format!("\u{feff}{{{BASE}}}")).0, "syntax");
        assert!(from_json(&[b'{', 0xff, b'}']).is_err());
        // Unknown members of any shape are ignored.
        let ok = format!(r#"{{{BASE},"x":{{"y":[1,-2,3.5,null,true,"s",{{}}]}},"REQ":false}}"#);
        assert!(from_json(ok.as_bytes()).is_ok());
    }

    #[test]
    fn json_error_offsets() {
        let json = "{\"VER\":1,\n\"SERVER-ID\":\"dm\",\n\"PREFERRED-CON-TYPE\":9}";
        let err = from_json(json.as_bytes()).expect_err("out of range");
        let offset = err.offset().expect("offset");
        // Reading stopped right after the offending value.
        assert_eq!(&json[offset - 1..offset], "9");
        // A duplicate name: right after the name.
        let json = r#"{"VER":1, "VER":1}"#;
        let err = from_json(json.as_bytes()).expect_err("duplicate");
        assert_eq!(err.offset(), Some(15));
        // Missing members: the end of the object.
        let err = from_json(b"{ }").expect_err("missing");
        assert_eq!(err.offset(), Some(3));
    }

    #[test]
    fn json_size_limit() {
        let pad = " ".repeat(MAX_JSON_LEN);
        let json = format!(r#"{{"VER":1,"SERVER-ID":"a","PREFERRED-CON-TYPE":1}}{pad}"#);
        assert!(matches!(
            from_json(json.as_bytes()),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(hex_lower(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        let text = hex_lower(&[0x3c; 32]);
        assert_eq!(parse_hex_digest(&text), Some([0x3c; 32]));
        assert_eq!(parse_hex_digest(&text[1..]), None);
        assert_eq!(parse_hex_digest(&"g0".repeat(32)), None);
    }
}
