//! What the store keeps of a device: its registration, credentials,
//! notification secret and record.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use dm_session::http_auth;
use dm_types::{DevId, MosEntry};

use super::{PskCredentials, SessionSummary, SessionToken, Tag, wire};

/// A device's password, kept as the Digest `H(A1)` = `H(username:realm:password)`
/// for SHA-256 and MD5, never in clear. Basic authentication is checked
/// against the SHA-256 form, so the realm must stay the same for the
/// credentials to stay valid.
///
/// ```
/// use dm_server::PasswordCredentials;
///
/// let c = PasswordCredentials::new("device-1", "secret", "oma-dm");
/// assert!(c.matches_password("secret", "oma-dm"));
/// assert!(!c.matches_password("Secret", "oma-dm"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordCredentials {
    /// The user name the device authenticates with.
    pub username: String,
    /// `SHA-256(username:realm:password)`.
    #[serde(with = "wire::hex_array")]
    pub ha1_sha256: [u8; 32],
    /// `MD5(username:realm:password)`.
    #[serde(with = "wire::hex_array")]
    pub ha1_md5: [u8; 16],
}

impl PasswordCredentials {
    /// Computes both `H(A1)` forms of a password.
    pub fn new(username: &str, password: &str, realm: &str) -> PasswordCredentials {
        PasswordCredentials {
            username: username.to_owned(),
            ha1_sha256: http_auth::ha1_sha256(username, realm, password),
            ha1_md5: http_auth::ha1_md5(username, realm, password),
        }
    }

    /// Whether `password` is this device's password (constant time).
    pub fn matches_password(&self, password: &str, realm: &str) -> bool {
        let ha1 = http_auth::ha1_sha256(&self.username, realm, password);
        dm_codec::hex::constant_time_eq(&ha1, &self.ha1_sha256)
    }
}

impl fmt::Debug for PasswordCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The notification credentials of a device: its DMAcc `Auth/Noti/Secret`
/// and `Auth/Noti/Data` for this server, used to sign Package#0.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSecret {
    /// `Auth/Noti/Secret`.
    #[serde(with = "wire::hex_bytes")]
    pub secret: Vec<u8>,
    /// `Auth/Noti/Data`.
    #[serde(with = "wire::hex_bytes")]
    pub auth_data: Vec<u8>,
}

impl fmt::Debug for NotificationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationSecret")
            .field("auth_data", &dm_codec::hex::encode(&self.auth_data))
            .finish_non_exhaustive()
    }
}

/// What registering a device states about it.
///
/// ```
/// use dm_server::DeviceRegistration;
/// use dm_types::DevId;
///
/// let registration = DeviceRegistration::new(DevId::new("IMEI:493005100592800")?)
///     .with_password("device-1", "correct horse", "oma-dm")
///     .with_notification_secret(b"noti-secret".to_vec(), b"auth-data".to_vec());
/// assert_eq!(registration.credentials.as_ref().map(|c| c.username.as_str()), Some("device-1"));
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceRegistration {
    /// The device (DevInfo `DevID`).
    pub dev_id: DevId,
    /// Basic/Digest credentials.
    pub credentials: Option<PasswordCredentials>,
    /// SHA-256 of the DER of the device's TLS client certificate.
    #[serde(with = "wire::hex_array_option")]
    pub certificate_sha256: Option<[u8; 32]>,
    /// PSK-TLS credentials (its identity names the device, as a
    /// certificate does).
    #[serde(default)]
    pub psk: Option<PskCredentials>,
    /// Where the device listens for Package#0 (e.g. `udp://192.0.2.1:9443`).
    pub notification_address: Option<String>,
    /// How to sign Package#0 for it.
    pub notification_secret: Option<NotificationSecret>,
}

impl DeviceRegistration {
    /// A device without credentials.
    pub fn new(dev_id: DevId) -> DeviceRegistration {
        DeviceRegistration {
            dev_id,
            credentials: None,
            certificate_sha256: None,
            psk: None,
            notification_address: None,
            notification_secret: None,
        }
    }

