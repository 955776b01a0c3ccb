//! Objects of the data repository: [`RepositoryObject`] and its [`ObjectOwner`].

use serde::{Deserialize, Serialize};

use dm_types::DevId;

/// Who stored a repository object, and so who may replace it. Serialized as
/// `"server"` or `"device:<DevID>"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ObjectOwner {
    /// The server (admin API): devices may read it, not write it.
    Server,
    /// A device (HPUT, HPOST, SUB reports): only that device and the server
    /// may read or replace it.
    Device(DevId),
}

impl Serialize for ObjectOwner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ObjectOwner::Server => s.serialize_str("server"),
            ObjectOwner::Device(dev_id) => s.serialize_str(&format!("device:{dev_id}")),
        }
    }
}

impl<'de> Deserialize<'de> for ObjectOwner {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "server" {
            return Ok(ObjectOwner::Server);
        }
        let dev_id = text
            .strip_prefix("device:")
            .ok_or_else(|| serde::de::Error::custom(format!("unknown owner {text:?}")))?;
        DevId::new(dev_id)
            .map(ObjectOwner::Device)
            .map_err(serde::de::Error::custom)
    }
}

/// An MO serialization document in the data repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RepositoryObject {
    /// The MO serialization (`application/dmmo+json`), checked when stored.
    pub body: String,
    /// Who stored it.
    pub owner: ObjectOwner,
    /// When (Unix milliseconds).
    pub updated_ms: u64,
}

impl RepositoryObject {
    /// An object stored by `owner` at `updated_ms`.
    pub fn new(body: String, owner: ObjectOwner, updated_ms: u64) -> RepositoryObject {
        RepositoryObject {
            body,
            owner,
            updated_ms,
        }
    }
}
