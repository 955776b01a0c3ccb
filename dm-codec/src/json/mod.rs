//! JSON packages, MO serialization and alerts (docs/protocol.md section 3).

mod de;
mod describe;
mod path;
mod plain;
mod ser;

pub use describe::client_uri_to_json;
use dm_types::{Alert, CommandEntry, MoItem, Package1, Package2, Package3};
pub use ser::LeafJson;

use crate::{Error, Limits};

/// Decodes a Package#1 (`application/vnd.oma.dm.initiation+json`).
///
/// Decoding checks the document's shape only; the session rule "exactly one
/// session-start alert" is checked by the server with
/// [`Package1::session_start_alert`].
///
/// ```
/// use dm_codec::{decode_package1, Limits};
///
/// let p1 = decode_package1(
///     br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#,
///     &Limits::default(),
/// )?;
/// assert!(p1.mos.is_none());
/// assert!(p1.session_start_alert().is_ok());
/// # Ok::<(), dm_codec::Error>(())
/// ```
pub fn decode_package1(bytes: &[u8], limits: &Limits) -> Result<Package1, Error> {
    de::run(
        bytes,
        "Package#1",
        limits.package_bytes,
        limits,
        de::package1,
    )
}

/// Decodes a Package#2 (`application/vnd.oma.dm.request+json`).
///
/// A structurally broken package is an error; a well-shaped command with an
/// unknown name or bad parameters is kept as
/// [`CommandEntry::Invalid`](dm_types::CommandEntry::Invalid) so the client
/// can answer it with 501 or 400.
///
/// ```
/// use dm_codec::{decode_package2, Limits};
/// use dm_types::CommandEntry;
///
/// let p2 = decode_package2(br#"{"CMD":[["FROB","x"],["END"]]}"#, &Limits::default())?;
/// assert!(matches!(&p2.commands()[0], CommandEntry::Invalid(c) if c.status().as_u16() == 501));
/// assert!(p2.ends_session());
///
/// let err = decode_package2(br#"{"CMD":[["GET",5]]}"#, &Limits::default()).unwrap_err();
/// assert!(err.to_string().contains("$.CMD[0][1]"));
/// # Ok::<(), dm_codec::Error>(())
/// ```
pub fn decode_package2(bytes: &[u8], limits: &Limits) -> Result<Package2, Error> {
    let text = de::checked_text(bytes, "Package#2", limits.package_bytes)?;
    // The common shape is read directly; anything else (and every error)
    // by the streaming decoder, with the same result.
    match plain::package2(text, limits) {
        Some(package) => Ok(package),
        None => de::run_text(text, limits, de::package2),
    }
}

/// Decodes one command in the array form of Package#2 (docs/protocol.md
/// section 3.2), such as `["GET","urn:oma:mo:oma-dm-devinfo:1.0//FwV"]`:
/// what an application or an admin API receives to queue a command.
///
/// The rules are those of a command inside `CMD`, with the same decoder
/// and [`Limits`] (`package_bytes` for the input, string and URI lengths):
/// a non-empty array of strings is required, else [`Error`] with the path
/// (such as `$[1]`) and byte offset. A command of the right shape that
/// cannot be understood (an unknown name, a wrong parameter count, a
/// malformed parameter) is no error here, as in a Package#2: it is
/// [`CommandEntry::Invalid`], whose status says why (`501` for an unknown
/// name, `400` otherwise).
///
/// ```
/// use dm_codec::{decode_command, Limits};
/// use dm_types::CommandEntry;
///
/// let get = decode_command(br#"["GET","urn:oma:mo:oma-dm-devinfo:1.0//FwV"]"#, &Limits::default())?;
/// assert!(matches!(&get, CommandEntry::Command(c) if c.name() == "GET"));
///
/// let frob = decode_command(br#"["FROB","x"]"#, &Limits::default())?;
/// assert!(matches!(&frob, CommandEntry::Invalid(c) if c.status().as_u16() == 501));
///
/// let err = decode_command(br#"["GET",5]"#, &Limits::default()).unwrap_err();
/// assert!(err.to_string().contains("$[1]"), "{err}");
/// assert!(decode_command(b"[]", &Limits::default()).is_err());
/// # Ok::<(), dm_codec::Error>(())
/// ```
pub fn decode_command(bytes: &[u8], limits: &Limits) -> Result<CommandEntry, Error> {
    de::run(bytes, "command", limits.package_bytes, limits, de::command)
}

/// Decodes a Package#3 (`application/vnd.oma.dm.response+json`).
///
/// ```
/// use dm_codec::{decode_package3, Limits};
///
/// let p3 = decode_package3(br#"{"Status":[{"sc":200}]}"#, &Limits::default())?;
/// assert_eq!(p3.statuses[0].code.as_u16(), 200);
/// assert!(decode_package3(br#"{"Status":[{"sc":200.0}]}"#, &Limits::default()).is_err());
/// # Ok::<(), dm_codec::Error>(())
/// ```
pub fn decode_package3(bytes: &[u8], limits: &Limits) -> Result<Package3, Error> {
    de::run(
        bytes,
        "Package#3",
        limits.package_bytes,
        limits,
        de::package3,
    )
}

/// Decodes an MO serialization array (`application/dmmo+json`), bounded by
/// [`Limits::mo_data_bytes`].
///
/// ```
/// use dm_codec::{decode_mo_serialization, Limits};
///
/// let items = decode_mo_serialization(
///     br#"[{"ClientURI":"urn:oma:mo:moid:1.0/left/","MOData":{"r":{"a":1}}}]"#,
///     &Limits::default(),
/// )?;
/// assert_eq!(items[0].data.name().as_str(), "r");
/// let dup = br#"[{"ClientURI":"urn:x:y/a/","MOData":{"r":{"a":1,"a":2}}}]"#;
/// assert!(decode_mo_serialization(dup, &Limits::default()).is_err());
/// # Ok::<(), dm_codec::Error>(())
/// ```
pub fn decode_mo_serialization(bytes: &[u8], limits: &Limits) -> Result<Vec<MoItem>, Error> {
    de::run(
        bytes,
        "MO serialization",
        limits.mo_data_bytes,
        limits,
        de::mo_serialization,
    )
}