    /// Adds Basic/Digest credentials (see [`PasswordCredentials::new`]).
    #[must_use]
    pub fn with_password(mut self, username: &str, password: &str, realm: &str) -> Self {
        self.credentials = Some(PasswordCredentials::new(username, password, realm));
        self
    }

    /// Adds the SHA-256 fingerprint of the device's client certificate.
    #[must_use]
    pub fn with_certificate_sha256(mut self, sha256: [u8; 32]) -> Self {
        self.certificate_sha256 = Some(sha256);
        self
    }

    /// Adds PSK-TLS credentials.
    #[must_use]
    pub fn with_psk(mut self, psk: PskCredentials) -> Self {
        self.psk = Some(psk);
        self
    }

    /// Sets the notification address.
    #[must_use]
    pub fn with_notification_address(mut self, address: impl Into<String>) -> Self {
        self.notification_address = Some(address.into());
        self
    }

    /// Sets the notification credentials.
    #[must_use]
    pub fn with_notification_secret(mut self, secret: Vec<u8>, auth_data: Vec<u8>) -> Self {
        self.notification_secret = Some(NotificationSecret { secret, auth_data });
        self
    }
}

/// A registered device as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceRecord {
    /// The device.
    pub dev_id: DevId,
    /// When it was registered (Unix milliseconds).
    pub registered_ms: u64,
    /// Basic/Digest credentials.
    pub credentials: Option<PasswordCredentials>,
    /// SHA-256 of its client certificate.
    #[serde(with = "wire::hex_array_option")]
    pub certificate_sha256: Option<[u8; 32]>,
    /// Its PSK-TLS credentials.
    #[serde(default)]
    pub psk: Option<PskCredentials>,
    /// Where it listens for Package#0 (from registration or its
    /// NotificationAddress alert).
    pub notification_address: Option<String>,
    /// How to sign Package#0 for it.
    pub notification_secret: Option<NotificationSecret>,
    /// The NOTIFICATION-ID of the last Package#0 sent to it.
    pub last_notification_id: Option<u16>,
    /// Its most recent sessions, the latest (possibly still open) first;
    /// the store keeps a few.
    pub sessions: Vec<SessionSummary>,
    /// Its MO inventory, from the `MOS` of its last Package#1 that had one.
    #[serde(with = "wire::mos_option")]
    pub mos: Option<Vec<MosEntry>>,
    /// Its newest open session (the last of `open_sessions`), if one waits
    /// for a Package#3: where a Package#3 sent without following CONT goes.
    pub open_session: Option<SessionToken>,
    /// All its open sessions, oldest first: a device may start a session
    /// while another still waits for its Package#3.
    #[serde(default)]
    pub open_sessions: Vec<SessionToken>,
    /// The tags the operator gave it ([`Store::set_device_tags`](crate::Store::set_device_tags)).
    #[serde(default)]
    pub tags: BTreeSet<Tag>,
    /// The DevInfo leaves the server has seen it report (leaf name, e.g.
    /// `Mod` or `FwV`, to value; [`Store::record_devinfo`](crate::Store::record_devinfo)).
    #[serde(default)]
    pub devinfo: BTreeMap<String, String>,
}

impl DeviceRecord {
    /// The device's latest session.
    pub fn last_session(&self) -> Option<&SessionSummary> {
        self.sessions.first()
    }

    /// The record of a newly registered device.
    pub fn new(registration: DeviceRegistration, registered_ms: u64) -> DeviceRecord {
        DeviceRecord {
            dev_id: registration.dev_id,
            registered_ms,
            credentials: registration.credentials,
            certificate_sha256: registration.certificate_sha256,
            psk: registration.psk,
            notification_address: registration.notification_address,
            notification_secret: registration.notification_secret,
            last_notification_id: None,
            sessions: Vec::new(),
            mos: None,
            open_session: None,
            open_sessions: Vec::new(),
            tags: BTreeSet::new(),
            devinfo: BTreeMap::new(),
        }
    }
}
