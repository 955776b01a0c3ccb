//! The one error type of `dm-session`.

/// Why a package was refused or a session ended abnormally. Each variant maps
/// to the HTTP status the server answers with ([`Error::http_status`]),
/// following docs/protocol.md section 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not a valid package (400).
    #[error("invalid package: {0}")]
    Package(#[from] dm_codec::Error),
    /// A session rule is broken: no or several session-start alerts, a
    /// status count that differs from the command count, a missing
    /// `OMADM-DevID` (400).
    #[error("{0}")]
    Protocol(String),
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
    /// A challenge or credentials of HTTP authentication were refused
    /// (401).
    #[error(transparent)]
    HttpAuth(#[from] crate::http_auth::HttpAuthError),

    // Client side (`ClientSession`).
    /// An answer (or failure) was fed to a client session for a request
    /// whose answer it does not wait for: unknown, already answered (a
    /// stale or repeated answer), or of a session that ended. The answer is
    /// ignored (409: it conflicts with the state of the session).
    #[error("the session waits for no answer to request {0:?}")]
    NotAwaited(crate::RequestId),
}

impl Error {
    /// The HTTP status that answers the package.
    ///
    /// ```
    /// use dm_session::Error;
    ///
    /// assert_eq!(Error::NotWaiting.http_status(), 404);
    /// assert_eq!(Error::Protocol("no session-start alert".into()).http_status(), 400);
    /// ```
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Package(e) => e.status().as_u16(),
            Error::Protocol(_) => 400,
            Error::WrongDevice { .. } => 403,
            Error::ContentType { .. } => 415,
            Error::NotWaiting => 404,
            Error::HttpAuth(e) => e.status().as_u16(),
            // Client side.
            Error::NotAwaited(_) => 409,
        }
    }
}
