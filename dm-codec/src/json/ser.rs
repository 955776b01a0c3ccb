//! Encoding: a borrowed wrapper [`J`] that serializes `dm-types` values
//! straight to JSON, in the member order of docs/protocol.md section 3.

use dm_types::{
    Alert, ClientUri, CommandEntry, LeafValue, Miid, MoItem, MoNode, MosEntry, Package1, Package2,
    Package3, Status,
};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// JSON view of a value (or a slice of values) of `dm-types`.
pub(crate) struct J<'a, T: ?Sized>(pub(crate) &'a T);

impl<T> Serialize for J<'_, [T]>
where
    for<'b> J<'b, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&J(item))?;
        }
        seq.end()
    }
}

impl Serialize for J<'_, ClientUri> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl Serialize for J<'_, Miid> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl Serialize for J<'_, Package1> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(mos) = &self.0.mos {
            map.serialize_entry("MOS", &J(mos.as_slice()))?;
        }
        if !self.0.alerts.is_empty() {
            map.serialize_entry("Alert", &J(self.0.alerts.as_slice()))?;
        }
        map.end()
    }
}

impl Serialize for J<'_, MosEntry> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entry = self.0;
        let mut map = serializer.serialize_map(None)?;
        if let Some(ddf) = &entry.ddf {
            map.serialize_entry("DDF", ddf.as_str())?;
        }
        map.serialize_entry("MOID", entry.moid.as_str())?;
        map.serialize_entry("MIID", &J(entry.miids.as_slice()))?;
        map.end()
    }
}

impl Serialize for J<'_, Alert> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let alert = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("AlertType", alert.alert_type.as_str())?;
        if let Some(v) = &alert.source_uri {
            map.serialize_entry("SourceURI", v)?;
        }
        if let Some(v) = &alert.target_uri {
            map.serialize_entry("TargetURI", v)?;
        }
        if let Some(v) = alert.mark {
            map.serialize_entry("Mark", v.name())?;
        }
        if let Some(v) = &alert.data_type {
            map.serialize_entry("DataType", v)?;
        }
        if let Some(v) = &alert.data {
            map.serialize_entry("Data", v)?;
        }
        map.end()
    }
}

impl Serialize for J<'_, Package2> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("CMD", &J(self.0.commands()))?;
        map.end()
    }
}

impl Serialize for J<'_, CommandEntry> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            CommandEntry::Command(command) => {
                let mut seq = serializer.serialize_seq(None)?;
                seq.serialize_element(command.name())?;
                for param in command.params() {
                    seq.serialize_element(param)?;
                }
                seq.end()
            }
            CommandEntry::Invalid(invalid) => invalid.words.serialize(serializer),
        }
    }
}

impl Serialize for J<'_, Package3> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("Status", &J(self.0.statuses.as_slice()))?;
        if !self.0.alerts.is_empty() {
            map.serialize_entry("Alert", &J(self.0.alerts.as_slice()))?;
        }
        map.end()
    }
}

impl Serialize for J<'_, Status> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let status = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("sc", &status.code.as_u16())?;
        if !status.uris.is_empty() {
            map.serialize_entry("URI", &J(status.uris.as_slice()))?;
        }
        if !status.data.is_empty() {
            map.serialize_entry("Data", &J(status.data.as_slice()))?;
        }
        map.end()
    }
}

impl Serialize for J<'_, MoItem> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let item = self.0;
        let mut map = serializer.serialize_map(None)?;
        if let Some(ddf) = &item.ddf {
            map.serialize_entry("DDF", ddf.as_str())?;
        }
        map.serialize_entry("ClientURI", item.client_uri.as_str())?;
        if let Some(cv) = &item.cache_validator {
            map.serialize_entry("CV", cv.as_str())?;
        }
        map.serialize_entry("MOData", &MoDataJson(item))?;
        map.end()
    }
}

/// The `MOData` object: one member named after the node.
struct MoDataJson<'a>(&'a MoItem);

impl Serialize for MoDataJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let data = &self.0.data;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(data.name().as_str(), &J(data.node()))?;
        map.end()
    }
}

impl Serialize for J<'_, MoNode> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            MoNode::Interior(children) => {
                let mut map = serializer.serialize_map(Some(children.len()))?;
                for (name, node) in children.iter() {
                    map.serialize_entry(name.as_str(), &J(node))?;
                }
                map.end()
            }
            MoNode::Leaf(value) => LeafJson(value).serialize(serializer),
        }
    }
}

/// The JSON form of a leaf value (docs/protocol.md section 3.4): `null`,
/// `true`/`false`, a number, or a string (base64 for bytes). For code that
/// serializes MO data from its own storage with `serde_json`.
///
/// ```
/// use dm_codec::LeafJson;
/// use dm_types::LeafValue;
///
/// assert_eq!(serde_json::to_string(&LeafJson(&LeafValue::Int(7))).unwrap(), "7");
/// assert_eq!(serde_json::to_string(&LeafJson(&LeafValue::Binary(vec![0, 1, 2]))).unwrap(), "\"AAEC\"");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LeafJson<'a>(pub &'a LeafValue);

impl Serialize for LeafJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            LeafValue::Null => serializer.serialize_unit(),
            LeafValue::Bool(b) => serializer.serialize_bool(*b),
            LeafValue::Int(i) => serializer.serialize_i64(*i),
            LeafValue::Float(f) => serializer.serialize_f64(f.get()),
            LeafValue::Text(s) => serializer.serialize_str(s),
            // Every other leaf kind is written as its text (base64 for bytes).
            other => serializer.serialize_str(&other.to_text()),
        }
    }
}

/// Serializes to a byte vector. Only string keys, finite floats and
/// in-memory output are involved, so `serde_json` has nothing to fail on.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    if let Err(e) = serde_json::to_writer(&mut out, value) {
        // Unreachable (see above); the function stays total all the same.
        debug_assert!(false, "JSON encoding failed: {e}");
        out.clear();
    }
    out
}
