//! What a bootstrap server keeps (docs/bootstrap.md): the devices it knows
//! (bootstrap notification secret and address, PSK), its open bootstrap
//! sessions with the DMAcc data they serve, and the outcomes per device.

use std::fmt;

use serde::{Deserialize, Serialize};

use dm_session::SessionState;
use dm_session::bootstrap_server::BootstrapStep;
use dm_types::DevId;

use super::{DeviceRegistration, NotificationSecret, SessionToken};

/// What must be registered with a management server for one provisioned
/// account: the credentials the device received. Kept (in the store) only
/// until the bootstrap session ends; `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingRegistration {
    /// The management server's `SrvID`.
    pub server_id: String,
    /// `None` for the local store, else the name of a remote management
    /// server.
    pub remote: Option<String>,
    /// HTTP user name and password.
    pub http: Option<(String, String)>,
    /// SHA-256 of the issued client certificate, hex.
    pub certificate_sha256: Option<String>,
    /// The notification secret and auth data, hex.
    pub notification: Option<(String, String)>,
}

impl fmt::Debug for PendingRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingRegistration")
            .field("server_id", &self.server_id)
            .field("remote", &self.remote)
            .field("http", &self.http.as_ref().map(|(name, _)| name))
            .field("certificate_sha256", &self.certificate_sha256)
            .finish_non_exhaustive()
    }
}

impl PendingRegistration {
    /// A registration with the management server `server_id` (local when
    /// `remote` is `None`) and no credentials yet.
    pub fn new(server_id: impl Into<String>, remote: Option<String>) -> PendingRegistration {
        PendingRegistration {
            server_id: server_id.into(),
            remote,
            http: None,
            certificate_sha256: None,
            notification: None,
        }
    }

    /// The registration for the local store, Digest hashes made for `realm`
    /// (the management server's realm).
    ///
    /// ```
    /// use dm_server::PendingRegistration;
    /// use dm_types::DevId;
    ///
    /// let mut pending = PendingRegistration::new("dm.example", None);
    /// pending.http = Some(("bs-1".into(), "secret".into()));
    /// let registration = pending.registration(&DevId::new("IMEI:1")?, "oma-dm");
    /// assert!(registration.credentials.expect("set").matches_password("secret", "oma-dm"));
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn registration(&self, dev_id: &DevId, realm: &str) -> DeviceRegistration {
        let mut registration = DeviceRegistration::new(dev_id.clone());
        if let Some((username, password)) = &self.http {
            registration = registration.with_password(username, password, realm);
        }
        if let Some(sha256) = self
            .certificate_sha256
            .as_deref()
            .and_then(dm_codec::hex::decode_array)
        {
            registration = registration.with_certificate_sha256(sha256);
        }
        registration.notification_secret = self.notification_secret();
        registration
    }

    /// The body of a remote management server's
    /// `PUT /admin/devices/{dev_id}/credentials` (docs/admin-api.md).
    pub fn admin_body(&self, dev_id: &DevId) -> serde_json::Value {
        let mut body = serde_json::json!({ "dev_id": dev_id.as_str() });
        if let Some((username, password)) = &self.http {
            body["username"] = username.as_str().into();
            body["password"] = password.as_str().into();
        }
        if let Some(sha256) = &self.certificate_sha256 {
            body["certificate_sha256"] = sha256.as_str().into();
        }
        if let Some((secret, data)) = &self.notification {
            body["notification"] = serde_json::json!({ "secret_hex": secret, "data_hex": data });
        }
        body
    }

    /// The notification secret, when one was made.
    pub fn notification_secret(&self) -> Option<NotificationSecret> {
        let (secret, data) = self.notification.as_ref()?;
        Some(NotificationSecret {
            secret: dm_codec::hex::decode(secret)?,
            auth_data: dm_codec::hex::decode(data)?,
        })
    }
}

/// How many outcomes the store keeps per device (the newest).
pub const BOOTSTRAP_OUTCOMES_PER_DEVICE: usize = 16;

/// The pre-shared key of a device's bootstrap account (PSK-TLS): the TLS
/// layer's PSK callback finds it by identity
/// ([`Store::bootstrap_device_by_psk_identity`](crate::Store::bootstrap_device_by_psk_identity)).
/// `Debug` hides the key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapPsk {
    /// The PSK identity (`Auth/Bootstrap/ClientPubKey` in PSK mode).
    pub identity: String,
    /// The key (`Auth/Bootstrap/ClientSecretKey`).
    #[serde(with = "super::wire::hex_bytes")]
    pub key: Vec<u8>,
}

impl fmt::Debug for BootstrapPsk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapPsk")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// A device registered with the bootstrap server: what server-initiated
/// bootstrap (docs/protocol.md section 11.4) and PSK-TLS need. A device
/// with a bootstrap certificate needs no record to be bootstrapped.
///
/// ```
/// use dm_server::BootstrapDevice;
/// use dm_types::DevId;
///
/// let device = BootstrapDevice::new(DevId::new("IMEI:1")?)
///     .with_notification_secret(b"bootstrap secret".to_vec(), Vec::new());
/// assert!(!format!("{device:?}").contains("bootstrap secret"));
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BootstrapDevice {
    /// The device.
    pub dev_id: DevId,
    /// The identity its bootstrap credential carries (certificate CN or
    /// PSK identity), when known.
    pub identity: Option<String>,
    /// Its bootstrap PSK, for PSK-TLS.
    pub psk: Option<BootstrapPsk>,
    /// The bootstrap account's `Auth/Noti` secret and data.
    pub notification_secret: Option<NotificationSecret>,
    /// Where it listens for Package#0.
    pub notification_address: Option<String>,
    /// The NOTIFICATION-ID of the last Package#0 sent to it.
    pub last_notification_id: Option<u16>,
}

