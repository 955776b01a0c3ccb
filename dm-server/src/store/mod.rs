//! Persistent state of the server behind the [`Store`] trait: devices,
//! command queues and results, alerts, open sessions, repository objects,
//! and the MO instances kept for caching (docs/protocol.md section 8).
//!
//! Every piece of state a request needs lives in the store, never only in the
//! memory of one server process: a Package#3 may reach another node than the
//! Package#1 of its session, and the Digest nonces are checked with a key the
//! store keeps ([`Store::server_key`]). The methods are shaped for a
//! transactional database: each is one atomic step (claim queued commands,
//! record a result, save a session with a version check).
//!
//! [`MemoryStore`] is the embedded default.

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use dm_session::{CachedInstance, Initiator, SessionState};
use dm_types::{Alert, Command, DevId, Miid, Moid, MosEntry, Status};

use crate::Error;

mod memory;
pub(crate) mod wire;

pub use memory::{MemoryStore, Retention};

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
        crate::util::hex(&crate::util::sha256(&labelled)[..8])
    }
}

impl fmt::Display for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::util::hex(&self.0))
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
        crate::util::unhex_array(s)
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
        let a1 = format!("{username}:{realm}:{password}");
        PasswordCredentials {
            username: username.to_owned(),
            ha1_sha256: Sha256::digest(a1.as_bytes()).into(),
            ha1_md5: Md5::digest(a1.as_bytes()).into(),
        }
    }

    /// Whether `password` is this device's password (constant time).
    pub fn matches_password(&self, password: &str, realm: &str) -> bool {
        let a1 = format!("{}:{realm}:{password}", self.username);
        let ha1: [u8; 32] = Sha256::digest(a1.as_bytes()).into();
        crate::util::constant_time_eq(&ha1, &self.ha1_sha256)
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
            .field("auth_data", &crate::util::hex(&self.auth_data))
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
    #[serde(with = "wire::dev_id")]
    pub dev_id: DevId,
    /// Basic/Digest credentials.
    pub credentials: Option<PasswordCredentials>,
    /// SHA-256 of the DER of the device's TLS client certificate.
    #[serde(with = "wire::hex_array_option")]
    pub certificate_sha256: Option<[u8; 32]>,
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
    #[serde(with = "wire::dev_id")]
    pub dev_id: DevId,
    /// When it was registered (Unix milliseconds).
    pub registered_ms: u64,
    /// Basic/Digest credentials.
    pub credentials: Option<PasswordCredentials>,
    /// SHA-256 of its client certificate.
    #[serde(with = "wire::hex_array_option")]
    pub certificate_sha256: Option<[u8; 32]>,
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
            notification_address: registration.notification_address,
            notification_secret: registration.notification_secret,
            last_notification_id: None,
            sessions: Vec::new(),
            mos: None,
            open_session: None,
            open_sessions: Vec::new(),
        }
    }
}

/// Where a queued command stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandState {
    /// Waiting for the device's next session.
    Queued,
    /// Sent in a Package#2; the status has not arrived yet.
    Sent,
    /// The status arrived (whatever its code).
    Done,
    /// No status will come: the session ended without one.
    Failed,
}

impl CommandState {
    /// `queued`, `sent`, `done` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandState::Queued => "queued",
            CommandState::Sent => "sent",
            CommandState::Done => "done",
            CommandState::Failed => "failed",
        }
    }

    /// Whether the command is done or failed.
    pub fn is_finished(self) -> bool {
        matches!(self, CommandState::Done | CommandState::Failed)
    }
}

/// A command queued for a device, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandRecord {
    /// Its identifier.
    pub id: CommandId,
    /// The device it is for.
    #[serde(with = "wire::dev_id")]
    pub dev_id: DevId,
    /// The command.
    #[serde(with = "wire::command")]
    pub command: Command,
    /// Where it stands.
    pub state: CommandState,
    /// The session that sent it.
    pub session: Option<SessionToken>,
    /// Its status entry, once done.
    #[serde(with = "wire::status_option")]
    pub result: Option<Status>,
    /// Whether `result` is a `304` whose data the server filled in from
    /// what it kept of the instances (docs/protocol.md section 8; see
    /// [`Store::record_cached_result`]): the device sent no data.
    #[serde(default)]
    pub from_cache: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was queued (Unix milliseconds).
    pub queued_ms: u64,
    /// When its state last changed (Unix milliseconds).
    pub updated_ms: u64,
}

