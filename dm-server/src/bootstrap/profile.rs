//! Bootstrap profiles: which management accounts a device gets, and which
//! profile applies to a device (docs/bootstrap.md).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use dm_types::{DevId, Moid, ServerId, ServerUri};

use crate::Error;

/// The most management accounts one profile provisions.
pub const MAX_PROFILE_ACCOUNTS: usize = 8;
/// The longest profile name, DevID pattern or credential identity.
pub const MAX_PROFILE_TEXT: usize = 256;
/// The most `Perm` MOIDs of one account.
pub const MAX_PERM_MOIDS: usize = 64;

/// Which devices a profile applies to. When several profiles match a device,
/// the most specific wins: a credential identity, then an exact DevID, then
/// a DevID pattern (the one with more literal characters, then fewer `*`),
/// and among equals the profile whose name sorts first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileMatch {
    /// The device whose bootstrap credential identity (certificate subject
    /// CN, or PSK identity) is exactly this.
    Identity(String),
    /// The device with exactly this DevID.
    DevId(DevId),
    /// Devices whose DevID matches this pattern, where `*` stands for any
    /// run of characters (possibly none) and every other character for
    /// itself.
    DevIdPattern(String),
}

impl ProfileMatch {
    /// Whether a device with `dev_id` and bootstrap credential `identity`
    /// matches.
    ///
    /// ```
    /// use dm_server::bootstrap::ProfileMatch;
    /// use dm_types::DevId;
    ///
    /// let dev_id = DevId::new("IMEI:350000000000001")?;
    /// assert!(ProfileMatch::DevIdPattern("IMEI:35*".into()).matches(&dev_id, None));
    /// assert!(!ProfileMatch::DevIdPattern("IMEI:36*".into()).matches(&dev_id, None));
    /// assert!(ProfileMatch::Identity("factory-1".into()).matches(&dev_id, Some("factory-1")));
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn matches(&self, dev_id: &DevId, identity: Option<&str>) -> bool {
        match self {
            ProfileMatch::Identity(expected) => identity == Some(expected.as_str()),
            ProfileMatch::DevId(expected) => expected == dev_id,
            ProfileMatch::DevIdPattern(pattern) => pattern_matches(pattern, dev_id.as_str()),
        }
    }

    /// The rank of this match: greater is more specific.
    fn rank(&self) -> (u8, usize, std::cmp::Reverse<usize>) {
        match self {
            ProfileMatch::Identity(_) => (2, 0, std::cmp::Reverse(0)),
            ProfileMatch::DevId(_) => (1, 0, std::cmp::Reverse(0)),
            ProfileMatch::DevIdPattern(pattern) => {
                let wildcards = pattern.chars().filter(|&c| c == '*').count();
                let literal = pattern.chars().count() - wildcards;
                (0, literal, std::cmp::Reverse(wildcards))
            }
        }
    }
}

/// Whether `text` matches `pattern` (`*`: any run of characters). Linear in
/// `pattern.len() * text.len()` at worst, without recursion.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] != '*' && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// How the credentials of a management account are made for each device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CredentialKinds {
    /// A fresh notification secret (`Auth/Noti`, type 1: 32 random bytes,
    /// with 16 random bytes of auth data).
    #[serde(default)]
    pub notification_secret: bool,
    /// A fresh HTTP password (`Ext/HTTPAuth`, registered for Basic and
    /// Digest; the user name is the DevID).
    #[serde(default)]
    pub http_password: bool,
    /// A client certificate issued from the bootstrap server's issuing CA
    /// (`Auth/Trsp`; CN = DevID; registered by its SHA-256).
    #[serde(default)]
    pub client_certificate: bool,
}

/// Where a provisioned device is registered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationTarget {
    /// The store the bootstrap server runs on (one process, or several
    /// sharing a database with the management server).
    Local,
    /// A remote management server, by the name of an entry of
    /// [`BootstrapSettings::remotes`](crate::BootstrapSettings::remotes)
    /// (its admin URI and token live in the server's configuration, never
    /// in a profile).
    Remote(String),
}

