//! The one error type of `dm-server`.

use std::path::PathBuf;

use dm_types::{DevId, StatusCode};

/// What went wrong in the server, its store, its configuration or the admin
/// operations. [`Error::status`] gives the status the admin API answers
/// with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The options or the configuration file are not usable (500).
    #[error("invalid configuration: {setting}: {problem}")]
    Config {
        /// The setting (or the configuration file) at fault.
        setting: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store file can be read or written by group or others (Unix
    /// permission bits `0o066`): it holds Digest H(A1) values, the nonce
    /// key and notification secrets, so
    /// [`SqliteStore::open_file`](crate::SqliteStore::open_file) refuses it
    /// (see
    /// [`SqliteStore::open_file_allowing_shared_permissions`](crate::SqliteStore::open_file_allowing_shared_permissions)).
    /// The file is left as it is.
    #[error(
        "store file {} has mode {mode:04o}: group or others can read or write it, and it holds \
         password hashes and secrets; run `chmod 600 {}` (or allow shared permissions explicitly)",
        path.display(),
        path.display()
    )]
    FilePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A network operation failed (binding, accepting, sending).
    #[error("network: {0}")]
    Network(#[from] std::io::Error),
    /// The TLS configuration is not usable (500).
    #[error("TLS: {part}: {problem}")]
    Tls {
        /// What is unusable: the certificate chain, the private key, the
        /// client CA, the protocol versions.
        part: &'static str,
        /// Why.
        problem: String,
    },
    /// The store failed: a backend error, a corrupt file (500).
    #[error("store: {operation}: {problem}")]
    Store {
        /// What the store was doing.
        operation: String,
        /// Why it failed.
        problem: String,
    },
    /// The store's database cannot be reached, or lost its connection
    /// (503 with `Retry-After`: the request may be repeated once it is
    /// back). `database` names the database (host and port, or file),
    /// never its credentials.
    #[error("store: cannot reach the database at {database}: {problem}")]
    StoreUnavailable {
        /// Where the database is.
        database: String,
        /// Why it cannot be reached.
        problem: String,
    },
    /// The store's schema is newer than this program knows: a newer
    /// version of the server migrated it (500). Run that version, or
    /// restore a backup made before the upgrade.
    #[error(
        "store: the database schema is version {found}, newer than the version {supported} this          program knows; run a server at least as new as the one that migrated it"
    )]
    SchemaTooNew {
        /// The schema version found in the database.
        found: u32,
        /// The newest version this program knows.
        supported: u32,
    },
    /// The device is registered already (409).
    #[error("conflict: device {0} is registered")]
    DeviceExists(DevId),
    /// The user name is registered for another device (409).
    #[error("conflict: user name {username:?} belongs to device {owner}")]
    UsernameTaken {
        /// The user name.
        username: String,
        /// The device it belongs to.
        owner: DevId,
    },
    /// The client certificate is registered for another device (409).
    #[error("conflict: the certificate belongs to device {owner}")]
    CertificateTaken {
        /// The device it belongs to.
        owner: DevId,
    },
    /// The PSK identity is registered for another device (409).
    #[error("conflict: the PSK identity {identity:?} belongs to device {owner}")]
    PskIdentityTaken {
        /// The identity.
        identity: String,
        /// The device it belongs to.
        owner: DevId,
    },
    /// A PSK identity or key is not usable (400). The problem never quotes
    /// the key.
    #[error("invalid PSK credentials: {problem}")]
    InvalidPsk {
        /// What is wrong.
        problem: String,
    },
    /// A session with this token is recorded already (409). Sessions are
    /// named by their public id (`SessionToken::public_id`), never by the
    /// token, which is the secret of the session URI.
    #[error("conflict: session {0} exists")]
    SessionExists(String),
    /// Another request saved the session first: its stored version is not
    /// the one expected (409).
    #[error("conflict: session {session} was saved by another request")]
    SessionVersion {
        /// The session's public id.
        session: String,
        /// The version the save expected.
        expected: u64,
    },
    /// A notification needs the device's address, which it has not
    /// announced (409).
    #[error("conflict: device {0} has no notification address (it announces one in Package#1)")]
    NoNotificationAddress(DevId),
    /// The device is not registered (404).
    #[error("device {0} not found")]
    DeviceNotFound(DevId),
    /// The session is not open (404); named by its public id.
    #[error("session {0} not found")]
    SessionNotFound(String),
    /// The device has no such command (404).
    #[error("command {id} of device {dev_id} not found")]
    CommandNotFound {
        /// The command's id.
        id: u64,
        /// The device asked about.
        dev_id: DevId,
    },
    /// The repository object belongs to another owner, who alone (with the
    /// server) may replace it (403).
    #[error("forbidden: repository object {path} belongs to someone else")]
    ObjectOwned {
        /// The object's path.
        path: String,
    },
    /// The device owns as many repository objects as the store allows
    /// (403).
    #[error("forbidden: device {dev_id} owns {objects} repository objects, the most allowed")]
    TooManyObjects {
        /// The device.
        dev_id: DevId,
        /// The objects it owns.
        objects: u32,
    },
    /// Storing this would exceed what the store allows the device to keep
    /// (its repository byte budget, [`crate::Retention::repository_bytes`]
    /// for the embedded store): HTTP 507 Insufficient Storage.
    #[error(
        "insufficient storage: device {dev_id} would own {bytes} bytes of repository objects, \
         more than the {allowed} allowed"
    )]
    InsufficientStorage {
        /// The device.
        dev_id: DevId,
        /// The bytes it would own.
        bytes: usize,
        /// The bytes it may own.
        allowed: usize,
    },
    /// The server has as many sessions open as it allows: HTTP 503, try
    /// later.
    #[error("busy: {open_sessions} sessions are open, the most allowed")]
    Busy {
        /// The sessions open.
        open_sessions: usize,
    },
    /// A command id is not a number (400).
    #[error("invalid request: command id {0:?} is not a number")]
    InvalidCommandId(String),
    /// A session token is not 32 hex digits (400).
    #[error("invalid request: session token {0:?} is not 32 hex digits")]
    InvalidSessionToken(String),
    /// A command given to queue does not parse, or would not be valid in
    /// the Package#2 that carries it (400).
    #[error("invalid request: {problem}")]
    InvalidCommand {
        /// What is wrong with it.
        problem: String,
    },
    /// A member of an admin request body is missing or of the wrong type
    /// (400).
    #[error("invalid request: {member:?} must be {expected}")]
    InvalidMember {
        /// The member.
        member: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A repository path is empty, too long, or has control characters or
    /// empty, `.` or `..` segments (400).
    #[error("invalid request: invalid repository path {0:?}")]
    InvalidPath(String),
    /// An artifact id, group id, tag or campaign id breaks its rules (400).
    #[error("invalid request: {what} {name:?} must be 1 to 64 of A-Z a-z 0-9 . _ -")]
    InvalidName {
        /// What the name names.
        what: &'static str,
        /// The name given (cut after 65 characters).
        name: String,
    },
    /// An API key text or id that breaks its rules (400); the message
    /// never repeats the text.
    #[error("invalid request: API key: {problem}")]
    InvalidApiKey {
        /// What is wrong.
        problem: &'static str,
    },
    /// A scope other than `read`, `operator` and `admin` (400).
    #[error("invalid request: scope {0:?} is not read, operator or admin")]
    InvalidScope(String),
    /// No artifact has this id (404).
    #[error("no artifact {0}")]
    ArtifactNotFound(crate::ArtifactId),
    /// An unfinished campaign uses the artifact: it cannot be replaced or
    /// removed (409).
    #[error("artifact {0} is used by an unfinished campaign")]
    ArtifactInUse(crate::ArtifactId),
    /// An artifact's content does not match what was declared of it: its
    /// length or SHA-256 differ (400).
    #[error("invalid request: artifact content does not match: {problem}")]
    ArtifactMismatch {
        /// What differs.
        problem: String,
    },
    /// No group has this id (404).
    #[error("no group {0}")]
    GroupNotFound(crate::GroupId),
    /// An unfinished campaign targets the group: it cannot be removed (409).
    #[error("group {0} is targeted by an unfinished campaign")]
    GroupInUse(crate::GroupId),
    /// No campaign has this id (404).
    #[error("no campaign {0}")]
    CampaignNotFound(crate::CampaignId),
    /// Another change of the campaign came first: its stored version is not
    /// the one expected (409).
    #[error("conflict: campaign {campaign} was changed meanwhile (expected version {expected})")]
    CampaignVersion {
        /// The campaign.
        campaign: crate::CampaignId,
        /// The version the change expected.
        expected: u64,
    },
    /// The campaign's status does not allow this (409): resuming a
    /// cancelled campaign, approving one that waits for nothing.
    #[error("conflict: campaign {campaign}: {problem}")]
    CampaignState {
        /// The campaign.
        campaign: crate::CampaignId,
        /// Why not.
        problem: String,
    },
    /// A notification address is not `scheme://...` (400).
    #[error("invalid request: notification address {0:?} is not scheme://...")]
    InvalidNotificationAddress(String),
    /// END or CONT queued by hand: the server sends them itself (422).
    #[error("{name} is the server's own command and cannot be queued")]
    ServerCommand {
        /// The command's name.
        name: &'static str,
    },
    /// Caching asked for a command other than GET (422).
    #[error("caching applies to GET, not {name}")]
    NotCacheable {
        /// The command's name.
        name: &'static str,
    },
    /// A notification for a device without notification credentials (422).
    #[error("device {0} has no notification secret")]
    NoNotificationSecret(DevId),
    /// A Package#0 could not be delivered.
    #[error("notification delivery to {address}: {message}")]
    Delivery {
        /// The device's notification address.
        address: String,
        /// Why.
        message: String,
    },
    /// A package or wire format error.
    #[error(transparent)]
    Codec(#[from] dm_codec::Error),
    /// A protocol value was invalid.
    #[error(transparent)]
    Types(#[from] dm_types::Error),
    /// A campaign that cannot be created as asked (400): no stage, a
    /// threshold over 100, a maintenance window minute past the day.
    #[error("invalid campaign: {problem}")]
    InvalidCampaign {
        /// What is wrong.
        problem: String,
    },
    /// A webhook that cannot be created as asked (400): a URL that is not
    /// http or https, an empty secret, an unknown kind.
    #[error("invalid webhook: {problem}")]
    InvalidWebhook {
        /// What is wrong.
        problem: String,
    },
    /// No webhook has this id (404).
    #[error("no webhook {0}")]
    WebhookNotFound(crate::WebhookId),
    /// An event stream request that cannot be served (400): an unknown
    /// kind, a DevID or event id that does not parse.
    #[error("invalid event request: {problem}")]
    InvalidEventRequest {
        /// What is wrong.
        problem: String,
    },
}

impl From<crate::store::InvalidName> for Error {
    fn from(e: crate::store::InvalidName) -> Error {
        Error::InvalidName {
            what: e.what,
            name: e.name,
        }
    }
}

impl Error {
    /// The status the admin API answers this error with (an HTTP status).
    ///
    /// ```
    /// use dm_server::Error;
    /// use dm_types::{DevId, StatusCode};
    ///
    /// let dev_id = DevId::new("IMEI:1")?;
    /// assert_eq!(Error::DeviceNotFound(dev_id.clone()).status(), StatusCode::NOT_FOUND);
    /// assert_eq!(Error::DeviceExists(dev_id).status(), StatusCode::CONFLICT);
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidCommandId(_)
            | Error::InvalidSessionToken(_)
            | Error::InvalidCommand { .. }
            | Error::InvalidMember { .. }
            | Error::InvalidPath(_)
            | Error::InvalidName { .. }
            | Error::ArtifactMismatch { .. }
            | Error::InvalidNotificationAddress(_)
            | Error::InvalidPsk { .. }
            | Error::InvalidCampaign { .. }
            | Error::InvalidApiKey { .. }
            | Error::InvalidScope(_)
            | Error::InvalidWebhook { .. }
            | Error::InvalidEventRequest { .. }
            | Error::Types(_) => StatusCode::BAD_REQUEST,
            Error::Codec(e) => e.status(),
            Error::ObjectOwned { .. } | Error::TooManyObjects { .. } => StatusCode::FORBIDDEN,
            Error::DeviceNotFound(_)
            | Error::SessionNotFound(_)
            | Error::CommandNotFound { .. }
            | Error::ArtifactNotFound(_)
            | Error::GroupNotFound(_)
            | Error::CampaignNotFound(_)
            | Error::WebhookNotFound(_) => StatusCode::NOT_FOUND,
            Error::DeviceExists(_)
            | Error::UsernameTaken { .. }
            | Error::CertificateTaken { .. }
            | Error::PskIdentityTaken { .. }
            | Error::SessionExists(_)
            | Error::SessionVersion { .. }
            | Error::CampaignVersion { .. }
            | Error::CampaignState { .. }
            | Error::ArtifactInUse(_)
            | Error::GroupInUse(_)
            | Error::NoNotificationAddress(_) => StatusCode::CONFLICT,
            Error::ServerCommand { .. }
            | Error::NotCacheable { .. }
            | Error::NoNotificationSecret(_) => StatusCode::UNPROCESSABLE_CONTENT,
            Error::Delivery { .. } => StatusCode::BAD_GATEWAY,
            Error::Busy { .. } | Error::StoreUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::InsufficientStorage { .. } => StatusCode::INSUFFICIENT_STORAGE,
            Error::Config { .. }
            | Error::File { .. }
            | Error::FilePermissions { .. }
            | Error::Network(_)
            | Error::Tls { .. }
            | Error::Store { .. }
            | Error::SchemaTooNew { .. } => StatusCode::INTERNAL_ERROR,
        }
    }

    /// A configuration error.
    pub(crate) fn config(setting: impl Into<String>, problem: impl std::fmt::Display) -> Error {
        Error::Config {
            setting: setting.into(),
            problem: problem.to_string(),
        }
    }

    /// A store failure.
    pub(crate) fn store(operation: impl Into<String>, problem: impl std::fmt::Display) -> Error {
        Error::Store {
            operation: operation.into(),
            problem: problem.to_string(),
        }
    }
}