impl CommandRecord {
    /// A command just queued.
    pub fn queued(id: CommandId, dev_id: DevId, command: Command, now_ms: u64) -> CommandRecord {
        CommandRecord {
            id,
            dev_id,
            command,
            state: CommandState::Queued,
            session: None,
            result: None,
            from_cache: false,
            error: None,
            queued_ms: now_ms,
            updated_ms: now_ms,
        }
    }
}

/// A generic alert received from a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlertRecord {
    /// When it arrived (Unix milliseconds).
    pub received_ms: u64,
    /// The session it came in.
    pub session: Option<SessionToken>,
    /// The alert.
    #[serde(with = "wire::alert")]
    pub alert: Alert,
}

impl AlertRecord {
    /// An alert received at `received_ms` in `session`.
    pub fn new(alert: Alert, session: Option<SessionToken>, received_ms: u64) -> AlertRecord {
        AlertRecord {
            received_ms,
            session,
            alert,
        }
    }

    /// The size of the alert's encoded JSON (as `dm_codec::encode_alert`
    /// writes it): what stores count against a byte budget.
    ///
    /// ```
    /// use dm_server::AlertRecord;
    /// use dm_types::Alert;
    ///
    /// let record = AlertRecord::new(Alert::client_initiated(), None, 0);
    /// assert_eq!(record.encoded_len(), dm_codec::encode_alert(&record.alert).len());
    /// ```
    pub fn encoded_len(&self) -> usize {
        dm_codec::encode_alert(&self.alert).len()
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "reason", rename_all = "lowercase")]
#[non_exhaustive]
pub enum SessionOutcome {
    /// A Package#2 with END was sent.
    Completed,
    /// No Package#3 came within the idle timeout.
    Timeout,
    /// A package broke a rule (the reason).
    Failed(String),
}

impl fmt::Display for SessionOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionOutcome::Completed => f.write_str("completed"),
            SessionOutcome::Timeout => f.write_str("timeout"),
            SessionOutcome::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

/// The summary of a device's last session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionSummary {
    /// The session token.
    pub token: SessionToken,
    /// Who started it.
    #[serde(with = "wire::initiator")]
    pub initiator: Initiator,
    /// When Package#1 arrived (Unix milliseconds).
    pub started_ms: u64,
    /// When it ended; `None` while open.
    pub ended_ms: Option<u64>,
    /// Whether CONT (to the session URI `<public base>/dm/s/<token>`) was
    /// sent.
    pub cont_sent: bool,
    /// How many Package#2 were sent.
    pub packages: u32,
    /// How it ended; `None` while open.
    pub outcome: Option<SessionOutcome>,
}

impl SessionSummary {
    /// A session that started at `started_ms`.
    pub fn new(token: SessionToken, initiator: Initiator, started_ms: u64) -> SessionSummary {
        SessionSummary {
            token,
            initiator,
            started_ms,
            ended_ms: None,
            cont_sent: false,
            packages: 0,
            outcome: None,
        }
    }
}

/// An open session: what any server node needs to continue it. The
/// session itself is the engine's [`SessionState`] (its device, the
/// commands of its last Package#2 awaiting their statuses, its deadline);
/// the store adds the token, the version it checks on every save and when
/// the session started.
///
/// ```
/// use dm_server::{SessionRecord, SessionToken};
/// use dm_session::SessionState;
/// use dm_types::DevId;
///
/// let state = SessionState::new(DevId::new("IMEI:1")?, 300_000);
/// let record = SessionRecord::new(SessionToken::from_bytes([1; 16]), 0, state);
/// assert_eq!(record.version, 0);
/// assert_eq!(record.dev_id().as_str(), "IMEI:1");
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The session token.
    pub token: SessionToken,
    /// Incremented on every save; [`Store::save_session`] checks it.
    pub version: u64,
    /// When Package#1 arrived (Unix milliseconds).
    pub started_ms: u64,
    /// The session engine's state.
    pub state: SessionState<CommandId>,
}

