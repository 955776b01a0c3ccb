//! API keys of the admin API: the key text a client sends ([`ApiKey`],
//! `dmk_<id>_<secret>`), its public id ([`ApiKeyId`]) and what the store
//! keeps of it ([`ApiKeyRecord`]: the SHA-256 of the secret, never the
//! secret).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::util::{random, sha256};

/// What an API key may do, ordered: `read` < `operator` < `admin`; a key
/// may do what its scope and every lower scope allow.
///
/// ```
/// use dm_server::Scope;
///
/// let scope: Scope = "operator".parse()?;
/// assert_eq!(scope, Scope::Operator);
/// assert!(Scope::Read < scope && scope < Scope::Admin);
/// assert_eq!(scope.to_string(), "operator");
/// assert_eq!(serde_json::to_string(&Scope::Read).unwrap(), r#""read""#);
/// assert_eq!(
///     "root".parse::<Scope>().unwrap_err().to_string(),
///     r#"invalid request: scope "root" is not read, operator or admin"#
/// );
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Reads everything but the API keys: devices, commands, alerts,
    /// campaigns, metrics.
    Read,
    /// Reads, and runs the fleet: queues commands, notifies devices, tags
    /// them, creates and steers campaigns.
    Operator,
    /// Everything: registers and removes devices, their credentials, the
    /// repository, artifacts, groups, bootstrap profiles, API keys.
    Admin,
}

impl Scope {
    /// The scope's name as the admin API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operator => "operator",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;

    fn from_str(text: &str) -> Result<Scope, Error> {
        match text {
            "read" => Ok(Scope::Read),
            "operator" => Ok(Scope::Operator),
            "admin" => Ok(Scope::Admin),
            _ => Err(Error::InvalidScope(
                text.chars().take(crate::MAX_NAME_LEN + 1).collect(),
            )),
        }
    }
}

/// The prefix of every key text.
const PREFIX: &str = "dmk_";

/// Random bytes of an id (16 base32 characters).
const ID_BYTES: usize = 10;

/// Characters of an id.
const ID_LEN: usize = 16;

/// Random bytes of a secret.
const SECRET_BYTES: usize = 32;

/// Characters of a secret (base64url without padding).
const SECRET_LEN: usize = 43;

/// Length of a key text: `dmk_`, the id, `_`, the secret.
pub const API_KEY_LEN: usize = PREFIX.len() + ID_LEN + 1 + SECRET_LEN;

/// Longest name of an API key, in bytes.
pub const MAX_API_KEY_NAME_LEN: usize = 64;

/// The lowercase base32 alphabet of RFC 4648.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn invalid(problem: &'static str) -> Error {
    Error::InvalidApiKey { problem }
}

/// The public id of an API key: 16 characters of `a-z 2-7` (80 random
/// bits, base32). It names the key in listings, logs and URLs; it does not
/// authenticate anything.
///
/// ```
/// use dm_server::ApiKeyId;
///
/// let id = ApiKeyId::new("abcdefghijklmn23")?;
/// assert_eq!(id.as_str(), "abcdefghijklmn23");
/// assert_eq!(ApiKeyId::new("ABCDEFGHIJKLMN23").unwrap_err().status().as_u16(), 400);
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApiKeyId(String);

impl ApiKeyId {
    /// Checks and wraps an id.
    pub fn new(text: impl Into<String>) -> Result<ApiKeyId, Error> {
        let text = text.into();
        if text.len() == ID_LEN && text.bytes().all(|b| BASE32.contains(&b)) {
            Ok(ApiKeyId(text))
        } else {
            Err(invalid("the id is not 16 characters of a-z 2-7"))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ApiKeyId {
    type Err = Error;

    fn from_str(text: &str) -> Result<ApiKeyId, Error> {
        ApiKeyId::new(text)
    }
}

impl TryFrom<String> for ApiKeyId {
    type Error = Error;

    fn try_from(text: String) -> Result<ApiKeyId, Error> {
        ApiKeyId::new(text)
    }
}

impl From<ApiKeyId> for String {
    fn from(id: ApiKeyId) -> String {
        id.0
    }
}

/// An API key as a client holds it: its id and its 32-byte secret, written
/// `dmk_<id>_<secret>` (the secret in base64url without padding). Its
/// `Debug` shows the id only.
///
/// ```
/// use dm_server::ApiKey;
///
/// let key = ApiKey::generate()?;
/// let text = key.text();
/// assert_eq!(text.len(), dm_server::API_KEY_LEN);
/// let again = ApiKey::parse(&text)?;
/// assert_eq!(again.id(), key.id());
/// assert_eq!(again.secret_sha256(), key.secret_sha256());
/// assert!(!format!("{key:?}").contains(&text[21..]));
/// assert_eq!(
///     ApiKey::parse("dmk_short").unwrap_err().to_string(),
///     "invalid request: API key: not 64 characters dmk_<id>_<secret>"
/// );
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Clone)]
pub struct ApiKey {
    id: ApiKeyId,
    secret: [u8; SECRET_BYTES],
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("secret", &"…")
            .finish()
    }
}

