//! The one error type of `dm-types`.

/// Why a value could not be built: a malformed identifier, ClientURI, ServerURI,
/// status code, command or package.
///
/// Every variant says what was wrong and where (a byte offset into the text that
/// was parsed, or the index of a command parameter). [`Error::status`] gives the
/// status code the protocol uses to report it (defined beside the status
/// codes, in `status.rs`).
///
/// ```
/// use dm_types::{ClientUri, StatusCode};
///
/// let err = ClientUri::parse("urn:oma:mo:moid:1.0/left/a//b").unwrap_err();
/// assert_eq!(err.status(), StatusCode::BAD_REQUEST);
/// assert!(err.to_string().contains("empty segment"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A ClientURI that breaks the grammar of docs/protocol.md section 9.
    #[error("invalid ClientURI at byte {offset}: {reason}")]
    ClientUri {
        /// Byte offset in the ClientURI text where the problem was found.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A MOID that is not a URN of the form `urn:<namespace>:<rest>`.
    #[error("invalid MOID at byte {offset}: {reason}")]
    Moid {
        /// Byte offset in the MOID text.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A ServerURI (or other absolute URI) that is not acceptable.
    #[error("invalid {what} {uri:?}: {reason}")]
    AbsoluteUri {
        /// Which kind of URI was expected (`ServerURI`, `DDF URI`).
        what: &'static str,
        /// The offending text, cut to 200 bytes.
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// An identifier (MIID, node name, DevID, ServerID, alert type, cache
    /// validator) that breaks its rules.
    #[error("invalid {what}: {reason}")]
    Identifier {
        /// Which identifier (`MIID`, `node name`, `DevID`, ...).
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A status code outside 100..=599.
    #[error("status code {0} is outside 100..=599")]
    StatusCode(u32),
    /// A command whose name is not one of the twelve commands of section 4.
    #[error("unknown command {name:?}")]
    UnknownCommand {
        /// The name as received.
        name: String,
    },
    /// A known command with the wrong number of parameters.
    #[error("{command} takes {expected}, got {got} parameter(s)")]
    CommandArity {
        /// The command name.
        command: &'static str,
        /// The accepted counts, in words.
        expected: &'static str,
        /// The number of parameters received.
        got: usize,
    },
    /// A known command with a malformed parameter.
    #[error("{command} parameter {index}: {source}")]
    CommandParameter {
        /// The command name.
        command: &'static str,
        /// 1-based position of the parameter (the command name is 0).
        index: usize,
        /// What is wrong with it.
        source: Box<Error>,
    },
    /// A package that breaks a structural rule (e.g. END not last).
    #[error("invalid package: {0}")]
    Package(&'static str),
    /// A MOData tree that breaks the rules of section 3.4.
    #[error("invalid MOData: {0}")]
    MoData(&'static str),
    /// A leaf value that does not fit its DDF format.
    #[error("value does not fit format {format}: {reason}")]
    Format {
        /// The DDF format name.
        format: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A notification address (or `NotificationAddress` alert) that breaks
    /// the rules of [`NotificationAddress`](crate::NotificationAddress).
    #[error("invalid notification address: {reason}")]
    NotificationAddress {
        /// What is wrong.
        reason: &'static str,
    },
    /// A Package#0 field outside its definition.
    #[error("invalid notification: {0}")]
    Notification(&'static str),
}