impl SessionRecord {
    /// A record at version 0.
    pub fn new(
        token: SessionToken,
        started_ms: u64,
        state: SessionState<CommandId>,
    ) -> SessionRecord {
        SessionRecord {
            token,
            version: 0,
            started_ms,
            state,
        }
    }

    /// The session's device.
    pub fn dev_id(&self) -> &DevId {
        &self.state.dev_id
    }
}

/// How and when a session ended, for [`Store::end_session`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionEnd {
    /// When (Unix milliseconds).
    pub ended_ms: u64,
    /// How many Package#2 were sent.
    pub packages: u32,
    /// How.
    pub outcome: SessionOutcome,
}

impl SessionEnd {
    /// A session that ended at `ended_ms` after `packages` Package#2.
    pub fn new(outcome: SessionOutcome, packages: u32, ended_ms: u64) -> SessionEnd {
        SessionEnd {
            ended_ms,
            packages,
            outcome,
        }
    }
}

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

/// The storage of a management server.
///
/// Every method is one atomic step, so that a transactional database can
/// implement the trait and several server nodes can share it. Times are Unix
/// milliseconds passed in by the caller. Methods return
/// [`Error::DeviceNotFound`] for an unknown device, a conflict (409, see
/// [`Error::status`]) for a lost race, [`Error::Store`] for a backend
/// failure.
///
/// Implementations return futures that are `Send`; an `async fn` in the impl
/// block is the usual way to write them.
pub trait Store: Send + Sync + 'static {
    /// Registers a device. An existing device is [`Error::DeviceExists`]
    /// unless `replace` is set: then its credentials, certificate and
    /// notification secret are replaced (and its notification address, when
    /// the registration has one), and its sessions, commands and alerts kept.
    /// A user name or certificate already used by another device is
    /// [`Error::UsernameTaken`] or [`Error::CertificateTaken`].
    fn register_device(
        &self,
        registration: DeviceRegistration,
        replace: bool,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Removes a device with its commands, alerts, open session and cached
    /// instances; `false`
    /// if it was not registered.
    fn remove_device(&self, dev_id: &DevId) -> impl Future<Output = Result<bool, Error>> + Send;

    /// A device's record.
    fn device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<DeviceRecord>, Error>> + Send;

    /// Devices in DevID order, starting after `after`, at most `limit`.
    fn devices(
        &self,
        after: Option<&DevId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DeviceRecord>, Error>> + Send;

    /// How many devices are registered.
    fn device_count(&self) -> impl Future<Output = Result<usize, Error>> + Send;

    /// The device and credentials registered under a user name.
    fn credentials_by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<(DevId, PasswordCredentials)>, Error>> + Send;

    /// The device registered with this client certificate fingerprint.
    fn device_by_certificate(
        &self,
        sha256: &[u8; 32],
    ) -> impl Future<Output = Result<Option<DevId>, Error>> + Send;

    /// Records where a device listens for Package#0.
    fn set_notification_address(
        &self,
        dev_id: &DevId,
        address: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Takes the next NOTIFICATION-ID of a device (incrementing, wrapping
    /// from 65535 to 1).
    fn next_notification_id(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<u16, Error>> + Send;

    /// Queues a command for a device's next Package#2.
    fn enqueue_command(
        &self,
        dev_id: &DevId,
        command: Command,
        now_ms: u64,
    ) -> impl Future<Output = Result<CommandId, Error>> + Send;

    /// A command's record.
    fn command(
        &self,
        id: CommandId,
    ) -> impl Future<Output = Result<Option<CommandRecord>, Error>> + Send;

    /// A device's commands: those pending (queued or sent) in queue order,
    /// then the finished ones the store retains, oldest first.
    fn commands(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<CommandRecord>, Error>> + Send;

    /// Atomically moves up to `max` of a device's queued commands, oldest
    /// first, to `sent` in `session`, and returns them. The server claims
    /// only for a session already recorded ([`Store::open_session`]), so
    /// that a claim outlived by its node still ends: the session expires
    /// and its `sent` commands fail.
    fn claim_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        max: usize,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<(CommandId, Command)>, Error>> + Send;

    /// Returns commands claimed in `session` that are still `sent` to
    /// `queued`, in their place in the queue: the Package#2 that was to
    /// carry them was never delivered (its session lost a race, or the
    /// store failed while it was being built). Others are left alone.
    fn release_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        ids: Vec<CommandId>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Records the status of a command sent in `session`: it becomes `done`.
    /// Idempotent: recording a result for a command that is no longer `sent`
    /// in that session changes nothing.
    fn record_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Records a status answered from the cache: as
    /// [`Store::record_result`] (the same idempotence), and the command's
    /// record says [`CommandRecord::from_cache`]. The server calls it for a
    /// `304` whose data it filled in from [`Store::cached_instance`].
    fn record_cached_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Keeps, per device and MO instance (MOID + MIID), the data of the
    /// last GET of the instance's root the device answered with a cache
    /// validator (docs/protocol.md section 8), replacing what was kept for
    /// that instance. A store may bound what it keeps per device (in number
    /// and bytes, forgetting the least recently received first; see
    /// [`Retention`] for the embedded store); an instance it cannot keep is
    /// forgotten, never left with older data.
    fn record_cached_instances(
        &self,
        dev_id: &DevId,
        instances: Vec<CachedInstance>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The data kept for one MO instance of a device, with the validator
    /// it came with.
    fn cached_instance(
        &self,
        dev_id: &DevId,
        moid: &Moid,
        miid: &Miid,
    ) -> impl Future<Output = Result<Option<CachedInstance>, Error>> + Send;

    /// Appends alerts received from a device. A store may bound what it
    /// keeps per device (in number and bytes, forgetting the oldest first)
    /// and store an oversized alert without its `Data` (see [`Retention`]
    /// for the embedded store).
    fn record_alerts(
        &self,
        dev_id: &DevId,
        alerts: Vec<AlertRecord>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The alerts the store retains for a device, oldest first.
    fn alerts(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<AlertRecord>, Error>> + Send;

    /// Records the start of a session: its summary becomes the device's
    /// latest and `mos`, when given, its MO inventory (a store may keep only
    /// its first entries, see [`Retention`]). Other open sessions
    /// of the device are left alone (a client may deliver an asynchronous
    /// report in a session of its own); they end or expire by themselves.
    fn begin_session(
        &self,
        dev_id: &DevId,
        summary: SessionSummary,
        mos: Option<Vec<MosEntry>>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Records a new open session, which joins the device's open sessions
    /// ([`DeviceRecord::open_sessions`]) as the newest, unless `max_open` sessions are open already ([`Error::Busy`]: the
    /// count and the insertion are one step, so concurrent requests cannot
    /// pass the limit together). A token already recorded is
    /// [`Error::SessionExists`].
    fn open_session(
        &self,
        record: SessionRecord,
        max_open: usize,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Saves an open session whose stored version is `expected_version`
    /// ([`Error::SessionVersion`] if it is not, [`Error::SessionNotFound`]
    /// if the session is gone).
    fn save_session(
        &self,
        record: SessionRecord,
        expected_version: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// An open session.
    fn session(
        &self,
        token: SessionToken,
    ) -> impl Future<Output = Result<Option<SessionRecord>, Error>> + Send;

    /// Ends a session: removes its record (if any) and takes it out of the
    /// device's open sessions (the others stay open), completes its summary in
    /// the device's recent sessions (end, packages and outcome from `end`;
    /// CONT sent when the record says so), and marks every command still
    /// `sent` in it `failed`.
    fn end_session(
        &self,
        token: SessionToken,
        dev_id: &DevId,
        end: SessionEnd,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Ends every open session that has expired at `now_ms`
    /// ([`SessionState::is_expired`]: past its deadline) as
    /// [`SessionOutcome::Timeout`] (as [`Store::end_session`] does) and
    /// returns them.
    fn expire_sessions(
        &self,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionRecord>, Error>> + Send;

    /// How many sessions are open.
    fn open_sessions(&self) -> impl Future<Output = Result<usize, Error>> + Send;

    /// Stores a repository object; `true` when the path was new. Replacing an
    /// object of another owner is [`Error::ObjectOwned`], except for the
    /// server, which may replace anything. A store may bound how many objects
    /// a device owns ([`Error::TooManyObjects`] beyond) and their total size
    /// ([`Error::InsufficientStorage`] beyond); a refused write changes
    /// nothing.
    fn put_object(
        &self,
        path: &str,
        object: RepositoryObject,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// How many bytes of repository objects `dev_id` may still store at
    /// `path` (the object it owns there now counts as free, as it would be
    /// replaced), or `None` when the store sets no bound. The server
    /// refuses an upload whose `Content-Length` exceeds it (413) before
    /// reading the body; [`Store::put_object`] still has the last word.
    /// The default bounds nothing.
    fn repository_room(
        &self,
        dev_id: &DevId,
        path: &str,
    ) -> impl Future<Output = Result<Option<usize>, Error>> + Send {
        let _ = (dev_id, path);
        async { Ok(None) }
    }

    /// A repository object.
    fn object(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Option<RepositoryObject>, Error>> + Send;

    /// Removes a repository object; `false` if there was none.
    fn delete_object(&self, path: &str) -> impl Future<Output = Result<bool, Error>> + Send;

    /// The server's secret key (32 bytes, created on first use and then
    /// always the same): Digest nonces are authenticated with it, so every
    /// node sharing the store accepts the nonces of the others.
    fn server_key(&self) -> impl Future<Output = Result<[u8; 32], Error>> + Send;

    /// Makes everything stored so far durable (a no-op for stores that
    /// always are). The server calls it periodically and at shutdown.
    fn flush(&self) -> impl Future<Output = Result<(), Error>> + Send;

    /// Records that a device authenticated with a Digest `nonce` (issued at
    /// `issued_ms`, Unix milliseconds) and nonce count `nc`, and says whether
    /// that use is new: `true` when `nc` is greater than every count the
    /// device used with this nonce before; `false` for a count already
    /// used (a replayed request), and for a nonce whose counts the store no
    /// longer knows (it may keep only the device's most recent nonces, and
    /// then refuses every nonce issued no later than one it forgot, and
    /// every nonce issued before it was loaded). The server answers `false`
    /// with a fresh challenge (`stale=true`).
    fn use_digest_nonce(
        &self,
        dev_id: &DevId,
        nonce: &str,
        issued_ms: u64,
        nc: u32,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
}

/// A shared store is a store: several servers (or a server and the
/// application) can hold the same one.
impl<T: Store> Store for std::sync::Arc<T> {
    fn register_device(
        &self,
        registration: DeviceRegistration,
        replace: bool,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).register_device(registration, replace, now_ms)
    }

    fn remove_device(&self, dev_id: &DevId) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).remove_device(dev_id)
    }

    fn device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<DeviceRecord>, Error>> + Send {
        (**self).device(dev_id)
    }

    fn devices(
        &self,
        after: Option<&DevId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DeviceRecord>, Error>> + Send {
        (**self).devices(after, limit)
    }

    fn device_count(&self) -> impl Future<Output = Result<usize, Error>> + Send {
        (**self).device_count()
    }

    fn credentials_by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<(DevId, PasswordCredentials)>, Error>> + Send {
        (**self).credentials_by_username(username)
    }

    fn device_by_certificate(
        &self,
        sha256: &[u8; 32],
    ) -> impl Future<Output = Result<Option<DevId>, Error>> + Send {
        (**self).device_by_certificate(sha256)
    }

    fn set_notification_address(
        &self,
        dev_id: &DevId,
        address: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).set_notification_address(dev_id, address)
    }

    fn next_notification_id(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<u16, Error>> + Send {
        (**self).next_notification_id(dev_id)
    }

    fn enqueue_command(
        &self,
        dev_id: &DevId,
        command: Command,
        now_ms: u64,
    ) -> impl Future<Output = Result<CommandId, Error>> + Send {
        (**self).enqueue_command(dev_id, command, now_ms)
    }

    fn command(
        &self,
        id: CommandId,
    ) -> impl Future<Output = Result<Option<CommandRecord>, Error>> + Send {
        (**self).command(id)
    }

    fn commands(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<CommandRecord>, Error>> + Send {
        (**self).commands(dev_id)
    }

    fn claim_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        max: usize,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<(CommandId, Command)>, Error>> + Send {
        (**self).claim_commands(dev_id, session, max, now_ms)
    }

    fn release_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        ids: Vec<CommandId>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).release_commands(dev_id, session, ids, now_ms)
    }

    fn record_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).record_result(id, session, result, now_ms)
    }

    fn record_cached_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).record_cached_result(id, session, result, now_ms)
    }

    fn record_cached_instances(
        &self,
        dev_id: &DevId,
        instances: Vec<CachedInstance>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).record_cached_instances(dev_id, instances)
    }

    fn cached_instance(
        &self,
        dev_id: &DevId,
        moid: &Moid,
        miid: &Miid,
    ) -> impl Future<Output = Result<Option<CachedInstance>, Error>> + Send {
        (**self).cached_instance(dev_id, moid, miid)
    }

    fn record_alerts(
        &self,
        dev_id: &DevId,
        alerts: Vec<AlertRecord>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).record_alerts(dev_id, alerts)
    }

    fn alerts(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<AlertRecord>, Error>> + Send {
        (**self).alerts(dev_id)
    }

    fn begin_session(
        &self,
        dev_id: &DevId,
        summary: SessionSummary,
        mos: Option<Vec<MosEntry>>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).begin_session(dev_id, summary, mos, now_ms)
    }

    fn open_session(
        &self,
        record: SessionRecord,
        max_open: usize,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).open_session(record, max_open)
    }

    fn save_session(
        &self,
        record: SessionRecord,
        expected_version: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).save_session(record, expected_version)
    }

    fn session(
        &self,
        token: SessionToken,
    ) -> impl Future<Output = Result<Option<SessionRecord>, Error>> + Send {
        (**self).session(token)
    }

    fn end_session(
        &self,
        token: SessionToken,
        dev_id: &DevId,
        end: SessionEnd,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).end_session(token, dev_id, end)
    }

    fn expire_sessions(
        &self,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionRecord>, Error>> + Send {
        (**self).expire_sessions(now_ms)
    }

    fn open_sessions(&self) -> impl Future<Output = Result<usize, Error>> + Send {
        (**self).open_sessions()
    }

    fn put_object(
        &self,
        path: &str,
        object: RepositoryObject,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).put_object(path, object)
    }

    fn repository_room(
        &self,
        dev_id: &DevId,
        path: &str,
    ) -> impl Future<Output = Result<Option<usize>, Error>> + Send {
        (**self).repository_room(dev_id, path)
    }

    fn object(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Option<RepositoryObject>, Error>> + Send {
        (**self).object(path)
    }

    fn delete_object(&self, path: &str) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).delete_object(path)
    }

    fn server_key(&self) -> impl Future<Output = Result<[u8; 32], Error>> + Send {
        (**self).server_key()
    }

    fn flush(&self) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).flush()
    }

    fn use_digest_nonce(
        &self,
        dev_id: &DevId,
        nonce: &str,
        issued_ms: u64,
        nc: u32,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).use_digest_nonce(dev_id, nonce, issued_ms, nc)
    }
}