/// One management account a profile provisions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountProfile {
    /// `SrvID` of the management server.
    pub server_id: ServerId,
    /// `SrvURI` of the management server.
    pub server_uri: ServerUri,
    /// `Name` (may be empty).
    pub name: String,
    /// `Perm/<x>/MOID`: the MOIDs the management server may manage.
    pub perm_moids: Vec<Moid>,
    /// How its credentials are made.
    pub credentials: CredentialKinds,
    /// Where the device is registered.
    pub register: RegistrationTarget,
}

/// A bootstrap profile: which devices it applies to and which management
/// accounts they get (docs/bootstrap.md).
///
/// ```
/// use dm_server::bootstrap::BootstrapProfile;
///
/// let profile = BootstrapProfile::from_json(br#"{
///     "name": "fleet-a",
///     "match": {"dev_id_pattern": "IMEI:35*"},
///     "accounts": [{
///         "server_id": "dm.example",
///         "server_uri": "https://dm.example/dm",
///         "perm": ["urn:oma:mo:oma-dm-devinfo:1.0"],
///         "credentials": {"notification_secret": true, "http_password": true}
///     }]
/// }"#)?;
/// assert_eq!(profile.name, "fleet-a");
/// let again = BootstrapProfile::from_json(&profile.to_json())?;
/// assert_eq!(again, profile);
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProfileJson", into = "ProfileJson")]
#[non_exhaustive]
pub struct BootstrapProfile {
    /// The profile's name (its key): 1 to 256 characters among letters,
    /// digits, `.`, `_` and `-`.
    pub name: String,
    /// Which devices it applies to.
    pub matches: ProfileMatch,
    /// The accounts it provisions (1 to [`MAX_PROFILE_ACCOUNTS`], distinct
    /// `SrvID`s).
    pub accounts: Vec<AccountProfile>,
}

/// The JSON form of a profile (the admin API's, the store's and the
/// configuration file's).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileJson {
    name: String,
    #[serde(rename = "match")]
    matches: MatchJson,
    accounts: Vec<AccountJson>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum MatchJson {
    Identity(String),
    DevId(String),
    DevIdPattern(String),
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum RegisterJson {
    Local,
    Remote(String),
}

fn local() -> RegisterJson {
    RegisterJson::Local
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountJson {
    server_id: String,
    server_uri: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(default)]
    perm: Vec<String>,
    credentials: CredentialKinds,
    #[serde(default = "local")]
    register: RegisterJson,
}

fn invalid(member: &'static str, expected: &'static str) -> Error {
    Error::InvalidMember { member, expected }
}

fn check_text(text: &str, member: &'static str) -> Result<(), Error> {
    if text.is_empty()
        || text.len() > MAX_PROFILE_TEXT
        || text.chars().any(|c| c.is_control() || c == '\u{7f}')
    {
        return Err(invalid(
            member,
            "1 to 256 bytes of text without control characters",
        ));
    }
    Ok(())
}

fn check_name(name: &str, member: &'static str) -> Result<(), Error> {
    if name.is_empty()
        || name.len() > MAX_PROFILE_TEXT
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(invalid(member, "1 to 256 letters, digits, '.', '_' or '-'"));
    }
    Ok(())
}

impl TryFrom<ProfileJson> for BootstrapProfile {
    type Error = Error;

