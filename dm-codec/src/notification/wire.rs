//! The binary form of Package#0: [`decode`], [`Received`] and [`encode`].

use dm_types::{ConnectionType, NOTIFICATION_VERSION, Notification, ServerId};

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

/// An [`Error::Notification`] at `offset`.
pub(super) fn error(offset: usize, reason: &'static str) -> Error {
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
    pub(super) bytes: &'a [u8],
    pub(super) notification: Notification,
    pub(super) digest_offset: Option<usize>,
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

/// The fields of a checked notification, borrowed from its bytes.
pub(super) struct Fields<'a> {
    server_id: &'a str,
    preferred_con_type: ConnectionType,
    notification_id: Option<u16>,
    pub(super) digest: Option<[u8; DIGEST_LEN]>,
    pub(super) digest_offset: Option<usize>,
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
pub(super) fn parse(bytes: &[u8]) -> Result<Fields<'_>, Error> {
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

/// Encodes a notification in the binary form: options in increasing number,
/// absent ones left out, TIMESTAMP always in 8 bytes, reserved bits zero. The
/// digest, when present, is written as given (see [`encode_signed`](super::encode_signed) to
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

/// Writes the binary form with `digest` as the SHA256-DIGEST value; returns
/// the bytes and the offset of the digest value.
pub(super) fn encode_with_digest(
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
