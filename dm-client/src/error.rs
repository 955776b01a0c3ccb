//! The one error type of `dm-client`.

use std::path::PathBuf;

use dm_types::{AlertType, ClientUri, Moid, ServerId, StatusCode};

/// Why a client operation failed.
///
/// Protocol outcomes are not errors: a session the server aborted or that
/// failed on the network ends with [`ClientEnd::Aborted`](crate::ClientEnd)
/// in its [`SessionReport`](crate::SessionReport), and an ignored
/// notification is a [`NotificationOutcome::Ignored`](crate::NotificationOutcome).
///
/// ```
/// use dm_client::Error;
/// use dm_types::ServerId;
///
/// let err = Error::UnknownServer(ServerId::new("dm.example")?);
/// assert_eq!(err.to_string(), "no DMAcc account for server dm.example");
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No DMAcc instance of the tree has this `SrvID`.
    #[error("no DMAcc account for server {0}")]
    UnknownServer(ServerId),
    /// The client configuration is incomplete or inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// TLS material (CA, client certificate or key) could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
    /// The tree refused an operation of the device itself.
    #[error("management tree: {0}")]
    Tree(#[from] dm_tree::Error),
    /// The state file could not be read or written; the file on disk is
    /// unchanged.
    #[error("state file {}: {source}", path.display())]
    StateIo {
        /// The state file.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The state file exists but is not a valid state (corrupt, truncated,
    /// another format or version).
    #[error("state file {}: {reason}", path.display())]
    StateCorrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong, and where.
        reason: String,
    },
    /// The state file can be read or written by group or others (Unix
    /// permission bits `0o066`): it holds the account secrets
    /// (`Auth/*/Secret`, `Auth/Noti/Secret`), so the client refuses to
    /// start on it unless
    /// [`DmClientBuilder::allow_shared_permissions`](crate::DmClientBuilder::allow_shared_permissions)
    /// says otherwise. The file is left as it is.
    #[error(
        "state file {} has mode {mode:04o}: group or others can read or write it, and it holds \
         the account secrets; run `chmod 600 {}` (or allow shared permissions explicitly)",
        path.display(),
        path.display()
    )]
    StatePermissions {
        /// The state file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// [`DmClient::exec_finished`](crate::DmClient::exec_finished) named a
    /// node with no asynchronous EXEC running.
    #[error("no asynchronous EXEC is running on {0}")]
    NoRunningExec(ClientUri),
    /// [`DmClient::raise_alert`](crate::DmClient::raise_alert) was given a
    /// session-start alert (`ClientInitiatedMgmt`, `ServerInitiatedMgmt`,
    /// `BootstrapComplete`): the client sends those itself, and the same
    /// type twice in one Package#1 makes the server refuse the session.
    #[error("{0} is a session-start alert type: the client sends it itself")]
    SessionStartAlert(AlertType),
    /// An alert the product raised does not decode back under the default
    /// [`Limits`](dm_codec::Limits) (e.g. `Data` nested deeper than the
    /// depth limit): it could be neither kept in the state file nor read
    /// by a server, so it is refused at once.
    #[error("the alert cannot be delivered: {0}")]
    InvalidAlert(String),
    /// The client an [`AlertSender`](crate::AlertSender) belongs to no
    /// longer exists.
    #[error("the client is gone")]
    ClientGone,
    /// No server sent DEFAULT for this MOID, so its configuration cannot be
    /// fetched.
    #[error("no DEFAULT ServerURI is stored for {0}")]
    NoDefault(Moid),
    /// The DEFAULT fetch failed with this status (`502` for an unreachable
    /// repository or a non-2xx answer, `415`/`400` for a body that is not MO
    /// serialization, or the tree's refusal).
    #[error("DEFAULT fetch of {moid} failed with status {}", status.as_u16())]
    DefaultFetch {
        /// The MO type.
        moid: Moid,
        /// The status of the HGET procedure.
        status: StatusCode,
    },
}
