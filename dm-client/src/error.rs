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
    /// [`DmClient::bootstrap`](crate::DmClient::bootstrap) was asked of an
    /// account without `Auth/Bootstrap`.
    #[error("server {0} has no bootstrap account (no Auth/Bootstrap)")]
    NotABootstrapAccount(ServerId),
    /// Two [`Account`](crate::Account)s were given for the same server.
    #[error("configuration: two accounts for server {0}")]
    DuplicateAccount(ServerId),
    /// [`DmClient::set_local`](crate::DmClient::set_local) was given a
    /// ClientURI that does not name a node below an instance root by an
    /// absolute path.
    #[error("{0}: set_local needs an absolute ClientURI of a node below the instance root")]
    NotALeafUri(ClientUri),
    /// TLS material (CA, expected server certificate, client certificate
    /// or key, pre-shared key) or the TLS configuration could not be used.
    #[error("TLS: {material}: {reason}")]
    Tls {
        /// Which material.
        material: TlsMaterial,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[source] reqwest::Error),
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
    InvalidAlert(#[source] dm_codec::Error),
    /// The client an [`AlertSender`](crate::AlertSender) belongs to no
    /// longer exists.
    #[error("the client is gone")]
    ClientGone,
    /// The tree has no FUMO instance
    /// ([`DmClient::install_fumo`](crate::DmClient::install_fumo) creates it).
    #[error("the device has no FUMO instance")]
    NoFumoInstance,
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

impl Error {
    /// The status code the error stands for: the one a protocol answer
    /// carries where the error reaches the protocol (a DEFAULT fetch's
    /// HGET status, the tree's refusal, an alert over a decoding limit),
    /// and the nearest one for local failures.
    ///
    /// ```
    /// use dm_client::Error;
    /// use dm_types::{Moid, StatusCode};
    ///
    /// let err = Error::DefaultFetch { moid: Moid::new("urn:x:wlan")?, status: StatusCode::BAD_GATEWAY };
    /// assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Error::UnknownServer(_)
            | Error::NotABootstrapAccount(_)
            | Error::NoRunningExec(_)
            | Error::NoDefault(_)
            | Error::NoFumoInstance => StatusCode::NOT_FOUND,
            Error::DuplicateAccount(_) => StatusCode::CONFLICT,
            Error::NotALeafUri(_) | Error::SessionStartAlert(_) => StatusCode::BAD_REQUEST,
            Error::Tree(e) => e.status(),
            Error::InvalidAlert(e) => e.status(),
            Error::DefaultFetch { status, .. } => *status,
            Error::Tls { .. }
            | Error::Http(_)
            | Error::StateIo { .. }
            | Error::StateCorrupt { .. }
            | Error::StatePermissions { .. }
            | Error::ClientGone => StatusCode::INTERNAL_ERROR,
        }
    }
}

/// The TLS material or setting an [`Error::Tls`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsMaterial {
    /// The CA PEM given to
    /// [`TransportBuilder::ca_pem`](crate::TransportBuilder::ca_pem).
    CaPem,
    /// A CA certificate of that PEM.
    CaCertificate,
    /// The client certificate PEM given to
    /// [`TransportBuilder::client_identity_pem`](crate::TransportBuilder::client_identity_pem).
    ClientCertificatePem,
    /// The client key PEM given with it.
    ClientKeyPem,
    /// The client certificate and key together.
    ClientIdentity,
    /// The platform's trust store.
    PlatformTrustStore,
    /// The TLS protocol versions.
    ProtocolVersions,
    /// The certificate the server must present or that must have issued
    /// its certificate, given to
    /// [`TransportBuilder::server_certificate_der`](crate::TransportBuilder::server_certificate_der).
    ServerCertificate,
    /// A DER client certificate given to
    /// [`TransportBuilder::client_identity_der`](crate::TransportBuilder::client_identity_der)
    /// or [`TransportBuilder::client_identity`](crate::TransportBuilder::client_identity).
    ClientCertificateDer,
    /// The DER client key given with it.
    ClientKeyDer,
    /// The PSK-TLS identity, key or expected identity hint of
    /// [`TransportBuilder::psk`](crate::TransportBuilder::psk) (never
    /// shown in the reason).
    PreSharedKey,
    /// The TLS backend: not built in, or unable to do what is asked.
    Backend,
    /// The cipher suites offered.
    CipherSuites,
}

impl std::fmt::Display for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsMaterial::CaPem => "CA PEM",
            TlsMaterial::CaCertificate => "CA certificate",
            TlsMaterial::ClientCertificatePem => "client certificate PEM",
            TlsMaterial::ClientKeyPem => "client key PEM",
            TlsMaterial::ClientIdentity => "client certificate",
            TlsMaterial::PlatformTrustStore => "platform trust store",
            TlsMaterial::ProtocolVersions => "protocol versions",
            TlsMaterial::ServerCertificate => "expected server certificate",
            TlsMaterial::ClientCertificateDer => "client certificate DER",
            TlsMaterial::ClientKeyDer => "client key DER",
            TlsMaterial::PreSharedKey => "pre-shared key",
            TlsMaterial::Backend => "TLS backend",
            TlsMaterial::CipherSuites => "cipher suites",
        })
    }
}
