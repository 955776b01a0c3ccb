//! The SHA256-DIGEST of Package#0: computed when a server signs
//! ([`encode_signed`]), checked when a client receives
//! ([`Received::verify_digest`], [`verify_digest`]).

use dm_types::Notification;
use sha2::{Digest as _, Sha256};

use super::wire::{DIGEST_LEN, Received, encode_with_digest, error, parse};
use crate::Error;
use crate::hex::constant_time_eq;

impl Received<'_> {
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
        Some(computed) if constant_time_eq(&computed, &received) => DigestCheck::Valid,
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

/// `SHA-256(secret || bytes with the 32 bytes at digest_offset zeroed ||
/// auth_data)`, hashing the slices around the digest; `None` when the digest
/// does not fit in `bytes`.
pub(super) fn digest_over(
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
