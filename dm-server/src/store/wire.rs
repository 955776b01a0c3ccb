//! Serde adapters for the protocol types kept in store records, so that
//! records serialize to plain JSON (the `MemoryStore` file, or JSON columns
//! of a database backend).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use dm_codec::Limits;
use dm_session::Initiator;
use dm_types::{Alert, DdfUri, Miid, Moid, MosEntry, Status};

/// Limits for reading stored values back: generous, since the server wrote
/// them after checking them against its own limits.
pub(crate) fn stored_limits() -> Limits {
    Limits::default()
        .with_package_bytes(usize::MAX)
        .with_mo_data_bytes(usize::MAX)
        .with_string_length(usize::MAX)
        .with_uri_length(usize::MAX)
}

/// A status entry as the JSON of a Package#3 `Status` member.
pub(crate) fn status_to_json(status: &Status) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("sc".into(), status.code.as_u16().into());
    if !status.uris.is_empty() {
        map.insert(
            "URI".into(),
            status
                .uris
                .iter()
                .map(|u| Value::from(u.as_str()))
                .collect(),
        );
    }
    if !status.data.is_empty() {
        map.insert("Data".into(), mo_items_to_json(&status.data));
    }
    Value::Object(map)
}

/// MO serialization items as a JSON array.
pub(crate) fn mo_items_to_json(items: &[dm_types::MoItem]) -> Value {
    // The encoder writes valid JSON.
    serde_json::from_slice(&dm_codec::encode_mo_serialization(items)).unwrap_or(Value::Null)
}

pub(crate) mod status_option {
    use super::{Deserialize, Deserializer, Serialize, Serializer, Status, Value};
    use serde::de::Error as _;

    #[allow(clippy::ref_option, reason = "the signature serde's `with` calls")]
    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Status>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_ref().map(super::status_to_json).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Status>, D::Error> {
        let Some(value) = Option::<Value>::deserialize(d)? else {
            return Ok(None);
        };
        // Read it back as the only status of a Package#3.
        let package = serde_json::json!({ "Status": [value] });
        let bytes = serde_json::to_vec(&package).map_err(D::Error::custom)?;
        let mut decoded =
            dm_codec::decode_package3(&bytes, &super::stored_limits()).map_err(D::Error::custom)?;
        Ok(decoded.statuses.pop())
    }
}

pub(crate) mod alert {
    use super::{Alert, Deserialize, Deserializer, Serialize, Serializer, Value};
    use serde::de::Error as _;

    pub(crate) fn serialize<S: Serializer>(value: &Alert, s: S) -> Result<S::Ok, S::Error> {
        let json: Value = serde_json::from_slice(&dm_codec::encode_alert(value))
            .map_err(serde::ser::Error::custom)?;
        json.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Alert, D::Error> {
        let value = Value::deserialize(d)?;
        let bytes = serde_json::to_vec(&value).map_err(D::Error::custom)?;
        dm_codec::decode_alert(&bytes, &super::stored_limits()).map_err(D::Error::custom)
    }
}

#[derive(Serialize, Deserialize)]
struct MosJson {
    #[serde(rename = "MOID")]
    moid: String,
    #[serde(rename = "MIID")]
    miids: Vec<String>,
    #[serde(rename = "DDF", default, skip_serializing_if = "Option::is_none")]
    ddf: Option<String>,
}

/// An MO list entry as the JSON of Package#1 `MOS`.
pub(crate) fn mos_to_json(entry: &MosEntry) -> Value {
    serde_json::to_value(MosJson {
        moid: entry.moid.as_str().to_owned(),
        miids: entry.miids.iter().map(|m| m.as_str().to_owned()).collect(),
        ddf: entry.ddf.as_ref().map(|d| d.as_str().to_owned()),
    })
    .unwrap_or(Value::Null)
}

pub(crate) mod mos_option {
    use super::{DdfUri, Deserialize, Deserializer, Miid, Moid, MosEntry, MosJson, Serializer};
    use serde::de::Error as _;
    use serde::ser::SerializeSeq as _;