    fn try_from(json: ProfileJson) -> Result<BootstrapProfile, Error> {
        check_name(&json.name, "name")?;
        let matches = match json.matches {
            MatchJson::Identity(identity) => {
                check_text(&identity, "match.identity")?;
                ProfileMatch::Identity(identity)
            }
            MatchJson::DevId(dev_id) => ProfileMatch::DevId(DevId::new(dev_id)?),
            MatchJson::DevIdPattern(pattern) => {
                check_text(&pattern, "match.dev_id_pattern")?;
                ProfileMatch::DevIdPattern(pattern)
            }
        };
        if json.accounts.is_empty() || json.accounts.len() > MAX_PROFILE_ACCOUNTS {
            return Err(invalid("accounts", "1 to 8 management accounts"));
        }
        let mut accounts: Vec<AccountProfile> = Vec::with_capacity(json.accounts.len());
        for account in json.accounts {
            let server_id = ServerId::new(account.server_id)?;
            if accounts.iter().any(|a| a.server_id == server_id) {
                return Err(invalid(
                    "accounts",
                    "management accounts with distinct server_id",
                ));
            }
            if account.name.len() > MAX_PROFILE_TEXT || account.name.chars().any(char::is_control) {
                return Err(invalid(
                    "name",
                    "at most 256 bytes without control characters",
                ));
            }
            if account.perm.len() > MAX_PERM_MOIDS {
                return Err(invalid("perm", "at most 64 MOIDs"));
            }
            let perm_moids = account
                .perm
                .into_iter()
                .map(Moid::new)
                .collect::<Result<Vec<_>, _>>()?;
            if !account.credentials.http_password && !account.credentials.client_certificate {
                return Err(invalid(
                    "credentials",
                    "http_password or client_certificate (the device must authenticate)",
                ));
            }
            let register = match account.register {
                RegisterJson::Local => RegistrationTarget::Local,
                RegisterJson::Remote(name) => {
                    check_name(&name, "register.remote")?;
                    RegistrationTarget::Remote(name)
                }
            };
            accounts.push(AccountProfile {
                server_id,
                server_uri: ServerUri::new(account.server_uri)?,
                name: account.name,
                perm_moids,
                credentials: account.credentials,
                register,
            });
        }
        Ok(BootstrapProfile {
            name: json.name,
            matches,
            accounts,
        })
    }
}

impl From<BootstrapProfile> for ProfileJson {
    fn from(profile: BootstrapProfile) -> ProfileJson {
        profile.json()
    }
}

impl BootstrapProfile {
    /// Decodes and validates a profile from its JSON form, as strictly as
    /// the admin API decodes its bodies ([`crate::decode_admin_json`]):
    /// unknown members, a member twice, a bad SrvID, SrvURI or MOID, an
    /// account without a way to authenticate (neither `http_password` nor
    /// `client_certificate`), two accounts with one SrvID, or more than
    /// [`MAX_PROFILE_ACCOUNTS`] accounts are refused (400).
    pub fn from_json(body: &[u8]) -> Result<BootstrapProfile, Error> {
        let value = dm_codec::decode_json(body, &dm_codec::Limits::default())?;
        let json: ProfileJson = serde_json::from_value(value)
            .map_err(|_| invalid("profile", "a bootstrap profile (docs/admin-api.md)"))?;
        BootstrapProfile::try_from(json)
    }

    /// The JSON form ([`BootstrapProfile::from_json`] reads it back). A
    /// profile holds no secret.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json()).unwrap_or_default()
    }

    fn json(&self) -> ProfileJson {
        ProfileJson {
            name: self.name.clone(),
            matches: match &self.matches {
                ProfileMatch::Identity(identity) => MatchJson::Identity(identity.clone()),
                ProfileMatch::DevId(dev_id) => MatchJson::DevId(dev_id.as_str().to_owned()),
                ProfileMatch::DevIdPattern(pattern) => MatchJson::DevIdPattern(pattern.clone()),
            },
            accounts: self
                .accounts
                .iter()
                .map(|a| AccountJson {
                    server_id: a.server_id.as_str().to_owned(),
                    server_uri: a.server_uri.as_str().to_owned(),
                    name: a.name.clone(),
                    perm: a.perm_moids.iter().map(|m| m.as_str().to_owned()).collect(),
                    credentials: a.credentials,
                    register: match &a.register {
                        RegistrationTarget::Local => RegisterJson::Local,
                        RegistrationTarget::Remote(name) => RegisterJson::Remote(name.clone()),
                    },
                })
                .collect(),
        }
    }

    /// The JSON form as a value (for admin API answers).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.to_json()).unwrap_or(serde_json::Value::Null)
    }
}

