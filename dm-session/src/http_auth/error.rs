//! The one error type of [`http_auth`](super): why a challenge or
//! credentials could not be parsed or answered.

use dm_types::StatusCode;

/// Why a `WWW-Authenticate` challenge or an `Authorization` value was
/// refused, or a challenge could not be answered.
///
/// ```
/// use dm_session::http_auth::{Authorization, HttpAuthError};
/// use dm_types::StatusCode;
///
/// let error = Authorization::parse("Bearer abc").unwrap_err();
/// assert_eq!(error, HttpAuthError::UnknownScheme("Bearer".into()));
/// assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpAuthError {
    /// The `Authorization` value is longer than
    /// [`MAX_AUTHORIZATION_LEN`](super::MAX_AUTHORIZATION_LEN).
    #[error("the Authorization value has {length} bytes, more than {limit}")]
    TooLong {
        /// Bytes of the value.
        length: usize,
        /// Bytes allowed.
        limit: usize,
    },
    /// The `Authorization` value is not ASCII.
    #[error("the Authorization value is not ASCII")]
    NotAscii,
    /// The auth-scheme is neither `Basic` nor `Digest`.
    #[error("authentication scheme {0:?} is neither Basic nor Digest")]
    UnknownScheme(String),
    /// The Basic credentials are not base64.
    #[error("Basic credentials are not base64")]
    BasicNotBase64,
    /// The decoded Basic credentials are not UTF-8.
    #[error("Basic credentials are not UTF-8")]
    BasicNotUtf8,
    /// The decoded Basic credentials have no `:` between user-id and
    /// password.
    #[error("Basic credentials without ':'")]
    BasicWithoutColon,
    /// The auth-params break the RFC 9110 syntax at this byte offset.
    #[error("malformed auth-params at byte {offset}")]
    MalformedParams {
        /// Byte offset of the first character that does not fit.
        offset: usize,
    },
    /// An auth-param appears twice.
    #[error("auth-param {0:?} appears twice")]
    RepeatedParam(String),
    /// A parameter the challenge or the credentials need is missing.
    #[error("Digest parameter {0} is missing")]
    MissingParam(&'static str),
    /// The Digest `algorithm` is not one of RFC 7616.
    #[error("Digest algorithm {0:?} is unknown")]
    UnknownAlgorithm(String),
    /// The Digest `qop` is not `auth` (the only one this module answers
    /// and checks: `auth-int` would sign the body).
    #[error("Digest qop {0:?} is not auth")]
    UnsupportedQop(String),
    /// The challenge names a `charset` other than `UTF-8`.
    #[error("Digest charset {0:?} is not UTF-8")]
    UnsupportedCharset(String),
    /// The Digest `nc` is not eight lowercase hexadecimal digits.
    #[error("Digest nc {0:?} is not eight lowercase hexadecimal digits")]
    MalformedNonceCount(String),
    /// The Digest `cnonce` is empty.
    #[error("Digest cnonce is empty")]
    EmptyClientNonce,
    /// `qop` without `nc` and `cnonce`, or these without `qop`.
    #[error("Digest qop, nc and cnonce must come together")]
    IncompleteQop,
    /// The nonce was answered 2^32 - 1 times: its nonce count is used up.
    #[error("the nonce count of the challenge is used up")]
    NonceCountExhausted,
}

impl HttpAuthError {
    /// The status of a request refused for this reason: always `401`
    /// (answered with fresh challenges).
    pub fn status(&self) -> StatusCode {
        StatusCode::UNAUTHORIZED
    }
}
