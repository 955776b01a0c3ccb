//! How a client session ended: [`ClientEnd`], and for an abort its typed
//! [`AbortReason`] (docs/protocol.md section 2, "What the client does when
//! something goes wrong").

use crate::request::TransportFailure;

/// How a client session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEnd {
    /// The server sent END.
    Completed,
    /// The server answered a package with this HTTP status instead of 200
    /// (after the one answer to a `401` challenge the transport gives):
    /// the session is aborted and never retried (section 2).
    Refused(u16),
    /// The session was aborted; nothing more is sent.
    Aborted(AbortReason),
}

impl std::fmt::Display for ClientEnd {
    /// ```
    /// use dm_session::{AbortReason, ClientEnd};
    ///
    /// assert_eq!(ClientEnd::Refused(413).to_string(), "refused: the server answered HTTP 413");
    /// assert_eq!(ClientEnd::Completed.to_string(), "completed");
    /// assert_eq!(
    ///     ClientEnd::Aborted(AbortReason::TooManyPackages { packages: 3 }).to_string(),
    ///     "aborted: the server sent 3 packages without END"
    /// );
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientEnd::Completed => f.write_str("completed"),
            ClientEnd::Refused(status) => write!(f, "refused: the server answered HTTP {status}"),
            ClientEnd::Aborted(reason) => write!(f, "aborted: {reason}"),
        }
    }
}

/// Why the client engine aborted a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbortReason {
    /// The answer to a package is not a Package#2: its `Content-Type` is
    /// not `application/vnd.oma.dm.request+json`.
    NotAPackage {
        /// The answer's `Content-Type` (`None`: absent).
        content_type: Option<String>,
    },
    /// The body is not a valid Package#2 (section 3.2), or breaks a
    /// decoding limit inside it.
    InvalidPackage(dm_codec::Error),
    /// The Package#2 is longer than
    /// [`Limits::package_bytes`](dm_codec::Limits::package_bytes): the
    /// caller stopped reading it ([`Failure::BodyTooLarge`](crate::Failure::BodyTooLarge)).
    PackageTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The server sent this many Package#2 without END
    /// ([`ClientConfig::packages_per_session`](crate::ClientConfig::packages_per_session)).
    TooManyPackages {
        /// Package#2 received.
        packages: usize,
    },
    /// The session lasted longer than
    /// [`ClientConfig::max_duration`](crate::ClientConfig::max_duration)
    /// ([`ClientSession::handle_timeout`](crate::ClientSession::handle_timeout)).
    SessionTooLong,
    /// No answer came to a package ([`Failure::NoAnswer`](crate::Failure::NoAnswer)).
    NoAnswer {
        /// What kind of network failure.
        kind: TransportFailure,
        /// The failure as the caller described it.
        detail: String,
    },
    /// The caller stopped driving the session before its end
    /// ([`ClientSession::abandon`](crate::ClientSession::abandon)).
    Abandoned,
}

impl std::fmt::Display for AbortReason {
    /// ```
    /// use dm_session::AbortReason;
    ///
    /// assert_eq!(AbortReason::SessionTooLong.to_string(), "the session lasted longer than its limit");
    /// assert_eq!(
    ///     AbortReason::PackageTooLarge { limit: 1024 }.to_string(),
    ///     "invalid Package#2: the body exceeds the limit of 1024 bytes"
    /// );
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AbortReason::NotAPackage { .. } => {
                f.write_str("the answer is not a Package#2 (Content-Type)")
            }
            AbortReason::InvalidPackage(e) => write!(f, "invalid Package#2: {e}"),
            AbortReason::PackageTooLarge { limit } => {
                write!(
                    f,
                    "invalid Package#2: the body exceeds the limit of {limit} bytes"
                )
            }
            AbortReason::TooManyPackages { packages } => {
                write!(f, "the server sent {packages} packages without END")
            }
            AbortReason::SessionTooLong => f.write_str("the session lasted longer than its limit"),
            AbortReason::NoAnswer { detail, .. } => write!(f, "no answer: {detail}"),
            AbortReason::Abandoned => f.write_str("the session stopped before its end"),
        }
    }
}