/// Decodes one generic alert object.
///
/// ```
/// use dm_codec::{decode_alert, Limits};
///
/// let alert = decode_alert(br#"{"AlertType":"urn:x:y","Mark":"fatal"}"#, &Limits::default())?;
/// assert_eq!(alert.mark.map(|m| m.name()), Some("fatal"));
/// assert!(decode_alert(br#"{"AlertType":"urn:x:y","Mark":"severe"}"#, &Limits::default()).is_err());
/// # Ok::<(), dm_codec::Error>(())
/// ```
pub fn decode_alert(bytes: &[u8], limits: &Limits) -> Result<Alert, Error> {
    de::run(bytes, "alert", limits.package_bytes, limits, de::alert)
}

/// Decodes any JSON document as strictly as the protocol's own: a duplicate
/// member name at any depth, trailing bytes, invalid UTF-8, a lone
/// surrogate or a byte order mark is an error, and [`Limits`] (bytes as
/// [`Limits::package_bytes`], nesting depth, string length) apply while it
/// is read. For JSON the protocol does not define but that must not mean
/// two things to two readers, such as a server's admin requests: with
/// duplicate names, one reader takes the first member and another the
/// last.
///
/// ```
/// use dm_codec::{decode_json, Error, Limits};
///
/// let value = decode_json(br#"{"command":["GET","urn:x:y//a"]}"#, &Limits::default())?;
/// assert_eq!(value["command"][0], "GET");
///
/// let twice = br#"{"command":["GET","urn:x:y//a"],"command":["EXEC","urn:x:y//b"]}"#;
/// let err = decode_json(twice, &Limits::default()).unwrap_err();
/// assert!(matches!(err, Error::Invalid { ref message, .. } if message == r#"duplicate member "command""#));
/// // The position is where reading stopped: just after the repeated member.
/// assert_eq!(err.to_string(), r#"duplicate member "command" at $ (byte 63)"#);
/// # Ok::<(), dm_codec::Error>(())
/// ```
pub fn decode_json(bytes: &[u8], limits: &Limits) -> Result<serde_json::Value, Error> {
    de::run(
        bytes,
        "JSON document",
        limits.package_bytes,
        limits,
        de::json_value,
    )
}

/// Encodes a Package#1 as compact JSON.
///
/// ```
/// use dm_codec::encode_package1;
/// use dm_types::{Alert, Package1};
///
/// let p1 = Package1 { mos: None, alerts: vec![Alert::client_initiated()] };
/// assert_eq!(
///     encode_package1(&p1),
///     br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#
/// );
/// ```
pub fn encode_package1(package: &Package1) -> Vec<u8> {
    ser::to_vec(&ser::J(package))
}

/// Encodes a Package#2 as compact JSON (ServerURIs exactly as received,
/// ClientURIs canonical, invalid commands verbatim).
///
/// ```
/// use dm_codec::encode_package2;
/// use dm_types::{Command, Package2};
///
/// let p2 = Package2::new(vec![Command::End.into()])?;
/// assert_eq!(encode_package2(&p2), br#"{"CMD":[["END"]]}"#);
/// # Ok::<(), dm_types::Error>(())
/// ```
pub fn encode_package2(package: &Package2) -> Vec<u8> {
    ser::to_vec(&ser::J(package))
}

/// Encodes a Package#3 as compact JSON.
///
/// ```
/// use dm_codec::encode_package3;
/// use dm_types::{Package3, Status, StatusCode};
///
/// let p3 = Package3 { statuses: vec![Status::new(StatusCode::OK)], alerts: vec![] };
/// assert_eq!(encode_package3(&p3), br#"{"Status":[{"sc":200}]}"#);
/// ```
pub fn encode_package3(package: &Package3) -> Vec<u8> {
    ser::to_vec(&ser::J(package))
}

/// Encodes an MO serialization array as compact JSON.
///
/// ```
/// use dm_codec::encode_mo_serialization;
/// use dm_types::{ClientUri, LeafValue, MoData, MoItem, MoNode, NodeName};
///
/// let item = MoItem {
///     ddf: None,
///     client_uri: ClientUri::parse("urn:oma:mo:oma-sessioninfomo:1.0/s/CBT")?,
///     cache_validator: None,
///     data: MoData::new(NodeName::new("CBT")?, MoNode::Leaf(LeafValue::from("WLAN"))),
/// };
/// assert_eq!(
///     encode_mo_serialization(&[item]),
///     br#"[{"ClientURI":"urn:oma:mo:oma-sessioninfomo:1.0/s/CBT","MOData":{"CBT":"WLAN"}}]"#
/// );
/// # Ok::<(), dm_types::Error>(())
/// ```
pub fn encode_mo_serialization(items: &[MoItem]) -> Vec<u8> {
    ser::to_vec(&ser::J(items))
}

/// Encodes one alert as compact JSON.
///
/// ```
/// use dm_codec::encode_alert;
/// use dm_types::Alert;
///
/// assert_eq!(
///     encode_alert(&Alert::server_initiated(7)),
///     br#"{"AlertType":"urn:oma:at:dm:2.0:ServerInitiatedMgmt","DataType":"int","Data":{"NotificationID":7}}"#
/// );
/// ```
pub fn encode_alert(alert: &Alert) -> Vec<u8> {
    ser::to_vec(&ser::J(alert))
}
