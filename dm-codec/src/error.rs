//! The one error type of `dm-codec`.

use dm_types::StatusCode;

/// Why bytes could not be decoded (or a value encoded).
///
/// Every variant says where the problem is: a byte offset, and for JSON a path
/// such as `$.CMD[3][1]`. [`Error::status`] maps it to the status code (or
/// HTTP status) that reports it: `413` for a limit, `400` otherwise.
///
/// ```
/// use dm_codec::{decode_package2, Limits};
///
/// let err = decode_package2(br#"{"CMD":[["END"]]} x"#, &Limits::default()).unwrap_err();
/// assert_eq!(err.status().as_u16(), 400);
/// assert_eq!(err.offset(), Some(18));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is larger than the limit for its kind; nothing was parsed.
    #[error("{what} of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// The input size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A limit (nesting depth, command count, string or URI length) was hit
    /// while decoding.
    #[error("{what} limit of {limit} exceeded at {path} (byte {offset})")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: usize,
        /// JSON path of the value that hit it.
        path: String,
        /// Byte offset where decoding stopped.
        offset: usize,
    },
    /// The input is not valid UTF-8 (or starts with a byte order mark).
    #[error("invalid UTF-8 at byte {offset}")]
    Utf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The input is not well-formed JSON.
    #[error("malformed JSON at byte {offset}: {message}")]
    Syntax {
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// Well-formed JSON that breaks the structure of the document.
    #[error("{message} at {path} (byte {offset})")]
    Invalid {
        /// JSON path of the offending value (`$` is the document).
        path: String,
        /// Byte offset where decoding stopped.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// A malformed Package#0 notification.
    #[error("invalid notification at byte {offset}: {reason}")]
    Notification {
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A malformed `Accept` or `OMADM-Accept` header.
    #[error("invalid media type list at byte {offset}: {reason}")]
    MediaType {
        /// Byte offset in the header value.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Error {
    /// The status that reports this error: `413 Payload Too Large` for
    /// [`Error::TooLarge`] and [`Error::Limit`], `400 Bad Request` otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::TooLarge { .. } | Error::Limit { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The byte offset of the problem, when there is one.
    pub fn offset(&self) -> Option<usize> {
        match self {
            Error::Limit { offset, .. }
            | Error::Utf8 { offset }
            | Error::Syntax { offset, .. }
            | Error::Invalid { offset, .. }
            | Error::Notification { offset, .. }
            | Error::MediaType { offset, .. } => Some(*offset),
            Error::TooLarge { .. } => None,
        }
    }
}