impl ApiKey {
    /// A new key: a random id and a random secret from the operating
    /// system.
    pub fn generate() -> Result<ApiKey, Error> {
        let id_bytes: [u8; ID_BYTES] = random()?;
        Ok(ApiKey {
            id: ApiKeyId(base32(&id_bytes)),
            secret: random()?,
        })
    }

    /// Reads a key text `dmk_<id>_<secret>`; a precise
    /// [`Error::InvalidApiKey`] (400) otherwise, which never repeats the
    /// text. Looks at no more than [`API_KEY_LEN`] bytes.
    pub fn parse(text: &str) -> Result<ApiKey, Error> {
        if text.len() != API_KEY_LEN {
            return Err(invalid("not 64 characters dmk_<id>_<secret>"));
        }
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| invalid("does not start with dmk_"))?;
        let (id, secret) = rest
            .split_at_checked(ID_LEN)
            .ok_or_else(|| invalid("the id is not 16 characters of a-z 2-7"))?;
        let id = ApiKeyId::new(id)?;
        let secret = secret
            .strip_prefix('_')
            .ok_or_else(|| invalid("no _ after the id"))?;
        let mut bytes = [0u8; SECRET_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(secret, &mut bytes) {
            Ok(SECRET_BYTES) => {}
            _ => return Err(invalid("the secret is not 32 bytes in base64url")),
        }
        Ok(ApiKey { id, secret: bytes })
    }

    /// The key's public id.
    pub fn id(&self) -> &ApiKeyId {
        &self.id
    }

    /// The SHA-256 of the secret: what the store keeps.
    pub fn secret_sha256(&self) -> [u8; 32] {
        sha256(&self.secret)
    }

    /// The key text `dmk_<id>_<secret>`, as the client sends it: a secret,
    /// shown once to whoever adds the key.
    pub fn text(&self) -> String {
        format!(
            "{PREFIX}{}_{}",
            self.id,
            URL_SAFE_NO_PAD.encode(self.secret)
        )
    }
}

/// Lowercase base32 (RFC 4648) of `bytes`, without padding.
fn base32(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buffer = [0u8; 5];
        buffer[..chunk.len()].copy_from_slice(chunk);
        let bits = buffer
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            let index = (bits >> (35 - 5 * i)) & 31;
            text.push(char::from(BASE32[index as usize]));
        }
    }
    text
}

/// Checks the name of an API key: 1 to [`MAX_API_KEY_NAME_LEN`] bytes of
/// text without control characters.
///
/// ```
/// use dm_server::check_api_key_name;
///
/// assert!(check_api_key_name("CI pipeline").is_ok());
/// assert!(check_api_key_name("").is_err());
/// assert!(check_api_key_name("tab\there").is_err());
/// assert!(check_api_key_name(&"x".repeat(65)).is_err());
/// ```
pub fn check_api_key_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > MAX_API_KEY_NAME_LEN || name.chars().any(char::is_control) {
        return Err(Error::InvalidMember {
            member: "name",
            expected: "1 to 64 bytes of text without control characters",
        });
    }
    Ok(())
}

