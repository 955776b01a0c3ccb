//! Package#0 reception: the outcome of a received notification. The checks
//! themselves (docs/protocol.md sections 3.6 and 12) are
//! [`dm_session::notification::verify`].

pub use dm_session::notification::Ignored;

use crate::{BootstrapReport, SessionReport};

/// What became of a notification.
#[derive(Debug)]
#[non_exhaustive]
pub enum NotificationOutcome {
    /// It was verified and the session it asked for ran.
    Session(SessionReport),
    /// It was verified, its SERVER-ID is a bootstrap account, and the
    /// server-initiated bootstrap it asked for ran (docs/protocol.md
    /// section 11.4).
    Bootstrap(BootstrapReport),
    /// It was ignored, for this reason; nothing was sent.
    Ignored(Ignored),
}
