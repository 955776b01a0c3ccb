//! PSK-TLS credentials of a device (RFC 4279, docs/protocol.md section
//! 12): its PSK identity and pre-shared key.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::wire;
use crate::Error;

/// A PSK identity (RFC 4279 `psk_identity`): 1 to 128 bytes of UTF-8
/// without control characters. It names the device a PSK-TLS connection
/// authenticated, as a client certificate does.
///
/// [`DmServer::serve`](crate::DmServer::serve) with the OpenSSL backend adds
/// it as a request extension to every request of a connection whose
/// handshake used a registered pre-shared key; an application that
/// terminates PSK-TLS itself and embeds
/// [`DmServer::router`](crate::DmServer::router) adds it the same way (only
/// after the handshake proved the key).
///
/// ```
/// use dm_server::PskIdentity;
///
/// let identity = PskIdentity::new("device-1@dm.example")?;
/// assert_eq!(identity.as_str(), "device-1@dm.example");
/// assert!(PskIdentity::new("").is_err());
/// assert!(PskIdentity::new("tab\there").is_err());
/// assert!(PskIdentity::new("x".repeat(129)).is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PskIdentity(String);

impl PskIdentity {
    /// Longest identity, in bytes (RFC 4279 allows 2^16 - 1; this server
    /// takes what a device's DMAcc `ClientPubKey` reasonably holds).
    pub const MAX_BYTES: usize = 128;

    /// Checks an identity: 1 to [`PskIdentity::MAX_BYTES`] bytes, no
    /// control characters.
    pub fn new(identity: impl Into<String>) -> Result<PskIdentity, Error> {
        let identity = identity.into();
        if identity.is_empty() || identity.len() > Self::MAX_BYTES {
            return Err(Error::InvalidPsk {
                problem: format!(
                    "the identity must be 1 to {} bytes, not {}",
                    Self::MAX_BYTES,
                    identity.len()
                ),
            });
        }
        if identity.chars().any(char::is_control) {
            return Err(Error::InvalidPsk {
                problem: "the identity must not have control characters".into(),
            });
        }
        Ok(PskIdentity(identity))
    }

    /// An identity as received in a handshake (bytes, which must be UTF-8).
    pub fn from_bytes(identity: &[u8]) -> Result<PskIdentity, Error> {
        let text = std::str::from_utf8(identity).map_err(|_| Error::InvalidPsk {
            problem: "the identity is not UTF-8".into(),
        })?;
        PskIdentity::new(text)
    }

    /// The identity.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PskIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for PskIdentity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for PskIdentity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PskIdentity::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A device's PSK-TLS credentials: its identity and pre-shared key (16 to
/// 64 bytes). The key is a secret: `Debug` leaves it out, the admin API
/// never shows it, errors never name it.
///
/// ```
/// use dm_server::PskCredentials;
///
/// let psk = PskCredentials::from_hex("device-1", "000102030405060708090a0b0c0d0e0f")?;
/// assert_eq!(psk.identity.as_str(), "device-1");
/// assert_eq!(psk.key().len(), 16);
/// assert!(!format!("{psk:?}").contains("0001"));
/// assert!(PskCredentials::from_hex("device-1", "0001").is_err(), "too short");
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PskCredentials {
    /// The PSK identity the device sends.
    pub identity: PskIdentity,
    /// The pre-shared key.
    #[serde(with = "wire::hex_bytes")]
    key: Vec<u8>,
}

impl PskCredentials {
    /// Shortest key, in bytes (128 bits).
    pub const MIN_KEY_BYTES: usize = 16;
    /// Longest key, in bytes.
    pub const MAX_KEY_BYTES: usize = 64;

    /// Credentials of an identity and key (16 to 64 bytes).
    pub fn new(identity: PskIdentity, key: Vec<u8>) -> Result<PskCredentials, Error> {
        if !(Self::MIN_KEY_BYTES..=Self::MAX_KEY_BYTES).contains(&key.len()) {
            return Err(Error::InvalidPsk {
                problem: format!(
                    "the key must be {} to {} bytes, not {}",
                    Self::MIN_KEY_BYTES,
                    Self::MAX_KEY_BYTES,
                    key.len()
                ),
            });
        }
        Ok(PskCredentials { identity, key })
    }

    /// Credentials from an identity and the key in hex (the form of the
    /// configuration file and the admin API). The errors never quote the
    /// key.
    pub fn from_hex(identity: &str, key_hex: &str) -> Result<PskCredentials, Error> {
        let identity = PskIdentity::new(identity)?;
        let key = dm_codec::hex::decode(key_hex.trim()).ok_or_else(|| Error::InvalidPsk {
            problem: "the key is not hex".into(),
        })?;
        PskCredentials::new(identity, key)
    }

    /// The pre-shared key.
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for PskCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PskCredentials")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_and_keys_are_checked() {
        assert!(PskIdentity::new("a").is_ok());
        assert!(PskIdentity::new("x".repeat(128)).is_ok());
        assert!(PskIdentity::new("ü".repeat(64)).is_ok(), "128 bytes");
        assert!(PskIdentity::new("ü".repeat(65)).is_err(), "130 bytes");
        assert!(PskIdentity::new("nul\0").is_err());
        assert!(PskIdentity::from_bytes(b"\xff").is_err());
        assert!(PskIdentity::from_bytes(b"ok").is_ok());
        let identity = PskIdentity::new("id").expect("valid");
        assert!(PskCredentials::new(identity.clone(), vec![0; 15]).is_err());
        assert!(PskCredentials::new(identity.clone(), vec![0; 16]).is_ok());
        assert!(PskCredentials::new(identity.clone(), vec![0; 64]).is_ok());
        assert!(PskCredentials::new(identity, vec![0; 65]).is_err());
        let wrong = PskCredentials::from_hex("id", "zz00112233445566778899aabbccddeeff")
            .expect_err("not hex");
        assert!(!wrong.to_string().contains("zz00"), "{wrong}");
        let json = serde_json::to_string(
            &PskCredentials::from_hex("id", "00112233445566778899aabbccddeeff").expect("valid"),
        )
        .expect("serializes");
        let back: PskCredentials = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back.key().len(), 16);
        assert!(serde_json::from_str::<PskIdentity>("\"\"").is_err());
    }
}