/// The profile that applies to a device: among those that match its DevID
/// and bootstrap credential identity, the most specific (see
/// [`ProfileMatch`]); `None` when none matches.
///
/// ```
/// use dm_server::bootstrap::{BootstrapProfile, select_profile};
/// use dm_types::DevId;
///
/// let profile = |name: &str, matches: &str| BootstrapProfile::from_json(format!(
///     r#"{{"name":"{name}","match":{matches},"accounts":[{{"server_id":"dm","server_uri":"https://dm.example/dm","credentials":{{"http_password":true}}}}]}}"#
/// ).as_bytes());
/// let profiles = [
///     profile("all", r#"{"dev_id_pattern":"*"}"#)?,
///     profile("imei", r#"{"dev_id_pattern":"IMEI:*"}"#)?,
///     profile("one", r#"{"dev_id":"IMEI:1"}"#)?,
/// ];
/// let chosen = |dev_id: &str| select_profile(&profiles, &DevId::new(dev_id).unwrap(), None).map(|p| p.name.as_str());
/// assert_eq!(chosen("IMEI:1"), Some("one"));
/// assert_eq!(chosen("IMEI:2"), Some("imei"));
/// assert_eq!(chosen("MEID:2"), Some("all"));
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn select_profile<'a>(
    profiles: &'a [BootstrapProfile],
    dev_id: &DevId,
    identity: Option<&str>,
) -> Option<&'a BootstrapProfile> {
    profiles
        .iter()
        .filter(|p| p.matches.matches(dev_id, identity))
        .max_by(|a, b| match a.matches.rank().cmp(&b.matches.rank()) {
            // Among equals, the name that sorts first wins.
            Ordering::Equal => b.name.cmp(&a.name),
            other => other,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, matches: &str) -> BootstrapProfile {
        BootstrapProfile::from_json(format!(
            r#"{{"name":"{name}","match":{matches},"accounts":[{{"server_id":"dm","server_uri":"https://dm.example/dm","credentials":{{"client_certificate":true}}}}]}}"#
        ).as_bytes())
        .unwrap()
    }

    fn dev(id: &str) -> DevId {
        DevId::new(id).unwrap()
    }

    #[test]
    fn patterns() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("*", "IMEI:1", true),
            ("IMEI:*", "IMEI:1", true),
            ("IMEI:*", "IMEI", false),
            ("*:1", "IMEI:1", true),
            ("I*E*:1", "IMEI:1", true),
            ("I*E*:2", "IMEI:1", false),
            ("IMEI:1", "IMEI:1", true),
            ("IMEI:1", "IMEI:12", false),
            ("**a", "bbba", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
        ] {
            assert_eq!(pattern_matches(pattern, text), expected, "{pattern} {text}");
        }
        // Long adversarial input stays fast (quadratic at worst).
        let text = "a".repeat(256);
        assert!(!pattern_matches(&format!("{}b", "*a".repeat(100)), &text));
    }

    #[test]
    fn most_specific_profile_wins() {
        let profiles = vec![
            profile("b-pattern", r#"{"dev_id_pattern":"IMEI:3*"}"#),
            profile("a-pattern", r#"{"dev_id_pattern":"IMEI:3*"}"#),
            profile("longer", r#"{"dev_id_pattern":"IMEI:35*"}"#),
            profile("stars", r#"{"dev_id_pattern":"IMEI:3**5"}"#),
            profile("exact", r#"{"dev_id":"IMEI:355"}"#),
            profile("identity", r#"{"identity":"factory-7"}"#),
        ];
        let chosen = |dev_id: &str, identity: Option<&str>| {
            select_profile(&profiles, &dev(dev_id), identity).map(|p| p.name.clone())
        };
        assert_eq!(
            chosen("IMEI:355", Some("factory-7")).as_deref(),
            Some("identity")
        );
        assert_eq!(chosen("IMEI:355", Some("other")).as_deref(), Some("exact"));
        // "IMEI:35*" and "IMEI:3**5" both have 7 literal characters: fewer
        // stars win.
        assert_eq!(chosen("IMEI:3575", None).as_deref(), Some("longer"));
        // More literal characters win.
        assert_eq!(chosen("IMEI:3605", None).as_deref(), Some("stars"));
        assert_eq!(chosen("IMEI:36", None).as_deref(), Some("a-pattern"));
        assert_eq!(chosen("MEID:1", None), None);
    }

    #[test]
    fn invalid_profiles_are_refused_precisely() {
        let base = |accounts: &str| {
            format!(r#"{{"name":"p","match":{{"dev_id":"IMEI:1"}},"accounts":{accounts}}}"#)
        };
        let account = r#"{"server_id":"dm","server_uri":"https://dm.example/dm","credentials":{"http_password":true}}"#;
        assert!(BootstrapProfile::from_json(base(&format!("[{account}]")).as_bytes()).is_ok());
        for (body, member) in [
            (base("[]"), "accounts"),
            (base(&format!("[{account},{account}]")), "accounts"),
            (
                base(
                    r#"[{"server_id":"dm","server_uri":"https://dm.example/dm","credentials":{"notification_secret":true}}]"#,
                ),
                "credentials",
            ),
            (
                base(
                    r#"[{"server_id":"dm","server_uri":"https://dm.example/dm","credentials":{},"register":{"remote":"a b"}}]"#,
                ),
                "credentials",
            ),
            (
                r#"{"name":"a b","match":{"dev_id":"IMEI:1"},"accounts":[]}"#.to_owned(),
                "name",
            ),
            (
                r#"{"name":"p","match":{"dev_id_pattern":""},"accounts":[]}"#.to_owned(),
                "match.dev_id_pattern",
            ),
            (
                r#"{"name":"p","match":{"dev_id":"IMEI:1"},"accounts":[],"extra":1}"#.to_owned(),
                "profile",
            ),
        ] {
            let err = BootstrapProfile::from_json(body.as_bytes()).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidMember { member: m, .. } if *m == member),
                "{body}: {err}"
            );
            assert_eq!(err.status().as_u16(), 400);
        }
        // Types errors: bad SrvURI, MOID.
        let bad_uri = base(
            r#"[{"server_id":"dm","server_uri":"ftp://x/","credentials":{"http_password":true}}]"#,
        );
        assert_eq!(
            BootstrapProfile::from_json(bad_uri.as_bytes())
                .unwrap_err()
                .status()
                .as_u16(),
            400
        );
        let bad_moid = base(
            r#"[{"server_id":"dm","server_uri":"https://x/","perm":["x"],"credentials":{"http_password":true}}]"#,
        );
        assert_eq!(
            BootstrapProfile::from_json(bad_moid.as_bytes())
                .unwrap_err()
                .status()
                .as_u16(),
            400
        );
    }

    #[test]
    fn json_round_trip_keeps_remote_targets() {
        let body = br#"{"name":"p","match":{"identity":"cn-1"},"accounts":[{"server_id":"dm","server_uri":"https://dm.example/dm","name":"DM","perm":["urn:oma:mo:oma-dm-devinfo:1.0"],"credentials":{"http_password":true,"client_certificate":true},"register":{"remote":"central"}}]}"#;
        let profile = BootstrapProfile::from_json(body).unwrap();
        assert_eq!(
            profile.accounts[0].register,
            RegistrationTarget::Remote("central".into())
        );
        assert_eq!(
            BootstrapProfile::from_json(&profile.to_json()).unwrap(),
            profile
        );
    }
}
