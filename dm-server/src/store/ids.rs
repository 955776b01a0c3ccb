//! The identifiers the store assigns: [`CommandId`] and [`SessionToken`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The identifier of a queued command, assigned by the store (unique in it).
///
/// ```
/// use dm_server::CommandId;
///
/// let id: CommandId = "42".parse()?;
/// assert_eq!(id, CommandId(42));
/// assert_eq!(id.to_string(), "42");
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommandId(pub u64);

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for CommandId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        s.parse()
            .map(CommandId)
            .map_err(|_| Error::InvalidCommandId(s.to_owned()))
    }
}

/// The token of a session: 128 random bits, written as 32 lowercase hex
/// digits in the session URI `<public base>/dm/s/<token>`.
///
/// ```
/// use dm_server::SessionToken;
///
/// let token = SessionToken::random()?;
/// let text = token.to_string();
/// assert_eq!(text.len(), 32);
/// assert_eq!(text.parse::<SessionToken>()?, token);
/// assert!("not-a-token".parse::<SessionToken>().is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionToken([u8; 16]);

impl SessionToken {
    /// A fresh token from the operating system's random source.
    pub fn random() -> Result<SessionToken, Error> {
        crate::util::random().map(SessionToken)
    }

    /// The token of these 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> SessionToken {
        SessionToken(bytes)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A name of the session that reveals nothing of the token (the token
    /// is the secret of the session URI): 16 hex digits of a SHA-256 of the
    /// token, the same on every node and across restarts.
    ///
    /// ```
    /// use dm_server::SessionToken;
    ///
    /// let token = SessionToken::from_bytes([7; 16]);
    /// let id = token.public_id();
    /// assert_eq!(id.len(), 16);
    /// assert_eq!(id, SessionToken::from_bytes([7; 16]).public_id());
    /// assert!(!token.to_string().contains(&id));
    /// ```
    pub fn public_id(&self) -> String {
        let mut labelled = b"dm-server session id\0".to_vec();
        labelled.extend_from_slice(&self.0);
        dm_codec::hex::encode(&crate::util::sha256(&labelled)[..8])
    }
}

impl fmt::Display for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&dm_codec::hex::encode(&self.0))
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionToken({self})")
    }
}

impl FromStr for SessionToken {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        dm_codec::hex::decode_array(s)
            .map(SessionToken)
            .ok_or_else(|| Error::InvalidSessionToken(s.to_owned()))
    }
}

impl Serialize for SessionToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for SessionToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