    #[allow(clippy::ref_option, reason = "the signature serde's `with` calls")]
    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Vec<MosEntry>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            None => s.serialize_none(),
            Some(entries) => {
                let mut seq = s.serialize_seq(Some(entries.len()))?;
                for entry in entries {
                    seq.serialize_element(&super::mos_to_json(entry))?;
                }
                seq.end()
            }
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<MosEntry>>, D::Error> {
        let Some(entries) = Option::<Vec<MosJson>>::deserialize(d)? else {
            return Ok(None);
        };
        entries
            .into_iter()
            .map(|e| {
                Ok(MosEntry {
                    moid: Moid::new(e.moid).map_err(D::Error::custom)?,
                    miids: e
                        .miids
                        .into_iter()
                        .map(Miid::new)
                        .collect::<Result<_, _>>()
                        .map_err(D::Error::custom)?,
                    ddf: e
                        .ddf
                        .map(DdfUri::new)
                        .transpose()
                        .map_err(D::Error::custom)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// How a session began, as text: `client`, `server`, `bootstrap`.
pub(crate) fn initiator_name(initiator: Initiator) -> &'static str {
    match initiator {
        Initiator::Server(_) => "server",
        Initiator::Bootstrap => "bootstrap",
        _ => "client",
    }
}

#[derive(Serialize, Deserialize)]
struct InitiatorJson {
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notification_id: Option<u16>,
}

pub(crate) mod initiator {
    use super::{Deserialize, Deserializer, Initiator, InitiatorJson, Serialize, Serializer};
    use serde::de::Error as _;

    #[allow(
        clippy::trivially_copy_pass_by_ref,
        reason = "the signature serde's `with` calls"
    )]
    pub(crate) fn serialize<S: Serializer>(value: &Initiator, s: S) -> Result<S::Ok, S::Error> {
        let notification_id = match value {
            Initiator::Server(id) => *id,
            _ => None,
        };
        InitiatorJson {
            kind: super::initiator_name(*value).to_owned(),
            notification_id,
        }
        .serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Initiator, D::Error> {
        let json = InitiatorJson::deserialize(d)?;
        match json.kind.as_str() {
            "client" => Ok(Initiator::Client),
            "server" => Ok(Initiator::Server(json.notification_id)),
            "bootstrap" => Ok(Initiator::Bootstrap),
            other => Err(D::Error::custom(format!("unknown initiator {other:?}"))),
        }
    }
}

/// Fixed-size byte arrays as lowercase hex.
pub(crate) mod hex_array {
    use super::{Deserialize, Deserializer, Serializer};
    use serde::de::Error as _;

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        value: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&dm_codec::hex::encode(value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let text = String::deserialize(d)?;
        dm_codec::hex::decode_array(&text)
            .ok_or_else(|| D::Error::custom(format!("expected {} hex digits", N * 2)))
    }
}

/// Optional fixed-size byte arrays as lowercase hex.
pub(crate) mod hex_array_option {
    use super::{Deserialize, Deserializer, Serializer};
    use serde::de::Error as _;

    #[allow(clippy::ref_option, reason = "the signature serde's `with` calls")]
    pub(crate) fn serialize<S: Serializer, const N: usize>(
        value: &Option<[u8; N]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => s.serialize_some(&dm_codec::hex::encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<Option<[u8; N]>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                dm_codec::hex::decode_array(&text)
                    .ok_or_else(|| D::Error::custom(format!("expected {} hex digits", N * 2)))
            })
            .transpose()
    }
}

/// Byte strings as lowercase hex.
pub(crate) mod hex_bytes {
    use super::{Deserialize, Deserializer, Serializer};
    use serde::de::Error as _;

    pub(crate) fn serialize<S: Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&dm_codec::hex::encode(value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        dm_codec::hex::decode(&text).ok_or_else(|| D::Error::custom("expected hex digits"))
    }
}