impl BootstrapDevice {
    /// A device with nothing known but its DevID.
    pub fn new(dev_id: DevId) -> BootstrapDevice {
        BootstrapDevice {
            dev_id,
            identity: None,
            psk: None,
            notification_secret: None,
            notification_address: None,
            last_notification_id: None,
        }
    }

    /// Sets the bootstrap notification secret and auth data.
    #[must_use]
    pub fn with_notification_secret(mut self, secret: Vec<u8>, auth_data: Vec<u8>) -> Self {
        self.notification_secret = Some(NotificationSecret { secret, auth_data });
        self
    }

    /// Sets the notification address.
    #[must_use]
    pub fn with_notification_address(mut self, address: impl Into<String>) -> Self {
        self.notification_address = Some(address.into());
        self
    }

    /// Sets the PSK.
    #[must_use]
    pub fn with_psk(mut self, identity: impl Into<String>, key: Vec<u8>) -> Self {
        self.psk = Some(BootstrapPsk {
            identity: identity.into(),
            key,
        });
        self
    }
}

/// An open bootstrap session: the engine's state, the DMAcc data its HGET
/// reads (until read), and the registrations to make once the device has
/// the accounts. Secrets live here only while the session is open.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BootstrapSessionRecord {
    /// The session (its CONT URI `<public uri>/dm/s/<token>`).
    pub token: SessionToken,
    /// The device.
    pub dev_id: DevId,
    /// The bootstrap credential the session runs on
    /// ([`BootstrapCredential::binding`](crate::bootstrap::BootstrapCredential::binding)):
    /// only a request authenticated by it may read the data.
    pub binding: String,
    /// The profile applied.
    pub profile: String,
    /// The unguessable token of the DMAcc data
    /// (`<public uri>/bootstrap/accounts/<token>`).
    pub data_token: SessionToken,
    /// The DMAcc data; `None` once read (it is read once).
    pub account_data: Option<String>,
    /// What to register once the HGET succeeded.
    pub registrations: Vec<PendingRegistration>,
    /// The engine's state.
    pub state: SessionState<BootstrapStep>,
    /// When the session and its data expire (Unix milliseconds).
    pub expires_ms: u64,
    /// The registration that failed (`SrvID`, why), while the session
    /// deletes the accounts from the device again.
    #[serde(default)]
    pub registration_failure: Option<(String, String)>,
}

impl BootstrapSessionRecord {
    /// A session of `dev_id` on the credential `binding`, serving no data
    /// yet (set [`account_data`](Self::account_data),
    /// [`registrations`](Self::registrations) and
    /// [`profile`](Self::profile)).
    pub fn new(
        token: SessionToken,
        dev_id: DevId,
        binding: String,
        data_token: SessionToken,
        state: SessionState<BootstrapStep>,
        expires_ms: u64,
    ) -> BootstrapSessionRecord {
        BootstrapSessionRecord {
            token,
            dev_id,
            binding,
            profile: String::new(),
            data_token,
            account_data: None,
            registrations: Vec::new(),
            state,
            expires_ms,
            registration_failure: None,
        }
    }
}

impl fmt::Debug for BootstrapSessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapSessionRecord")
            .field("token", &self.token)
            .field("dev_id", &self.dev_id)
            .field("profile", &self.profile)
            .field(
                "account_data",
                &self.account_data.as_ref().map(|_| "<hidden>"),
            )
            .field("registrations", &self.registrations)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

/// How a bootstrap ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BootstrapResult {
    /// The device took the accounts and every management server knows
    /// its credentials.
    Provisioned {
        /// The `SrvID`s provisioned.
        servers: Vec<String>,
    },
    /// The device (or its user) refused the accounts (HGET `403`).
    Refused,
    /// The HGET failed on the device with this status.
    Failed {
        /// The HGET's status code.
        status: u16,
    },
    /// The device took the accounts, but a management server did not take
    /// the registration: the accounts were deleted from the device again.
    RegistrationFailed {
        /// The `SrvID` whose registration failed.
        server: String,
        /// Why (no secret).
        problem: String,
    },
    /// The session ended without the HGET's status (timeout, or a
    /// refused Package#3).
    Abandoned {
        /// Why.
        reason: String,
    },
}

/// One bootstrap of a device, as the outcomes list keeps it (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BootstrapOutcomeRecord {
    /// The device.
    pub dev_id: DevId,
    /// When the bootstrap ended (Unix milliseconds).
    pub ended_ms: u64,
    /// The profile applied.
    pub profile: String,
    /// The bootstrap credential used
    /// ([`BootstrapCredential::binding`](crate::bootstrap::BootstrapCredential::binding)).
    pub credential: String,
    /// How it ended.
    #[serde(flatten)]
    pub result: BootstrapResult,
}

impl BootstrapOutcomeRecord {
    /// The outcome of `session` at `ended_ms`.
    pub fn of_session(
        session: &BootstrapSessionRecord,
        result: BootstrapResult,
        ended_ms: u64,
    ) -> BootstrapOutcomeRecord {
        BootstrapOutcomeRecord {
            dev_id: session.dev_id.clone(),
            ended_ms,
            profile: session.profile.clone(),
            credential: session.binding.clone(),
            result,
        }
    }
}
