//! Status codes (`sc`) of docs/protocol.md section 5 — the single source of truth.

use crate::Error;

/// A command status code: an integer from 100 to 599 with HTTP semantics.
///
/// The codes this protocol defines are associated constants, described by
/// [`StatusCode::TABLE`]; any other code in range is carried as received.
///
/// ```
/// use dm_types::StatusCode;
///
/// let sc = StatusCode::new(409)?;
/// assert_eq!(sc, StatusCode::CONFLICT);
/// assert_eq!(sc.reason(), Some("Conflict"));
/// assert!(StatusCode::new(99).is_err());
/// assert!(StatusCode::OK.is_success());
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(u16);

/// One row of the status table: code, reason phrase, meaning in this protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusInfo {
    /// The code.
    pub code: StatusCode,
    /// The HTTP reason phrase.
    pub reason: &'static str,
    /// What the code means in DM 2.0.
    pub meaning: &'static str,
}

macro_rules! status_table {
    ($( $name:ident = $code:literal, $reason:literal, $meaning:literal; )*) => {
        impl StatusCode {
            $(
                #[doc = concat!("`", stringify!($code), " ", $reason, "`: ", $meaning, ".")]
                pub const $name: StatusCode = StatusCode($code);
            )*

            /// Every status code of docs/protocol.md section 5, in increasing order.
            pub const TABLE: &'static [StatusInfo] = &[
                $( StatusInfo { code: StatusCode($code), reason: $reason, meaning: $meaning }, )*
            ];
        }
    };
}

status_table! {
    OK = 200, "OK", "the command succeeded";
    ACCEPTED = 202, "Accepted", "EXEC runs asynchronously; the result follows as an alert";
    NOT_MODIFIED = 304, "Not Modified", "the cv in the ClientURI still matches; no data returned";
    BAD_REQUEST = 400, "Bad Request", "malformed command, parameters or ClientURI";
    UNAUTHORIZED = 401, "Unauthorized", "authentication required or failed";
    FORBIDDEN = 403, "Forbidden", "the server lacks permission on the MO instance";
    NOT_FOUND = 404, "Not Found", "the ClientURI resolves to nothing; UNSUB without a matching SUB";
    COMMAND_NOT_ALLOWED = 405, "Command Not Allowed", "the node does not allow it (permanent node, DDF AccessType)";
    NOT_ACCEPTABLE = 406, "Not Acceptable", "no common MIME type, or an optional feature not supported";
    CONFLICT = 409, "Conflict", "the ClientURI is ambiguous where exactly one node is required";
    PAYLOAD_TOO_LARGE = 413, "Payload Too Large", "data exceeds the client's limits";
    UNSUPPORTED_MEDIA_TYPE = 415, "Unsupported Media Type", "data in a format the client cannot read";
    INTERNAL_ERROR = 500, "Internal Error", "the command failed on the device";
    NOT_IMPLEMENTED = 501, "Not Implemented", "the client does not support this command";
    BAD_GATEWAY = 502, "Bad Gateway", "the data repository failed (HGET/HPUT/HPOST)";
    SERVICE_UNAVAILABLE = 503, "Service Unavailable", "the client is busy; try later";
}

impl StatusCode {
    /// 422 Unprocessable Content: an HTTP status a server answers (its admin
    /// API), not a command status of section 5.
    pub const UNPROCESSABLE_CONTENT: StatusCode = StatusCode(422);

    /// 507 Insufficient Storage: an HTTP status a server answers (a device
    /// over its repository budget), not a command status of section 5.
    pub const INSUFFICIENT_STORAGE: StatusCode = StatusCode(507);

    /// Wraps a code, which must lie in 100..=599.
    pub fn new(code: u32) -> Result<StatusCode, Error> {
        match u16::try_from(code) {
            Ok(c @ 100..=599) => Ok(StatusCode(c)),
            _ => Err(Error::StatusCode(code)),
        }
    }

    /// The numeric code.
    pub fn as_u16(self) -> u16 {
        self.0
    }

    /// The row of [`StatusCode::TABLE`] for this code, if the protocol defines it.
    pub fn info(self) -> Option<&'static StatusInfo> {
        Self::TABLE
            .binary_search_by_key(&self, |row| row.code)
            .ok()
            .map(|i| &Self::TABLE[i])
    }

    /// The reason phrase, if the protocol defines this code.
    pub fn reason(self) -> Option<&'static str> {
        self.info().map(|row| row.reason)
    }

    /// 2xx.
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }
}

impl std::fmt::Display for StatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reason() {
            Some(reason) => write!(f, "{} {}", self.0, reason),
            None => write!(f, "{}", self.0),
        }
    }
}

impl From<StatusCode> for u16 {
    fn from(sc: StatusCode) -> u16 {
        sc.0
    }
}

impl Error {
    /// The status code that reports this error in a Package#3 or an HTTP answer.
    ///
    /// An unknown command is `501 Not Implemented`; every other malformed value
    /// is `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::UnknownCommand { .. } => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_complete() {
        assert_eq!(StatusCode::TABLE.len(), 16);
        assert!(StatusCode::TABLE.windows(2).all(|w| w[0].code < w[1].code));
        for row in StatusCode::TABLE {
            assert_eq!(row.code.info(), Some(row));
        }
        assert_eq!(StatusCode::new(299).unwrap().reason(), None);
        assert_eq!(StatusCode::new(600), Err(Error::StatusCode(600)));
        assert_eq!(StatusCode::NOT_FOUND.to_string(), "404 Not Found");
    }
}