/// What the store keeps of an API key: never the secret, its SHA-256.
/// Its `Debug` leaves the hash out.
///
/// ```
/// use dm_server::{ApiKey, ApiKeyRecord, Scope};
///
/// let key = ApiKey::generate()?;
/// let record = ApiKeyRecord::new(&key, "ci", Scope::Read, 1_000);
/// assert_eq!(&record.id, key.id());
/// assert_eq!(record.secret_sha256, key.secret_sha256());
/// assert!(record.revoked_ms.is_none() && record.last_used_ms.is_none());
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// The public id.
    pub id: ApiKeyId,
    /// What the operator calls it (see [`check_api_key_name`]).
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// The SHA-256 of the secret.
    #[serde(with = "hex_32")]
    pub secret_sha256: [u8; 32],
    /// When it was added (Unix ms).
    pub created_ms: u64,
    /// When it was revoked (Unix ms); a revoked key authenticates nothing.
    pub revoked_ms: Option<u64>,
    /// When it was last used, to the minute (Unix ms).
    pub last_used_ms: Option<u64>,
}

impl ApiKeyRecord {
    /// The record of a new key.
    pub fn new(key: &ApiKey, name: impl Into<String>, scope: Scope, created_ms: u64) -> Self {
        ApiKeyRecord {
            id: key.id.clone(),
            name: name.into(),
            scope,
            secret_sha256: key.secret_sha256(),
            created_ms,
            revoked_ms: None,
            last_used_ms: None,
        }
    }
}

impl fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scope", &self.scope)
            .field("created_ms", &self.created_ms)
            .field("revoked_ms", &self.revoked_ms)
            .field("last_used_ms", &self.last_used_ms)
            .finish_non_exhaustive()
    }
}

/// 32 bytes as 64 hex digits.
mod hex_32 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&dm_codec::hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        dm_codec::hex::decode_array(&text).ok_or_else(|| D::Error::custom("not 64 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
        assert_eq!(base32(&[0xff; 10]), "7777777777777777");
        assert_eq!(base32(&[0; 10]), "aaaaaaaaaaaaaaaa");
    }

    #[test]
    fn key_texts_are_read_strictly_and_never_repeated() {
        let key = ApiKey::generate().expect("key");
        let text = key.text();
        assert!(text.starts_with("dmk_"));
        assert_eq!(&text[20..21], "_");
        let cases = [
            (String::new(), "not 64 characters"),
            (format!("{text}x"), "not 64 characters"),
            (format!("dmK_{}", &text[4..]), "does not start with dmk_"),
            (format!("dmk_A{}", &text[5..]), "the id is not"),
            (
                format!("{}-{}", &text[..20], &text[21..]),
                "no _ after the id",
            ),
            (
                format!("{}!{}", &text[..21], &text[22..]),
                "the secret is not",
            ),
            // 43 characters whose last one carries bits past 32 bytes.
            (format!("{}{}", &text[..63], "B"), ""),
            (format!("dmk_{}", "é".repeat(30)), "the id is not"),
        ];
        for (given, expected) in cases {
            match ApiKey::parse(&given) {
                Ok(_) => assert!(expected.is_empty() || given == text, "{given:?} accepted"),
                Err(e) => {
                    let message = e.to_string();
                    assert!(
                        expected.is_empty() || message.contains(expected),
                        "{given:?}: {message}"
                    );
                    assert!(!message.contains(&text[21..]), "the secret is repeated");
                    assert_eq!(e.status().as_u16(), 400);
                }
            }
        }
        // A character boundary inside the id is refused, not a panic.
        let multibyte = format!("dmk_{}é{}", "a".repeat(15), "a".repeat(43));
        assert_eq!(multibyte.len(), API_KEY_LEN);
        assert!(ApiKey::parse(&multibyte).is_err());
    }

    #[test]
    fn records_keep_the_hash_only_and_read_back() {
        let key = ApiKey::generate().expect("key");
        let record = ApiKeyRecord::new(&key, "ci", Scope::Operator, 5);
        let json = serde_json::to_string(&record).expect("encoded");
        let secret = &key.text()[21..];
        assert!(!json.contains(secret));
        assert!(!format!("{record:?}").contains(&dm_codec::hex::encode(&record.secret_sha256)));
        let again: ApiKeyRecord = serde_json::from_str(&json).expect("decoded");
        assert_eq!(again, record);
    }
}
