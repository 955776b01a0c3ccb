//! The one error type of `dm-session`.

use dm_types::StatusCode;

/// Why a package was refused or a session ended abnormally. Each variant maps
/// to the status the server answers with ([`Error::status`]), following
/// docs/protocol.md section 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not a valid package (400, or 413 when over a limit).
    #[error("invalid package: {0}")]
    Package(#[from] dm_codec::Error),

    // The server side of a session (`ServerSession`).
    /// A Package#1 came without the `OMADM-DevID` header (400).
    #[error("Package#1 without OMADM-DevID")]
    MissingDevId,
    /// The `OMADM-DevID` header is not a valid DevID (400).
    #[error("OMADM-DevID: {0}")]
    InvalidDevId(#[source] dm_types::Error),
    /// The Package#1 has no session-start alert, or several (400).
    #[error("session-start alert: {0}")]
    SessionStart(#[source] dm_types::Error),
    /// A Package#3 holds another number of statuses than the Package#2 it
    /// answers held commands (400).
    #[error("Package#3 holds {statuses} statuses for {commands} commands")]
    StatusCount {
        /// The statuses of the Package#3.
        statuses: usize,
        /// The commands of the Package#2.
        commands: usize,
    },
    /// The `OMADM-DevID` header is not the authenticated device, or not the
    /// session's device (403).
    #[error("OMADM-DevID {got:?} is not {expected:?}")]
    WrongDevice {
        /// The header value.
        got: String,
        /// The device expected.
        expected: String,
    },
    /// The Content-Type is not the one the package needs (415).
    #[error("Content-Type {got:?} is not {expected}")]
    ContentType {
        /// The header value (empty when absent).
        got: String,
        /// The media type expected.
        expected: &'static str,
    },
    /// A package arrived for a session that is not waiting for one, or is
    /// over (404).
    #[error("the session is not waiting for a package")]
    NotWaiting,
    /// The Package#3 arrived after the session's deadline: the session
    /// expired (404).
    #[error("the session expired")]
    Expired,
    /// A challenge or credentials of HTTP authentication were refused
    /// (401).
    #[error(transparent)]
    HttpAuth(#[from] crate::http_auth::HttpAuthError),

    // The server side of a bootstrap session (`bootstrap::BootstrapSession`).
    /// The Package#1 of a bootstrap session started with `BootstrapComplete`,
    /// which opens a session with a management server, not a bootstrap (400).
    #[error("BootstrapComplete does not start a bootstrap session")]
    NotBootstrapStart,
    /// A Package#3 of a bootstrap session answered no bootstrap command
    /// (400).
    #[error("the Package#3 answers no bootstrap command")]
    NoBootstrapStatus,

    // Client side (`ClientSession`).
    /// An answer (or failure) was fed to a client session for a request
    /// whose answer it does not wait for: unknown, already answered (a
    /// stale or repeated answer), or of a session that ended. The answer is
    /// ignored (409: it conflicts with the state of the session).
    #[error("the session waits for no answer to request {0:?}")]
    NotAwaited(crate::RequestId),
}

impl Error {
    /// The status that answers the package (an HTTP status).
    ///
    /// ```
    /// use dm_session::Error;
    /// use dm_types::StatusCode;
    ///
    /// assert_eq!(Error::NotWaiting.status(), StatusCode::NOT_FOUND);
    /// assert_eq!(Error::MissingDevId.status(), StatusCode::BAD_REQUEST);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Package(e) => e.status(),
            Error::MissingDevId
            | Error::InvalidDevId(_)
            | Error::SessionStart(_)
            | Error::StatusCount { .. }
            | Error::NotBootstrapStart
            | Error::NoBootstrapStatus => StatusCode::BAD_REQUEST,
            Error::WrongDevice { .. } => StatusCode::FORBIDDEN,
            Error::ContentType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::NotWaiting | Error::Expired => StatusCode::NOT_FOUND,
            Error::HttpAuth(e) => e.status(),
            // Client side.
            Error::NotAwaited(_) => StatusCode::CONFLICT,
        }
    }
}
