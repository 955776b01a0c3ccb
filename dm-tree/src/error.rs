//! The one error type of `dm-tree`.

use dm_types::StatusCode;

/// Why a tree operation failed. Each variant maps to one status code
/// ([`Error::status`]).
///
/// ```
/// use dm_tree::Error;
///
/// assert_eq!(Error::NotFound.status().as_u16(), 404);
/// assert_eq!(Error::Ambiguous { instances: 2 }.status().as_u16(), 409);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ClientURI designates no node (404).
    #[error("the ClientURI designates no node")]
    NotFound,
    /// An empty instance part with several instances of the MOID (409).
    #[error("the empty instance part is ambiguous: {instances} instances of this MOID")]
    Ambiguous {
        /// How many instances there are.
        instances: usize,
    },
    /// Data that cannot be taken (400): MO data that cannot be stored
    /// where it was sent, a ClientURI or name that is not valid there, a
    /// malformed DMAcc, ACL, rights text or snapshot.
    #[error("invalid MO data: {at}: {reason}")]
    InvalidData {
        /// Where: the ClientURI, or the DMAcc, ACL, rights text or snapshot
        /// concerned.
        at: String,
        /// What is wrong there.
        reason: String,
    },
    /// The instance already exists (405: a second instance of a MOID that
    /// allows one, or a MIID in use).
    #[error("the MO instance already exists")]
    InstanceExists,
    /// The instance is visible but the command needs a right the server
    /// lacks (403).
    #[error("{principal} lacks the {right} right on {uri}")]
    Forbidden {
        /// Who asked.
        principal: String,
        /// The missing right.
        right: &'static str,
        /// The node concerned.
        uri: String,
    },
    /// The node does not allow the operation: a permanent node, a DDF
    /// AccessType without it, a secret node (405).
    #[error("{uri}: {reason}")]
    NotAllowed {
        /// The node concerned.
        uri: String,
        /// Why.
        reason: &'static str,
    },
    /// The command would make the device keep more than a [`TreeLimits`]
    /// bound allows (413).
    ///
    /// [`TreeLimits`]: crate::TreeLimits
    #[error("{what} would exceed the device's limit of {limit}")]
    Full {
        /// What is limited.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

impl Error {
    /// [`Error::InvalidData`] at `at` for `reason`.
    pub(crate) fn invalid_data(at: impl std::fmt::Display, reason: impl Into<String>) -> Error {
        Error::InvalidData {
            at: at.to_string(),
            reason: reason.into(),
        }
    }

    /// The status code that reports this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Ambiguous { .. } => StatusCode::CONFLICT,
            Error::InvalidData { .. } => StatusCode::BAD_REQUEST,
            Error::InstanceExists | Error::NotAllowed { .. } => StatusCode::COMMAND_NOT_ALLOWED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::Full { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}
