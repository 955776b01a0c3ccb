//! Identifiers: MOID, MIID, node names, DevID, ServerID, alert types and cache
//! validators. Each is valid by construction.

use crate::Error;
use crate::percent::{NAMESPACE, PCHAR, hex_value, run_end};

/// Defines a string newtype whose only constructor is `$validate`.
macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $validate:path) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Box<str>);

        impl $name {
            /// Validates `text` and wraps it.
            pub fn new(text: impl Into<String>) -> Result<Self, Error> {
                let text = text.into();
                Ok(Self($validate(text)?.into_boxed_str()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The identifier as an owned `String`.
            pub fn into_string(self) -> String {
                self.0.into_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }
    };
}

string_newtype!(
    /// The identifier of a Management Object type: a URN such as
    /// `urn:oma:mo:oma-dm-devinfo:1.0`.
    ///
    /// Rules (docs/protocol.md section 9): the `urn:` prefix is case-insensitive and
    /// stored in lower case; a namespace of letters, digits and `-` follows, then
    /// `:` and a non-empty rest made of RFC 3986 `pchar` (no `/`, `?` or `#`;
    /// `%` only as a valid escape). The rest is kept as written.
    ///
    /// ```
    /// use dm_types::Moid;
    ///
    /// let moid = Moid::new("URN:oma:mo:oma-dm-devinfo:1.0")?;
    /// assert_eq!(moid.as_str(), "urn:oma:mo:oma-dm-devinfo:1.0");
    /// assert!(Moid::new("urn:x").is_err());
    /// assert!(Moid::new("http://example.com").is_err());
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    Moid,
    validate_moid
);

/// Checks a MOID and returns it with a lower-case `urn:` prefix.
pub(crate) fn validate_moid(mut text: String) -> Result<String, Error> {
    check_moid(text.as_bytes())?;
    text[..4].make_ascii_lowercase();
    Ok(text)
}

/// Checks the MOID grammar on raw bytes. On success the first four bytes are
/// `urn:` in some letter case.
pub(crate) fn check_moid(bytes: &[u8]) -> Result<(), Error> {
    let end = scan_moid(bytes)?.end;
    match bytes.get(end) {
        None => Ok(()),
        Some(b'/') => Err(Error::Moid {
            offset: end,
            reason: "a MOID contains no '/'",
        }),
        Some(_) => Err(Error::Moid {
            offset: end,
            reason: "character not allowed in a MOID",
        }),
    }
}

/// Where [`scan_moid`] found the parts of a MOID.
pub(crate) struct MoidScan {
    /// Offset of the part after the namespace and its `:`.
    pub(crate) rest_start: usize,
    /// Offset of the first byte that cannot continue the MOID (or the length).
    pub(crate) end: usize,
}

/// Reads the MOID at the start of `bytes` up to the first byte that cannot
/// continue it (such as the `/` after the MOID of a ClientURI): `urn:` in
/// any letter case, a namespace, `:`, then `pchar` and valid `%XX` escapes.
/// The rest may be empty only when something follows it.
pub(crate) fn scan_moid(bytes: &[u8]) -> Result<MoidScan, Error> {
    let err = |offset, reason| Err(Error::Moid { offset, reason });
    if bytes.len() < 4 || !bytes[..4].eq_ignore_ascii_case(b"urn:") {
        return err(0, "a MOID is a URN and must start with 'urn:'");
    }
    let nid_start = 4;
    let mut i = run_end(bytes, nid_start, NAMESPACE);
    if i == nid_start {
        return err(i, "the URN namespace is empty");
    }
    if i - nid_start > 32 {
        return err(nid_start, "the URN namespace is longer than 32 characters");
    }
    if i == bytes.len() || bytes[i] != b':' {
        return err(i, "expected ':' after the URN namespace");
    }
    i += 1;
    if i == bytes.len() {
        return err(i, "the URN has nothing after its namespace");
    }
    let rest_start = i;
    loop {
        i = run_end(bytes, i, PCHAR);
        if bytes.get(i) != Some(&b'%') {
            return Ok(MoidScan { rest_start, end: i });
        }
        if bytes.get(i + 1).copied().and_then(hex_value).is_none()
            || bytes.get(i + 2).copied().and_then(hex_value).is_none()
        {
            return err(i, "'%' is not followed by two hex digits");
        }
        i += 3;
    }
}

/// Rules shared by MIIDs and node names, applied to decoded text.
fn validate_name(text: String, what: &'static str) -> Result<String, Error> {
    let reason = if text.is_empty() {
        "must not be empty"
    } else if text == "." || text == ".." {
        "'.' and '..' are not allowed"
    } else if text.contains('/') {
        "must not contain '/'"
    } else {
        return Ok(text);
    };
    Err(Error::Identifier { what, reason })
}

fn validate_miid(text: String) -> Result<String, Error> {
    validate_name(text, "MIID")
}

fn validate_node_name(text: String) -> Result<String, Error> {
    validate_name(text, "node name")
}

string_newtype!(
    /// The identifier of one MO instance, unique per MOID and always assigned by
    /// the client. Holds decoded text: non-empty, not `.` or `..`, no `/`.
    ///
    /// ```
    /// use dm_types::Miid;
    ///
    /// assert_eq!(Miid::new("left")?.as_str(), "left");
    /// assert!(Miid::new("").is_err());
    /// assert!(Miid::new("a/b").is_err());
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    Miid,
    validate_miid
);

string_newtype!(
    /// The name of a node (decoded text): non-empty, not `.` or `..`, no `/`.
    /// Any other character is allowed; ClientURIs percent-encode what needs it.
    ///
    /// ```
    /// use dm_types::NodeName;
    ///
    /// assert_eq!(NodeName::new("a b")?.as_str(), "a b");
    /// assert!(NodeName::new("..").is_err());
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    NodeName,
    validate_node_name
);

/// Longest DevID accepted, in bytes.
pub const MAX_DEV_ID_LEN: usize = 256;

fn validate_dev_id(text: String) -> Result<String, Error> {
    let reason = if text.is_empty() {
        "must not be empty"
    } else if text.len() > MAX_DEV_ID_LEN {
        "longer than 256 bytes"
    } else if !text.bytes().all(|b| b.is_ascii_graphic()) {
        "must be visible ASCII (it travels in the OMADM-DevID header)"
    } else {
        return Ok(text);
    };
    Err(Error::Identifier {
        what: "DevID",
        reason,
    })
}

string_newtype!(
    /// The device identifier of DevInfo `DevID` (IMEI, ESN, MEID or UUID URN),
    /// also sent in the `OMADM-DevID` header: 1 to 256 visible ASCII characters.
    ///
    /// ```
    /// use dm_types::DevId;
    ///
    /// assert!(DevId::new("IMEI:493005100592800").is_ok());
    /// assert!(DevId::new("has space").is_err());
    /// ```
    DevId,
    validate_dev_id
);

/// Longest ServerID accepted, in bytes (the Package#0 SERVER-ID limit).
pub const MAX_SERVER_ID_LEN: usize = 270;

fn validate_server_id(text: String) -> Result<String, Error> {
    let reason = if text.is_empty() {
        "must not be empty"
    } else if text.len() > MAX_SERVER_ID_LEN {
        "longer than 270 bytes"
    } else if text.chars().any(char::is_control) {
        "must not contain control characters (Net-Unicode)"
    } else {
        return Ok(text);
    };
    Err(Error::Identifier {
        what: "ServerID",
        reason,
    })
}

string_newtype!(
    /// A DM server's identifier (DMAcc `SrvID`, Package#0 SERVER-ID): 1 to 270
    /// bytes of UTF-8 without control characters.
    ///
    /// ```
    /// use dm_types::ServerId;
    ///
    /// assert!(ServerId::new("dm.example.com").is_ok());
    /// assert!(ServerId::new("").is_err());
    /// ```
    ServerId,
    validate_server_id
);

fn validate_alert_type(text: String) -> Result<String, Error> {
    if text.is_empty() {
        return Err(Error::Identifier {
            what: "AlertType",
            reason: "must not be empty",
        });
    }
    Ok(text)
}

string_newtype!(
    /// The type of a generic alert: a non-empty string (protocol types are
    /// URNs such as `urn:oma:at:dm:2.0:ClientInitiatedMgmt`).
    ///
    /// ```
    /// use dm_types::AlertType;
    ///
    /// let t = AlertType::new(AlertType::CLIENT_INITIATED_MGMT)?;
    /// assert!(t.is_session_start());
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    AlertType,
    validate_alert_type
);

impl AlertType {
    /// Session-start alert of a session that answers a notification.
    pub const SERVER_INITIATED_MGMT: &'static str = "urn:oma:at:dm:2.0:ServerInitiatedMgmt";
    /// Session-start alert of a session the client opened on its own.
    pub const CLIENT_INITIATED_MGMT: &'static str = "urn:oma:at:dm:2.0:ClientInitiatedMgmt";
    /// Session-start alert of the first session after a bootstrap.
    pub const BOOTSTRAP_COMPLETE: &'static str = "urn:oma:at:dm:2.0:BootstrapComplete";
    /// Asynchronous EXEC result when the MO defines no alert type of its own
    /// (docs/protocol.md section 6, project decision).
    pub const EXEC_COMPLETE: &'static str = "urn:oma:at:dm:2.0:ExecComplete";
    /// Where the device listens for Package#0 (this project's extension, a
    /// generic alert a device may add to Package#1): `Data` is the address as
    /// text, e.g. `udp://127.0.0.1:9443`. A server that does not know it
    /// keeps it like any other alert.
    pub const NOTIFICATION_ADDRESS: &'static str = "urn:dm-sdk:at:1.0:NotificationAddress";

    /// Whether this is one of the three session-start alert types.
    pub fn is_session_start(&self) -> bool {
        matches!(
            self.as_str(),
            Self::SERVER_INITIATED_MGMT | Self::CLIENT_INITIATED_MGMT | Self::BOOTSTRAP_COMPLETE
        )
    }
}

fn validate_cache_validator(text: String) -> Result<String, Error> {
    if text.is_empty() {
        return Err(Error::Identifier {
            what: "cache validator",
            reason: "must not be empty",
        });
    }
    Ok(text)
}

string_newtype!(
    /// The cache validator of an MO instance (section 8): an opaque non-empty
    /// string that changes on every modification of the instance.
    ///
    /// ```
    /// use dm_types::CacheValidator;
    ///
    /// assert!(CacheValidator::new("686897696a7c876b7e").is_ok());
    /// assert!(CacheValidator::new("").is_err());
    /// ```
    CacheValidator,
    validate_cache_validator
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moid_rules() {
        assert!(Moid::new("urn:x:y").is_ok());
        assert_eq!(Moid::new("UrN:x:y").unwrap().as_str(), "urn:x:y");
        for bad in [
            "",
            "urn:",
            "urn:x",
            "urn:x:",
            "urn::y",
            "urn:x:y/z",
            "urn:x:y?",
            "urn:x:%4",
            "urn:x:a b",
            "urx:x:y",
        ] {
            assert!(Moid::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names() {
        assert!(NodeName::new("*").is_ok());
        assert!(NodeName::new(".").is_err());
        assert!(Miid::new("..").is_err());
        assert!(DevId::new("x".repeat(257)).is_err());
        assert!(ServerId::new("a\u{7}").is_err());
        assert!(ServerId::new("é".repeat(135)).is_ok());
        assert!(ServerId::new("é".repeat(136)).is_err());
    }
}
