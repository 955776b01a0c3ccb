//! The JSON form of Package#0 (docs/protocol.md section 3.6), for display
//! and tooling: [`to_json`], [`to_json_string`], [`from_json`].

use std::collections::HashSet;
use std::fmt;

use dm_types::{ConnectionType, NOTIFICATION_VERSION, Notification, ServerId};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::wire::DIGEST_LEN;
use crate::Error;
use crate::hex;
use crate::position::byte_offset;

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
        map.insert("SHA256-DIGEST".into(), hex::encode(digest).into());
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
        let _ = write!(text, r#","SHA256-DIGEST":"{}""#, hex::encode(digest));
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
/// byte offset of the last byte read: the offending byte, or the last byte
/// of the offending value or member name.
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
            Member::Digest => parse_digest_hex(v)
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

/// The SHA256-DIGEST of the JSON form: exactly 64 hex digits, lowercase
/// only (the form this crate writes, so that one digest has one spelling).
pub(super) fn parse_digest_hex(text: &str) -> Option<[u8; DIGEST_LEN]> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode_array(text)
}
