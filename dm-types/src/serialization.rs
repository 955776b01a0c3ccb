//! Serde support for the types that servers store between two packages (a
//! session's state, see `dm_session::SessionState`): each serializes as its
//! wire text, and deserializing checks it again as the constructors do.
//!
//! - [`DevId`]: its text, `"IMEI:493005100592800"`.
//! - [`Moid`]: its text, `"urn:oma:mo:oma-fumo:1.0"`.
//! - [`Command`]: the Package#2 array form, `["GET", "<ClientURI>"]`.
//!
//! ```
//! use dm_types::{Command, DevId};
//!
//! let dev_id = DevId::new("IMEI:1")?;
//! assert_eq!(serde_json::to_string(&dev_id)?, r#""IMEI:1""#);
//! let get = Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"])?;
//! let json = serde_json::to_string(&get)?;
//! assert_eq!(json, r#"["GET","urn:oma:mo:oma-dm-devinfo:1.0//Man"]"#);
//! assert_eq!(serde_json::from_str::<Command>(&json)?, get);
//! assert!(serde_json::from_str::<DevId>(r#""has space""#).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::de::Error as _;
use serde::ser::SerializeSeq as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Command, DevId, Moid};

impl Serialize for DevId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DevId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DevId::new(String::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl Serialize for Moid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Moid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Moid::new(String::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl Serialize for Command {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let params: Vec<&str> = self.params().collect();
        let mut seq = s.serialize_seq(Some(params.len() + 1))?;
        seq.serialize_element(self.name())?;
        for param in params {
            seq.serialize_element(param)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let words = Vec::<String>::deserialize(d)?;
        Command::from_words(&words).map_err(D::Error::custom)
    }
}
