//! The operator-chosen names of the update entities: [`ArtifactId`],
//! [`GroupId`] and device [`Tag`]s, and the store-assigned [`CampaignId`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An artifact id, group id, tag or campaign id that breaks its rules;
/// converts into [`Error::InvalidName`](crate::Error::InvalidName) (400).
///
/// ```
/// use dm_server::GroupId;
///
/// let error = GroupId::new("a b").unwrap_err();
/// assert_eq!(error.what, "group id");
/// assert_eq!(dm_server::Error::from(error).status().as_u16(), 400);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request: {what} {name:?} must be 1 to 64 of A-Z a-z 0-9 . _ -")]
pub struct InvalidName {
    /// What the name names.
    pub what: &'static str,
    /// The name given (cut after 65 characters).
    pub name: String,
}

type Error = InvalidName;

/// Longest artifact id, group id or tag.
pub const MAX_NAME_LEN: usize = 64;

/// Checks an operator-chosen name: 1 to 64 of `A-Z a-z 0-9 . _ -` (and `:`
/// when `colon`), not `.` or `..`, so it is safe in a URL path segment.
fn check_name(text: &str, colon: bool, what: &'static str) -> Result<(), Error> {
    let valid = !text.is_empty()
        && text.len() <= MAX_NAME_LEN
        && text != "."
        && text != ".."
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') || (colon && b == b':')
        });
    if valid {
        Ok(())
    } else {
        Err(InvalidName {
            what,
            name: text.chars().take(MAX_NAME_LEN + 1).collect(),
        })
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $colon:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps a name (see the type's rules).
            pub fn new(text: impl Into<String>) -> Result<$name, Error> {
                let text = text.into();
                check_name(&text, $colon, $what)?;
                Ok($name(text))
            }

            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                $name::new(s)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }
    };
}

name_type!(
    /// The name of an artifact (a firmware or software package): 1 to 64 of
    /// `A-Z a-z 0-9 . _ -`, chosen by the operator.
    ///
    /// ```
    /// use dm_server::ArtifactId;
    ///
    /// assert_eq!(ArtifactId::new("fw-2.1.0")?.as_str(), "fw-2.1.0");
    /// assert!(ArtifactId::new("../etc").is_err());
    /// assert!(ArtifactId::new("").is_err());
    /// # Ok::<(), dm_server::InvalidName>(())
    /// ```
    ArtifactId,
    false,
    "artifact id"
);

name_type!(
    /// The name of a device group: 1 to 64 of `A-Z a-z 0-9 . _ -`.
    ///
    /// ```
    /// use dm_server::GroupId;
    ///
    /// assert!(GroupId::new("eu-west_canary").is_ok());
    /// assert!(GroupId::new("a/b").is_err());
    /// ```
    GroupId,
    false,
    "group id"
);

name_type!(
    /// A device tag: 1 to 64 of `A-Z a-z 0-9 . _ - :` (`site:berlin`).
    ///
    /// ```
    /// use dm_server::Tag;
    ///
    /// assert!(Tag::new("site:berlin").is_ok());
    /// assert!(Tag::new("two words").is_err());
    /// ```
    Tag,
    true,
    "tag"
);

/// The identifier of a campaign, assigned by the store.
///
/// ```
/// use dm_server::CampaignId;
///
/// let id: CampaignId = "7".parse()?;
/// assert_eq!(id, CampaignId(7));
/// assert_eq!(id.to_string(), "7");
/// assert!("x".parse::<CampaignId>().is_err());
/// # Ok::<(), dm_server::InvalidName>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CampaignId(pub u64);

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for CampaignId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        s.parse().map(CampaignId).map_err(|_| InvalidName {
            what: "campaign id",
            name: s.chars().take(MAX_NAME_LEN + 1).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_on_every_path_in() {
        assert!(ArtifactId::new("a".repeat(MAX_NAME_LEN)).is_ok());
        assert!(ArtifactId::new("a".repeat(MAX_NAME_LEN + 1)).is_err());
        for bad in ["", ".", "..", "a b", "a/b", "é", "a:b"] {
            assert!(GroupId::new(bad).is_err(), "{bad}");
        }
        assert!(Tag::new("a:b").is_ok());
        assert!(serde_json::from_str::<Tag>("\"a b\"").is_err());
        let id: ArtifactId = serde_json::from_str("\"fw-1\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(serde_json::to_string(&id).ok().as_deref(), Some("\"fw-1\""));
    }
}
