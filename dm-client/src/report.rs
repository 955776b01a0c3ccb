//! What a session did ([`SessionReport`]).

use dm_session::{ClientEnd, ClientEvent, ClientStats};
use dm_types::ServerId;

/// What a session did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionReport {
    /// The server of the session.
    pub server_id: ServerId,
    /// How it ended: [`ClientEnd::Completed`] when the server sent END.
    pub end: ClientEnd,
    /// Package#2 received (answered HTTP 200):
    /// [`ClientStats::packages_received`].
    pub packages: usize,
    /// Commands the server sent (END not counted):
    /// [`ClientStats::commands_received`].
    pub commands: usize,
    /// Events seen, in order: browser launches, DEFAULTs, EXECs started or
    /// finished.
    pub events: Vec<ClientEvent>,
    /// Alerts of this client delivered in Package#1 (asynchronous results,
    /// raised alerts, the notification address) and, when the server ended
    /// the session, in its Package#3 (alerts raised through an
    /// [`AlertSender`](crate::AlertSender) during the session).
    pub alerts_delivered: usize,
    /// Whether the tree changed (and was persisted).
    pub tree_changed: bool,
    /// Everything the session engine counted (packages, commands,
    /// repository requests, change reports, bytes).
    pub stats: ClientStats,
}

impl SessionReport {
    /// Whether the server ended the session with END.
    pub fn completed(&self) -> bool {
        self.end == ClientEnd::Completed
    }
}

impl std::fmt::Display for SessionReport {
    /// `completed (3 commands)`, `refused: the server answered HTTP 413
    /// (2 commands)` or `aborted: <reason> (1 command)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.end)?;
        let plural = if self.commands == 1 { "" } else { "s" };
        write!(f, " ({} command{plural})", self.commands)
    }
}
